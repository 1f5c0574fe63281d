/**
 * Hostile input to the console over raw sockets: its static files (`/console/…` with traversals,
 * encoded dots and slashes, overlong UTF-8, NUL, huge paths, odd methods, a symbolic link out of
 * the build) and the calls the console makes to the admin API and the audit log, as a browser on
 * another origin might send them. Oracle: no file outside the build is ever served (a 200 carries
 * exactly a file of the build), the security headers and the strict content security policy on
 * every answer, no CORS opening, errors in the admin format below 500, no secret.
 * CLEARANCE_FUZZ_RUNS sets the number of cases.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTarget, type Target } from "./harness.js";
import {
  BROWSER_HEADERS,
  CONSOLE_CALLS,
  CONSOLE_CALL_PARAMS,
  CONSOLE_METHODS,
  CONSOLE_PREFIXES,
  CONSOLE_SEGMENTS,
  CONSOLE_SEPARATORS,
  CONSOLE_SUFFIXES,
  type HeaderList,
} from "./inputs.js";
import { answerProblems, consoleProblems } from "./oracle.js";
import { rawExchange, type RawAnswer } from "./raw.js";
import { Tally } from "./tally.js";

const RUNS = Number(process.env.CLEARANCE_FUZZ_RUNS ?? 60);
let target: Target;
const files = new Tally("fuzz console files");
const calls = new Tally("fuzz console API calls");

beforeAll(async () => {
  target = await startTarget();
});
afterAll(async () => {
  console.log(files.line({ runs: RUNS }));
  console.log(calls.line({ runs: RUNS }));
  await target?.close();
});

async function exchange(
  method: string,
  path: string,
  headers: HeaderList,
  body = "",
): Promise<RawAnswer | undefined> {
  const bytes = Buffer.from(
    `${method} ${path} HTTP/1.1\r\nhost: x\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join("")}connection: close\r\n\r\n${body}`,
    "latin1",
  );
  const ex = await rawExchange({
    host: target.host,
    port: target.port,
    pieces: [{ bytes }],
    timeoutMs: 8_000,
    head: method.toUpperCase() === "HEAD",
  });
  return ex.answers[0];
}

const arbTricks = fc
  .record({
    prefix: fc.constantFrom(...CONSOLE_PREFIXES),
    // Every trick, and often the files worth reaching (so that a traversal lands on them).
    segments: fc.array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...CONSOLE_SEGMENTS) },
        {
          weight: 2,
          arbitrary: fc.constantFrom("{asset}", "{escape}", "{outside}", "assets", "..", "%2e%2e"),
        },
      ),
      { minLength: 0, maxLength: 5 },
    ),
    separator: fc.constantFrom(...CONSOLE_SEPARATORS),
    suffix: fc.constantFrom(...CONSOLE_SUFFIXES),
  })
  .map(({ prefix, segments, separator, suffix }) => prefix + segments.join(separator) + suffix);

/** One file (inside the build, the link out of it, the file beside it) reached through one trick. */
const percentAll = (t: string) =>
  [...Buffer.from(t)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
const ROUTES_TO: readonly ((t: string) => string)[] = [
  (t) => `/console/${t}`,
  (t) => `/console/./${t}`,
  (t) => `/console//${t}`,
  (t) => `/console/x/../${t}`,
  (t) => `/console/assets/../${t}`,
  (t) => `/console/assets/%2e%2e/${t}`,
  (t) => `/console/assets/..%2f${t}`,
  (t) => `/console/${percentAll(t)}`,
  (t) => `/console/${t.replace(/\//g, "%2f")}`,
  (t) => `/console/${t.replace(/\./g, "%2e")}`,
  (t) => `/console/${t.replace(/\./g, "%252e")}`,
  (t) => `/console/${t.replace(/\//g, "\\")}`,
  (t) => `/console/${t}%00`,
  (t) => `/console/${t}/`,
  (t) => `/console/${t.replace(/\.\./g, "%c0%ae%c0%ae")}`,
];
const arbTargeted = fc
  .tuple(fc.constantFrom("{asset}", "{escape}", "{outside}", "index.html"), fc.constantFrom(...ROUTES_TO))
  .map(([target, route]) => route(target));

const arbPath = fc.oneof(arbTricks, arbTargeted);

describe("hostile input to the console (raw sockets)", () => {
  it(
    "static files: nothing outside the build, security headers and the strict policy on every answer",
    { timeout: 600_000 },
    async () => {
      const b = target.console;
      await fc.assert(
        fc.asyncProperty(
          arbPath,
          fc.constantFrom(...CONSOLE_METHODS),
          fc.constantFrom(...BROWSER_HEADERS),
          async (p, method, headers) => {
            const path = p
              .replaceAll("{asset}", b.asset)
              .replaceAll("{escape}", b.escape)
              .replaceAll("{outside}", b.outside);
            const a = await exchange(method, path, headers);
            files.cases++;
            files.sent++;
            expect(a, `${method} ${path}: no answer`).toBeDefined();
            const answer = a!;
            files.status(answer.status);
            const problems = [
              // A HEAD's answer has no body to be in the admin format.
              ...answerProblems(answer, { wire: "admin", certain: true }, target.secrets).filter(
                (x) => !(method.toUpperCase() === "HEAD" && x.startsWith("error body")),
              ),
              ...consoleProblems(answer, { method, static: true }, b),
            ];
            for (const x of problems) files.problem(x);
            expect(problems, `${method} ${path.slice(0, 200)}`).toEqual([]);
          },
        ),
        { numRuns: RUNS },
      );
      // The generator does reach the files: the build's own pages are served as they are.
      for (const [path, status] of [
        ["/console/", 200],
        [`/console/${b.asset}`, 200],
        ["/console/licenses/LIC-1", 200],
        [`/console/${b.escape}`, 404],
      ] as const) {
        const a = await exchange("GET", path, []);
        expect(a?.status, path).toBe(status);
      }
    },
  );

  it(
    "the console's calls to the admin API and the audit log: headers, no CORS opening, no secret",
    { timeout: 600_000 },
    async () => {
      const roles = ["admin", "viewer", "applicant", "compliance-officer", "approver"];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...CONSOLE_CALLS),
          fc.array(fc.constantFrom(...CONSOLE_CALL_PARAMS), { minLength: 2, maxLength: 2 }),
          fc.constantFrom(...roles, "none"),
          fc.constantFrom(...BROWSER_HEADERS),
          async (call, params, role, browser) => {
            let i = 0;
            const path = call.path.replace(/\{p\}/g, () => params[i++] ?? "x");
            const token = role === "none" ? undefined : target.tokens[role];
            const headers: HeaderList = [
              ["accept", "application/json"],
              ...(token === undefined ? [] : ([["authorization", `Bearer ${token}`]] as const)),
              ...browser,
              ...(call.method === "POST"
                ? ([
                    ["content-type", "application/json"],
                    ["content-length", "2"],
                  ] as const)
                : []),
            ];
            const a = await exchange(call.method, path, headers, call.method === "POST" ? "{}" : "");
            calls.cases++;
            calls.sent++;
            expect(a, `${call.method} ${path}: no answer`).toBeDefined();
            const answer = a!;
            calls.status(answer.status);
            const problems = [
              ...answerProblems(answer, { wire: "admin", certain: true }, target.secrets),
              ...consoleProblems(answer, { method: call.method, static: false }, target.console),
            ];
            if (role === "none" && path.startsWith("/admin/") && answer.status < 400)
              problems.push(`no token, answered ${answer.status}`);
            for (const x of problems) calls.problem(x);
            expect(problems, `${call.method} ${path.slice(0, 200)} as ${role}`).toEqual([]);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
});

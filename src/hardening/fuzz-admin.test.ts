/**
 * Hostile input to the admin API and the decision API over raw sockets. Admin: every route of the
 * route table with hostile path parameters, queries, bodies and tokens; the answer is below 500,
 * in the admin error format, never carries a secret or a token hash, and succeeds only for a role
 * the route table allows. Decision API: generated decision inputs, valid and hostile; a 200 must
 * be exactly what the pure decide() says (a differential oracle), a 400 exactly what the input
 * parser refuses. CLEARANCE_FUZZ_RUNS sets the number of cases.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../admin/index.js";
import { InvalidInputError } from "../errors/index.js";
import { decide, parseDecisionInput } from "../policy/index.js";
import { ADMIN_TOKEN } from "../testing/gateway.js";
import { startTarget, type Target } from "./harness.js";
import { wrongValue } from "./inputs.js";
import { answerProblems } from "./oracle.js";
import { rawExchange, type RawAnswer } from "./raw.js";
import { Tally } from "./tally.js";

const RUNS = Number(process.env.CLEARANCE_FUZZ_RUNS ?? 60);
let target: Target;
const admin = new Tally("fuzz admin API");
const decisions = new Tally("fuzz decision API");

beforeAll(async () => {
  target = await startTarget();
});
afterAll(async () => {
  console.log(admin.line({ runs: RUNS }));
  console.log(decisions.line({ runs: RUNS }));
  await target?.close();
});

/** Who calls: a role's token, the bootstrap token, or something that is not a token. */
const CALLERS = [
  "admin",
  "viewer",
  "applicant",
  "compliance-officer",
  "approver",
  "bootstrap",
  "none",
  "garbage",
  "api-key",
] as const;
type CallerName = (typeof CALLERS)[number];

function authHeader(caller: CallerName): string | null {
  switch (caller) {
    case "bootstrap":
      return `Bearer ${ADMIN_TOKEN}`;
    case "none":
      return null;
    case "garbage":
      return "Bearer clra_\u00ff\u00fe not a token";
    case "api-key":
      return `Bearer ${target.t.keys.get("alice")}`;
    default:
      return `Bearer ${target.tokens[caller]}`;
  }
}

const PARAMS = [
  "alice",
  "mythos-5",
  "1",
  "0",
  "-1",
  "%zz",
  "..",
  "%2e%2e",
  "%2F",
  "a%00b",
  "x".repeat(300),
  "__proto__",
  "%F0%9F%92%A5",
  "'; DROP TABLE x;--",
];
const QUERY = [
  "limit=-1",
  "limit=abc",
  "limit=100000",
  "cursor=%zz",
  "status=nope",
  "kind=",
  "limit=5&limit=6",
  "period=decade",
  "organization=../x",
  "",
];
const FIELDS = [
  "id",
  "name",
  "roles",
  "principal",
  "citizenships",
  "kind",
  "partner",
  "status",
  "reason",
  "licensee",
  "models",
  "actions",
  "destinations",
  "yaml",
  "organization",
  "conditions",
  "valid_from",
  "valid_until",
  "quota_tokens",
];

function request(method: string, path: string, auth: string | null, body: string | null, extra = ""): Buffer {
  const head = Buffer.from(
    `${method} ${path} HTTP/1.1\r\nhost: x\r\n${auth === null ? "" : `authorization: ${auth}\r\n`}${extra}` +
      (body === null
        ? ""
        : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`) +
      "connection: close\r\n\r\n",
    "latin1",
  );
  return Buffer.concat([head, Buffer.from(body ?? "", "utf8")]);
}

async function send(bytes: Buffer): Promise<RawAnswer | undefined> {
  const ex = await rawExchange({
    host: target.host,
    port: target.port,
    pieces: [{ bytes }],
    timeoutMs: 8_000,
  });
  return ex.answers[0];
}

const arbBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), wrongValue, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
  fc.constantFrom(
    "",
    "{",
    "[]",
    "null",
    "\ufeff{}",
    `{"a":${"[".repeat(300)}${"]".repeat(300)}}`,
    `{"id":"a","id":"b"}`,
    `{"yaml":"${"a: ".repeat(2000)}"}`,
    `{"reason":"\\ud800"}`,
    `{"quota_tokens":1e999}`,
  ),
);

/** Whether a string or member name of a JSON value holds a lone surrogate (the oracle's own walk). */
function holdsLoneSurrogate(v: unknown): boolean {
  if (typeof v === "string") return /\p{Surrogate}/u.test(v);
  if (Array.isArray(v)) return v.some(holdsLoneSurrogate);
  if (typeof v !== "object" || v === null) return false;
  return Object.entries(v).some(([k, m]) => /\p{Surrogate}/u.test(k) || holdsLoneSurrogate(m));
}

const arbAdminCase = fc.record({
  route: fc.nat({ max: ROUTES.length - 1 }),
  otherMethod: fc.boolean(),
  params: fc.array(fc.constantFrom(...PARAMS), { minLength: 3, maxLength: 3 }),
  query: fc.constantFrom(...QUERY),
  caller: fc.constantFrom(...CALLERS),
  body: arbBody,
});

describe("hostile input to the admin API and the decision API (raw sockets)", () => {
  it(
    "admin routes: answers below 500 in the admin format, no secret, success only for allowed roles",
    { timeout: 600_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(arbAdminCase, async (c) => {
          const def = ROUTES[c.route]!;
          let i = 0;
          const path = def.path.replace(/\{\w+\}/g, () => c.params[i++] ?? "x");
          const method = c.otherMethod ? (def.method === "GET" ? "POST" : "GET") : def.method;
          const body = method === "GET" ? null : c.body;
          const answer = await send(
            request(method, `${path}${c.query ? `?${c.query}` : ""}`, authHeader(c.caller), body),
          );
          admin.cases++;
          admin.sent++;
          expect(answer, `${method} ${path}: no answer`).toBeDefined();
          const a = answer!;
          admin.status(a.status);
          const problems = answerProblems(a, { wire: "admin", certain: true }, target.secrets);
          if (a.body.toString().includes("token_hash")) problems.push("a token hash in the answer");
          if (a.status < 300 && !c.otherMethod) {
            const roles = c.caller === "bootstrap" ? ["admin"] : [c.caller];
            if (!def.roles.some((r) => roles.includes(r)))
              problems.push(`${c.caller} got ${a.status} from ${def.method} ${def.path}`);
          }
          if (c.caller === "none" || c.caller === "garbage" || c.caller === "api-key") {
            if (a.status < 400) problems.push(`${c.caller} got ${a.status}`);
          }
          for (const p of problems) admin.problem(p);
          expect(problems, `${method} ${path} as ${c.caller}: ${a.body.toString().slice(0, 200)}`).toEqual(
            [],
          );
        }),
        { numRuns: RUNS },
      );
    },
  );

  /** Mostly valid values (so most inputs reach decide()), sometimes an invalid one. */
  const mostly = <T>(valid: readonly T[], invalid: readonly T[]) =>
    fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...valid) },
      { weight: 1, arbitrary: fc.constantFrom(...invalid) },
    );
  const arbNationality = fc.record(
    {
      country: mostly(["US", "FR", "IR", "CN", "IN", "DE", "GB"], ["XX", "us"]),
      since: mostly(["1990-01-01", "2020-05-05", null], ["not a date"]),
    },
    { requiredKeys: ["country"] },
  );
  const arbInput = fc.record({
    principal: fc.record(
      {
        id: mostly(["p1"], ["", "x".repeat(300)]),
        citizenships: fc.array(arbNationality, { maxLength: 3 }),
        permanent_residencies: fc.array(arbNationality, { maxLength: 1 }),
        residence: mostly(["US", "IR", "FR"], ["ZZ"]),
        organization: fc.constantFrom(
          "uk-aisi",
          "bw-cyber",
          { id: "bw-cyber", country: "DE" },
          { id: "x", country: "IR", screening: "confirmed" },
        ),
        assurance: mostly(["none", "self", "verified", "attested"], ["godlike"]),
        screening: mostly(["clear", "clear", "potential", "confirmed"], ["maybe"]),
      },
      { requiredKeys: ["id"] },
    ),
    request: fc.record(
      {
        model: fc.constantFrom(
          "mythos-5",
          "mythos-4",
          "fable-5",
          "eu-mythos-5",
          "mythos-5-weights",
          "nope",
          "",
        ),
        action: mostly(["infer", "fine_tune", "evaluate", "weights"], ["steal"]),
        location: mostly(["US", "FR", "IR", "DE", "GB", null], ["XX"]),
        purpose: fc.constantFrom("cyber-defense", null, "research"),
        time: mostly(["2026-12-01T00:00:00Z", 1796083200000], [-5, "yesterday", "2026-13-45"]),
        usage: mostly<Record<string, { tokens: number }>>(
          [{}, { "BIS-2026-0001": { tokens: 50_000_000 } }],
          [{ x: { tokens: -1 } }],
        ),
      },
      { requiredKeys: ["model", "action", "time"] },
    ),
  });
  const arbDecisionBody = fc.oneof(
    { weight: 6, arbitrary: arbInput.map((v) => v as unknown) },
    fc.array(arbInput, { maxLength: 3 }).map((v) => v as unknown),
    fc
      .tuple(arbInput, fc.constantFrom("principal", "request"), wrongValue)
      .map(([v, k, w]) => ({ ...v, [k]: w }) as unknown),
    fc
      .tuple(arbInput, fc.constantFrom("model", "action", "time", "location", "usage"), wrongValue)
      .map(([v, k, w]) => ({ ...v, request: { ...v.request, [k]: w } }) as unknown),
    fc
      .tuple(arbInput, fc.constantFrom("citizenships", "organization", "assurance", "id"), wrongValue)
      .map(([v, k, w]) => ({ ...v, principal: { ...v.principal, [k]: w } }) as unknown),
  );

  it(
    "decision API: a 200 is exactly decide(), a 400 exactly what the parser refuses",
    { timeout: 600_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arbDecisionBody,
          fc.constantFrom<CallerName>("viewer", "bootstrap", "applicant", "none"),
          async (input, caller) => {
            const text = JSON.stringify(input);
            const answer = await send(request("POST", "/v1/decisions", authHeader(caller), text));
            decisions.cases++;
            decisions.sent++;
            expect(answer).toBeDefined();
            const a = answer!;
            decisions.status(a.status);
            const problems = answerProblems(a, { wire: "admin", certain: true }, target.secrets);
            if (caller === "none") expect(a.status).toBe(401);
            else if (caller === "applicant") expect(a.status).toBe(403);
            else {
              // The reference: the same parser and decide(), in this process, at the same scheme.
              const items = Array.isArray(input) ? input : [input];
              let expected: unknown[] | null = [];
              try {
                expected = items.map((item, n) => {
                  const i = parseDecisionInput(item, Array.isArray(input) ? [n] : []);
                  const d = decide(target.scheme, i.principal, i.request);
                  return [d.decision, d.reason, d.served_model];
                });
              } catch (err) {
                if (!(err instanceof InvalidInputError)) throw err;
                expected = null;
              }
              // A lone surrogate anywhere (wrongValue has "\ud800") is refused before the parser.
              if (holdsLoneSurrogate(input)) expected = null;
              if (expected === null) {
                if (a.status !== 400) problems.push(`parser refuses, API answered ${a.status}`);
              } else {
                const body = JSON.parse(a.body.toString()) as { decisions?: unknown[] } & Record<
                  string,
                  unknown
                >;
                const got = (Array.isArray(input) ? (body.decisions ?? []) : [body]).map((d) => {
                  const r = d as Record<string, unknown>;
                  return [r.decision, r.reason, r.served_model];
                });
                if (a.status !== 200 || JSON.stringify(got) !== JSON.stringify(expected)) {
                  problems.push(
                    `API ${a.status} ${JSON.stringify(got)}, decide() ${JSON.stringify(expected)}`,
                  );
                }
              }
            }
            for (const p of problems) decisions.problem(p);
            expect(problems, text.slice(0, 300)).toEqual([]);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
});

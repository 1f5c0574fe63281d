/**
 * Hostile input to the standalone decision server (`clearance serve --scheme`, POST /v1/decisions)
 * over raw sockets: generated decision inputs — valid ones from the example principals, and the
 * same with fields removed, retyped, oversized or unknown — single and in batches, and bodies that
 * are not JSON at all, in every framing the gateway's suite uses. Oracles: every answer parses, is
 * below 500, and carries the security headers; a refusal is the admin API's error shape, naming a
 * field where the input had one wrong; a 200 is exactly what decide() says for that input (the
 * whole decision, explanation included); well-framed requests are all answered; the server stays
 * healthy.
 *
 * CLEARANCE_FUZZ_RUNS sets the number of generated cases (default 60 inside `npm test`).
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDecisionServer } from "../api/index.js";
import { InvalidInputError } from "../errors/index.js";
import { decide, decisionView, parseDecisionInput } from "../policy/index.js";
import { loadSchemeFile } from "../scheme/load.js";
import type { CompiledScheme } from "../scheme/index.js";
import { FRAMINGS, frame, type HostileCase, type Intent } from "./hostile.js";
import { rawExchange, type RawAnswer } from "./raw.js";
import { Tally } from "./tally.js";

const RUNS = Number(process.env.CLEARANCE_FUZZ_RUNS ?? 60);
const PRINCIPALS = [
  "us-engineer",
  "fr-researcher",
  "in-engineer",
  "cn-ca-engineer",
  "bw-cyber-analyst",
  "uk-aisi-evaluator",
].map((n) => JSON.parse(readFileSync(`examples/principals/${n}.json`, "utf8")) as Record<string, unknown>);

let scheme: CompiledScheme;
let server: Server;
let port: number;
const tally = new Tally("fuzz decision server");

beforeAll(async () => {
  scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
  server = createDecisionServer({ scheme: () => scheme });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  console.log(tally.line({ runs: RUNS }));
  await new Promise<void>((r) => server?.close(() => r()));
});

// ------------------------------------------------------------------------------------------------
// inputs

const hostileValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.constantFrom("", "XX", "us", "USA", "\u0000", "9".repeat(400), "2026-13-45", "x".repeat(70_000)),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
);

const validInput = fc.record({
  principal: fc.constantFrom(...PRINCIPALS),
  request: fc.record({
    model: fc.constantFrom(...scheme_models(), "no-such-model"),
    action: fc.constantFrom("infer", "fine_tune", "weights_access", "agentic"),
    location: fc.constantFrom("US", "FR", "IN", "CN", "RU", "KP", "BW", null),
    purpose: fc.option(fc.constantFrom("evaluation", "research", "other"), { nil: undefined }),
    time: fc.constantFrom("2026-11-21T12:00:00Z", 1_790_000_000_000, "2031-01-01T00:00:00Z"),
  }),
});

/** The example's model ids (read again here: the arbitraries are built before beforeAll runs). */
function scheme_models(): string[] {
  return [...loadSchemeFile("examples/g7-trusted-partners.yaml").models.keys()];
}

type Mutation =
  { kind: "none" } | { kind: "drop" | "retype" | "add"; side: 0 | 1; key: number; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: "none" } as const) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom("drop" as const, "retype" as const, "add" as const),
      side: fc.constantFrom(0 as const, 1 as const),
      key: fc.nat(),
      value: hostileValue,
    }),
  },
);

function mutate(input: { principal: unknown; request: unknown }, m: Mutation): unknown {
  const copy = JSON.parse(JSON.stringify(input)) as {
    principal: Record<string, unknown>;
    request: Record<string, unknown>;
  };
  if (m.kind === "none") return copy;
  const target = m.side === 0 ? copy.principal : copy.request;
  const keys = Object.keys(target);
  const key = keys[m.key % Math.max(1, keys.length)] ?? "id";
  if (m.kind === "drop") delete target[key];
  else if (m.kind === "retype") target[key] = m.value;
  else target[`extra_${m.key % 5}`] = m.value;
  return copy;
}

const oneInput = fc.tuple(validInput, mutation).map(([i, m]) => mutate(i, m));
const body: fc.Arbitrary<{ label: string; bytes: Buffer }> = fc.oneof(
  { weight: 5, arbitrary: oneInput.map((v) => ({ label: "one", bytes: Buffer.from(JSON.stringify(v)) })) },
  {
    weight: 3,
    arbitrary: fc
      .array(oneInput, { minLength: 0, maxLength: 4 })
      .map((v) => ({ label: "batch", bytes: Buffer.from(JSON.stringify(v)) })),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => ({ label: "bytes", bytes: Buffer.from(b) })),
      oneInput.map((v) => ({ label: "truncated", bytes: Buffer.from(JSON.stringify(v).slice(0, 30)) })),
      fc.constantFrom(
        { label: "deep", bytes: Buffer.from("[".repeat(5000) + "]".repeat(5000)) },
        { label: "bom", bytes: Buffer.from(`\ufeff${JSON.stringify({ principal: {}, request: {} })}`) },
        { label: "huge-number", bytes: Buffer.from(`{"principal": 1e999999, "request": {}}`) },
        { label: "empty", bytes: Buffer.alloc(0) },
        { label: "scalar", bytes: Buffer.from('"decide"') },
        {
          label: "proto",
          bytes: Buffer.from('{"__proto__": {"admin": true}, "principal": {}, "request": {}}'),
        },
      ),
    ),
  },
);

const PATHS = [
  "/v1/decisions",
  "/v1/decisions",
  "/v1/decisions",
  "/v1/decisions?x=1",
  "/healthz",
  "/v1/decision",
  "//v1/decisions",
];

interface Case {
  readonly c: HostileCase;
  readonly bodies: readonly Buffer[];
}

const cases: fc.Arbitrary<Case> = fc
  .record({
    framing: fc.constantFrom(...FRAMINGS),
    path: fc.constantFrom(...PATHS),
    first: body,
    second: body,
  })
  .map(({ framing, path, first, second }) => {
    const intent = (b: Buffer): Intent => ({
      from: "127.0.0.1",
      headers: [["content-type", "application/json"]],
      body: b,
      models: [],
      parsed: null,
    });
    const c = frame(framing, path, intent(first.bytes), `127.0.0.1:${port}`, intent(second.bytes));
    return {
      c: {
        ...c,
        label: `${framing} ${path} ${first.label}`,
        [fc.toStringMethod]: () => `${framing} ${path} ${first.bytes.toString("latin1").slice(0, 200)}`,
      },
      bodies: c.intents.map((i) => i.body),
    };
  });

// ------------------------------------------------------------------------------------------------
// oracles

/** What decide() says for a body, as the server should answer it: a view, a list of them, or a refusal. */
function expected(bytes: Buffer): { ok: unknown } | { refused: "not-json" | "invalid" } {
  let value: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    value = JSON.parse(text);
  } catch {
    return { refused: "not-json" };
  }
  try {
    const view = (v: unknown, i?: number) => {
      const input = parseDecisionInput(v, i === undefined ? [] : [i]);
      return JSON.parse(JSON.stringify(decisionView(decide(scheme, input.principal, input.request))));
    };
    if (Array.isArray(value)) return { ok: { decisions: value.map((v, i) => view(v, i)) } };
    return { ok: view(value) };
  } catch (err) {
    if (err instanceof InvalidInputError) return { refused: "invalid" };
    throw err;
  }
}

function answerProblems(a: RawAnswer, path: string, bodyBytes: Buffer | undefined): string[] {
  const problems: string[] = [];
  if (a.status >= 500) problems.push(`status ${a.status}: ${a.body.toString().slice(0, 200)}`);
  if (a.headers["x-content-type-options"] !== "nosniff")
    problems.push(`no security headers on a ${a.status}`);
  let json: unknown;
  try {
    json = JSON.parse(a.body.toString("utf8"));
  } catch {
    problems.push(`a ${a.status} whose body is not JSON: ${a.body.toString().slice(0, 100)}`);
    return problems;
  }
  if (a.status !== 200) {
    // The API's one error shape; `problems` is there when there are some.
    const error = (json as { error?: { code?: unknown; message?: unknown; problems?: unknown } }).error;
    if (
      typeof error?.code !== "string" ||
      typeof error.message !== "string" ||
      (error.problems !== undefined && !Array.isArray(error.problems))
    ) {
      problems.push(`a ${a.status} not in the API's error shape: ${a.body.toString().slice(0, 200)}`);
      return problems;
    }
    // Well-formed JSON with a wrong field, refused with 400: the refusal names the field.
    const want = error.code === "invalid_request" && bodyBytes !== undefined ? expected(bodyBytes) : null;
    const named = Array.isArray(error.problems) && error.problems.length > 0;
    if (
      path.startsWith("/v1/decisions") &&
      want !== null &&
      "refused" in want &&
      want.refused === "invalid" &&
      !named
    )
      problems.push(`a refusal of a wrong field that names none: ${a.body.toString().slice(0, 200)}`);
    return problems;
  }
  if (path.startsWith("/healthz")) return problems;
  // A request framed ambiguously may have been read as other bytes than the ones generated: its
  // answer is judged on its form alone.
  if (bodyBytes === undefined) return problems;
  const want = expected(bodyBytes);
  if ("refused" in want)
    problems.push(`a 200 for input decide() refuses: ${bodyBytes.toString().slice(0, 200)}`);
  else if (JSON.stringify(json) !== JSON.stringify(want.ok))
    problems.push(
      `answered ${a.body.toString().slice(0, 200)}; decide() says ${JSON.stringify(want.ok).slice(0, 200)}`,
    );
  return problems;
}

async function check({ c, bodies }: Case): Promise<string[]> {
  const ex = await rawExchange({
    host: "127.0.0.1",
    port,
    from: c.from,
    pieces: [{ bytes: c.bytes }],
    expectAnswers: c.requests,
    timeoutMs: 8_000,
  });
  tally.cases++;
  tally.sent += c.requests;
  tally.label(c.label.split(" ")[0] as string);
  const problems: string[] = [];
  ex.answers.forEach((a, i) => {
    tally.status(a.status);
    problems.push(
      ...answerProblems(a, c.path, c.wellFramed ? bodies[i] : undefined).map((p) => `${c.label}: ${p}`),
    );
  });
  if (ex.garbage !== "")
    problems.push(`unparseable answer bytes: ${JSON.stringify(ex.garbage.slice(0, 80))}`);
  if (c.wellFramed && ex.answers.length < c.requests)
    problems.push(`${c.label}: ${ex.answers.length} answers to ${c.requests} well-framed requests`);
  if (!c.wellFramed && ex.answers.length === 0 && ex.timedOut)
    problems.push(`${c.label}: no answer, connection held open`);
  for (const p of problems) tally.problem(p);
  return problems;
}

describe("the decision server under hostile input", () => {
  it(
    `answers ${RUNS} generated cases as decide() would, or refuses them in its error format`,
    { timeout: 600_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(cases, async (k) => {
          expect(await check(k)).toEqual([]);
        }),
        { numRuns: RUNS },
      );
      // Still healthy, and still deciding.
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const input = {
        principal: PRINCIPALS[0],
        request: { model: scheme_models()[0], action: "infer", location: "US", time: "2026-11-21T12:00:00Z" },
      };
      const r = await fetch(`http://127.0.0.1:${port}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(input),
      });
      expect(r.status).toBe(200);
      const want = expected(Buffer.from(JSON.stringify(input)));
      expect(want).toHaveProperty("ok");
      expect(await r.json()).toEqual((want as { ok: unknown }).ok);
    },
  );
});

/**
 * Batches are worked out in short turns of the event loop (answerDecisions with Turns): the same
 * answer, refusals and counts as deciding them in one go, against one snapshot, and nothing more
 * worked out for a client that has left.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { ClearanceError, InvalidInputError, type Problem } from "../errors/index.js";
import { asClearanceError, errorBody, parseJsonText, statusOf } from "../http/index.js";
import { duplicateMemberPath } from "../http/members.js";
import { ACTIONS, ASSURANCE_LEVELS, decide, decisionView, parseDecisionInput } from "../policy/index.js";
import type { Decision, DecisionInput } from "../policy/index.js";
import { quoted } from "../policy/text.js";
import type { CompiledScheme } from "../scheme/index.js";
import { NOW, testScheme } from "../testing/schemes.js";
import { MAX_BATCH, answerDecisions, decisionHandler, type DecisionMetrics } from "./index.js";
import { Turns } from "./turns.js";

const scheme = testScheme();

/**
 * The decision API's answer as it was worked out before batches were sliced, all in one go (kept
 * here as the reference): the bytes of the answer, or the refusal's status and body.
 */
function straight(text: string, s: CompiledScheme, counted: unknown[]): Buffer {
  const body = parseJsonText(text);
  const dup = duplicateMemberPath(text);
  if (dup !== null) {
    const name = String(dup.at(-1));
    const message = `the body names ${quoted(name)} more than once in the same object; send each member once`;
    throw new ClearanceError("invalid", "duplicate_member", message, {
      problems: [{ code: "duplicate_member", path: dup, message }],
    });
  }
  if (Array.isArray(body)) {
    if (body.length > MAX_BATCH) {
      throw new ClearanceError(
        "too-large",
        "batch_too_large",
        `at most ${MAX_BATCH} decisions per request, got more`,
      );
    }
    const problems: Problem[] = [];
    const inputs: DecisionInput[] = [];
    body.forEach((item, i) => {
      try {
        inputs.push(parseDecisionInput(item, [i]));
      } catch (err) {
        if (!(err instanceof InvalidInputError)) throw err;
        problems.push(...err.problems);
      }
    });
    if (problems.length > 0) throw new InvalidInputError(problems);
    const decided = inputs.map((i) => decide(s, i.principal, i.request));
    decided.forEach((d, i) => counted.push(counting(d, inputs[i]?.request.action ?? "infer")));
    return Buffer.from(JSON.stringify({ decisions: decided.map((d) => decisionView(d)) }));
  }
  const input = parseDecisionInput(body);
  const decision = decide(s, input.principal, input.request);
  counted.push(counting(decision, input.request.action));
  return Buffer.from(JSON.stringify(decisionView(decision)));
}

/** An array JSON.parse refuses: the reference's words are JSON.parse's over the whole. */
const isMalformedArray = (text: string, want: unknown) =>
  text.trimStart().startsWith("[") &&
  (want as { body?: { error?: { code?: string } } }).body?.error?.code === "invalid_json";

const counting = (d: Decision, action: string) => [JSON.stringify(decisionView(d)), action];

/** An answer or a refusal, comparable. */
async function outcome(work: () => Buffer | Promise<Buffer[]>) {
  try {
    const answer = await work();
    return { answer: Buffer.isBuffer(answer) ? answer.toString() : Buffer.concat(answer).toString() };
  } catch (thrown) {
    const err = asClearanceError(thrown);
    return { status: statusOf(err), body: errorBody(err) };
  }
}

const recorder = (counted: unknown[]): DecisionMetrics => ({
  decided: (d, action) => void counted.push(counting(d, action)),
  expose: () => Promise.resolve({ text: "", contentType: "text/plain" }),
});

// Inputs, mostly valid: names with the characters a scan of JSON text could trip on.
const awkward = fc.string({ unit: fc.constantFrom("a", '"', "\\", "[", "]", "{", "}", ",", " ", "é", "\n") });
const country = fc.constantFrom("US", "FR", "DE", "GB", "IN", "CN", "IR", "BR", "NO", "MO");
const principal = fc.record(
  {
    id: fc.oneof(fc.constantFrom("p-in", "p-expired", "p-fr"), awkward),
    citizenships: fc.array(
      fc.record(
        { country, since: fc.constantFrom("1990-01-01", "2020-05-05") },
        { requiredKeys: ["country"] },
      ),
      { maxLength: 3 },
    ),
    residence: country,
    organization: fc.constantFrom("uk-aisi", "bw-cyber", "none-such"),
    assurance: fc.constantFrom(...ASSURANCE_LEVELS),
  },
  { requiredKeys: ["id", "citizenships"] },
);
const request = fc.record(
  {
    model: fc.constantFrom(...scheme.models.keys(), "made-up"),
    action: fc.constantFrom(...ACTIONS),
    location: country,
    purpose: awkward,
    time: fc.constantFrom(NOW, 1_790_000_000_000),
  },
  { requiredKeys: ["model", "action", "time"] },
);
const valid = fc.record({ principal, request });
const item = fc.oneof(
  { weight: 30, arbitrary: valid },
  {
    weight: 1,
    arbitrary: fc
      .tuple(valid, fc.constantFrom("assurance", "country", "model", "time", "extra"))
      .map(([v, bad]) =>
        bad === "assurance"
          ? { ...v, principal: { ...v.principal, assurance: "high" } }
          : bad === "country"
            ? { ...v, request: { ...v.request, location: "XX" } }
            : bad === "model"
              ? { ...v, request: { ...v.request, model: 5 } }
              : bad === "time"
                ? { ...v, request: { ...v.request, time: "2026-13-01T00:00:00Z" } }
                : { ...v, extra: 1 },
      ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, 7, "text", [], {}) },
);
/** A body's text: the items as JSON, spaced or not, sometimes spoilt (a member twice, cut short...). */
const body = fc
  .tuple(
    fc.oneof({ weight: 5, arbitrary: fc.array(item, { maxLength: 12 }) }, { weight: 1, arbitrary: item }),
    fc.constantFrom(undefined, 1, "\t"),
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("as-is", "padded") },
      {
        weight: 3,
        arbitrary: fc.constantFrom("twice", "cut", "trailing-comma", "garbage-after", "comma-first"),
      },
    ),
    fc.nat(),
  )
  .map(([value, space, spoil, at]) => {
    const text = JSON.stringify(value, null, space);
    switch (spoil) {
      case "twice":
        return text.replace(/"(model|country|principal)":/, '"$1":"again","$1":');
      case "cut":
        return text.slice(0, at % (text.length + 1));
      case "trailing-comma":
        return text.replace(/\]$/, ",]");
      case "garbage-after":
        return `${text} x`;
      case "padded":
        return ` \r\n${text}\t `;
      case "comma-first":
        return text.replace(/^\[/, "[,");
      default:
        return text;
    }
  });

describe("a batch worked out in turns", () => {
  it("answers, refuses and counts exactly as deciding it all in one go (yielding before every step)", async () => {
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const expected: unknown[] = [];
        const counted: unknown[] = [];
        const want = await outcome(() => straight(text, scheme, expected));
        const got = await outcome(() =>
          answerDecisions(text, scheme, new Turns(() => false, 0), recorder(counted)),
        );
        if (isMalformedArray(text, want)) {
          // Refused from its split, naming the item (or saying what ends it wrong), in other words
          // than JSON.parse of the whole, which it no longer runs.
          expect(got).toMatchObject({ status: 400, body: { error: { code: "invalid_json" } } });
        } else expect(got).toEqual(want);
        expect(counted).toEqual(expected);
      }),
      { numRuns: Number(process.env.CLEARANCE_FUZZ_RUNS ?? 300) },
    );
  });

  it("keeps the batch size limit and names every bad item by its index", async () => {
    const one = {
      principal: { id: "p-fr", citizenships: [{ country: "FR" }] },
      request: { model: "m5", action: "infer", time: NOW },
    };
    const tooMany = JSON.stringify(Array.from({ length: MAX_BATCH + 1 }, () => one));
    const refused = await outcome(() => answerDecisions(tooMany, scheme, new Turns(() => false)));
    expect(refused).toEqual({
      status: 413,
      body: { error: { code: "batch_too_large", message: "at most 10000 decisions per request, got more" } },
    });
    const bad = JSON.stringify([one, { ...one, request: { ...one.request, action: "steal" } }, one, 3]);
    const named = await outcome(() => answerDecisions(bad, scheme, new Turns(() => false, 0)));
    expect(named).toMatchObject({ status: 400 });
    const problems = (named as { body: { error: { problems: { path: string }[] } } }).body.error.problems;
    expect(problems.map((p) => p.path)).toEqual(["[1].request.action", "[3]"]);
  });
});

// Over a real socket: the decision API on its own, as `clearance serve --scheme` runs it.

const FR = { id: "p-fr", citizenships: [{ country: "FR" }], assurance: "attested" };
const BIG = Array.from({ length: MAX_BATCH }, (_, i) => ({
  principal: i % 3 === 0 ? FR : { id: `p-${i}`, citizenships: [{ country: ["IN", "CN", "DE"][i % 3] }] },
  request: { model: ["m5", "c5", "eu5", "m4"][i % 4], action: "infer", location: "FR", time: NOW },
}));
const BIG_TEXT = JSON.stringify(BIG);

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A decision server whose handler's promise (each request's work, to its end) the test can await. */
async function serve(options: Parameters<typeof decisionHandler>[0]) {
  const handler = decisionHandler(options);
  const handled: Promise<void>[] = [];
  server = createServer((req, res) => void handled.push(handler(req, res) as Promise<void>));
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/decisions`;
  return { url, handled };
}

const post = (url: string, text: string, signal?: AbortSignal) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: text,
    ...(signal ? { signal } : {}),
  });

/**
 * `first`, watched: its first use (a decision of the batch) schedules `then` for the loop's next
 * turn; uses after that has run are counted (the batch was still being decided, against `first`).
 */
function watched(first: CompiledScheme, then: () => void) {
  const seen = { uses: 0, usesAfter: 0, ran: false };
  const proxy = new Proxy(first, {
    get(target, prop, receiver) {
      if (seen.uses++ === 0) {
        setImmediate(() => {
          seen.ran = true;
          then();
        });
      }
      if (seen.ran) seen.usesAfter++;
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { proxy, seen };
}

/** The test scheme under another name, and without models: every answer from it says so. */
const other = (): CompiledScheme => {
  const s = testScheme();
  const ref = { name: "other-scheme", digest: "sha256:other" };
  return { ...s, ...ref, ref, models: new Map() };
};

describe("a batch of 10,000 over HTTP", () => {
  it("is decided against the snapshot in force when it started, even as another arrives between turns", async () => {
    const { proxy, seen } = watched(scheme, () => (current = other()));
    let current: CompiledScheme = proxy;
    const { url, handled } = await serve({ scheme: () => current });
    const res = await post(url, BIG_TEXT);
    const text = await res.text();
    await Promise.all(handled);
    expect(res.status).toBe(200);
    // The new snapshot arrived while the batch was being decided: the loop turned meanwhile...
    expect(seen.ran).toBe(true);
    expect(seen.usesAfter).toBeGreaterThan(0);
    // ...and every answer, to the byte, is the first snapshot's.
    expect(text).toBe(straight(BIG_TEXT, scheme, []).toString());
    expect(Number(res.headers.get("content-length"))).toBe(Buffer.byteLength(text));
    const digests = new Set(
      (JSON.parse(text) as { decisions: { scheme: { digest: string } }[] }).decisions.map(
        (d) => d.scheme.digest,
      ),
    );
    expect([...digests]).toEqual([scheme.digest]);
    // The next request is decided against the new one.
    const after = (await (await post(url, JSON.stringify(BIG.slice(0, 1)))).json()) as {
      decisions: { reason: string; scheme: { name: string } }[];
    };
    expect(after.decisions[0]).toMatchObject({ reason: "unknown-model", scheme: { name: "other-scheme" } });
  });

  it("lets other work run before its answer is complete", async () => {
    let ranBeforeAnswer: boolean | undefined;
    const counted: unknown[] = [];
    const metrics = recorder(counted);
    const { url, handled } = await serve({
      scheme: () => scheme,
      metrics: {
        ...metrics,
        decided: (d, action) => {
          if (counted.length === 0) setImmediate(() => (ranBeforeAnswer = counted.length < MAX_BATCH));
          metrics.decided(d, action);
        },
      },
    });
    const res = await post(url, BIG_TEXT);
    await res.arrayBuffer();
    await Promise.all(handled);
    expect(ranBeforeAnswer).toBe(true);
    expect(counted).toHaveLength(MAX_BATCH);
  });

  it("stops working for a client that has left, and throws nothing", async () => {
    const client = new AbortController();
    const counted: unknown[] = [];
    const errors: unknown[] = [];
    const metrics = recorder(counted);
    const { url, handled } = await serve({
      scheme: () => scheme,
      onError: (err) => errors.push(err),
      metrics: {
        ...metrics,
        decided: (d, action) => {
          if (counted.length === 0) client.abort();
          metrics.decided(d, action);
        },
      },
    });
    await expect(post(url, BIG_TEXT, client.signal)).rejects.toThrow();
    await Promise.all(handled);
    // The handler has ended (without throwing) long before the batch's end.
    expect(counted.length).toBeGreaterThan(0);
    expect(counted.length).toBeLessThan(MAX_BATCH);
    expect(errors).toEqual([]);
    // The server still answers.
    expect((await post(url, JSON.stringify(BIG.slice(0, 2)))).status).toBe(200);
  });
});

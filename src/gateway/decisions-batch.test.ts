/**
 * The gateway's decision API (POST /v1/decisions) works a batch out in short turns of the event
 * loop, so proxied requests and streams are not held for it: against the snapshot in force when the
 * batch started, with the answer it always gave, and no further for a client that has left.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MAX_BATCH } from "../api/index.js";
import { decide, decisionView, parseDecisionInput } from "../policy/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import { asAdmin, createIdentity } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { trickle } from "../testing/trickle.js";
import type { Snapshot } from "./snapshot.js";

let t: TestGateway;
let first: Snapshot;
const logged: string[] = [];
beforeAll(async () => {
  t = await startTestGateway({ log: (line) => logged.push(line) });
  first = t.gateway.snapshot.current;
});
afterAll(() => t.gateway.close());
afterEach(() => {
  t.gateway.snapshot.current = first;
});

const read = (dir: string) =>
  readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as unknown);
const principals = read("examples/principals");
const requests = read("examples/requests");
const BATCH = Array.from({ length: MAX_BATCH }, (_, i) => ({
  principal: principals[i % principals.length],
  request: requests[Math.floor(i / principals.length) % requests.length],
}));
const TEXT = JSON.stringify(BATCH);

/** The batch's answer as deciding it all in one go gives it. */
const straight = (scheme: CompiledScheme) =>
  JSON.stringify({
    decisions: BATCH.map((item, i) => {
      const input = parseDecisionInput(item, [i]);
      return decisionView(decide(scheme, input.principal, input.request));
    }),
  });

const post = (text: string, signal?: AbortSignal) =>
  fetch(`${t.url}/v1/decisions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: text,
    ...(signal ? { signal } : {}),
  });

/** The snapshot in force, with its policy replaced by `scheme`. */
const withScheme = (scheme: CompiledScheme): Snapshot => ({
  ...first,
  control: { ...first.control, scheme },
});

/** `scheme`, with `onDecide` told of each time a decision looks a model up in it. */
const watched = (scheme: CompiledScheme, onDecide: () => void): CompiledScheme =>
  new Proxy(scheme, {
    get(target, prop, receiver) {
      if (prop === "models") onDecide();
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });

describe("a batch of 10,000 posted to the gateway's decision API", () => {
  it("is decided against the snapshot in force when it started, though a new one arrives between turns", async () => {
    const scheme = first.control.scheme;
    const ref = { name: "newer", digest: "sha256:newer" };
    const newer: CompiledScheme = { ...scheme, ...ref, ref, models: new Map() };
    let lookups = 0;
    let lookupsAfterSwap = 0;
    let swapped = false;
    t.gateway.snapshot.current = withScheme(
      watched(scheme, () => {
        // The first decision schedules the swap for the loop's next turn.
        if (lookups++ === 0) {
          setImmediate(() => {
            t.gateway.snapshot.current = withScheme(newer);
            swapped = true;
          });
        }
        if (swapped) lookupsAfterSwap++;
      }),
    );
    const res = await post(TEXT);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("x-clearance-decision")).toBe("none");
    // The new snapshot came in while the batch was being decided; every answer is the first's.
    expect(swapped).toBe(true);
    expect(lookupsAfterSwap).toBeGreaterThan(0);
    expect(text).toBe(straight(scheme));
    expect(Number(res.headers.get("content-length"))).toBe(Buffer.byteLength(text));
    // The next batch is decided against the new one.
    const next = (await (await post(JSON.stringify(BATCH.slice(0, 1)))).json()) as {
      decisions: { reason: string; scheme: { name: string } }[];
    };
    expect(next.decisions[0]).toMatchObject({ reason: "unknown-model", scheme: { name: "newer" } });
  });

  it("stops being decided when its client leaves; nothing is logged and the gateway serves on", async () => {
    const client = new AbortController();
    let lookups = 0;
    t.gateway.snapshot.current = withScheme(
      watched(first.control.scheme, () => {
        if (lookups++ === 0) client.abort();
      }),
    );
    const before = logged.length;
    await expect(post(TEXT, client.signal)).rejects.toThrow();
    // Turn the loop until the batch's work no longer moves (it moves every turn while it runs).
    let last = -1;
    for (let still = 0; still < 50;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (lookups === last) still++;
      else [still, last] = [0, lookups];
    }
    expect(lookups).toBeGreaterThan(0);
    expect(lookups).toBeLessThan(MAX_BATCH);
    expect(logged.slice(before)).toEqual([]);
    const res = await post(JSON.stringify(BATCH.slice(0, 3)));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { decisions: unknown[] }).decisions).toHaveLength(3);
  });
});

describe("a body still arriving when a new snapshot comes in", () => {
  /**
   * `text` posted by `token`, its first bytes sent with the head, `meanwhile` run once the gateway
   * has taken the head, then the rest: the answer's status and body.
   */
  async function trickled(token: string, text: string, meanwhile: () => Promise<void> | void) {
    return trickle(t, "/v1/decisions", { authorization: `Bearer ${token}` }, text, meanwhile, 40);
  }

  it("is decided against the snapshot in force once it is whole, not the one when its head came", async () => {
    const scheme = first.control.scheme;
    const ref = { name: "newer", digest: "sha256:newer" };
    const newer: CompiledScheme = { ...scheme, ...ref, ref, models: new Map() };
    // A license revoked, a partner suspended meanwhile: the answer must not rest on what came before.
    const { body } = await trickled(ADMIN_TOKEN, JSON.stringify(BATCH.slice(0, 1)), () => {
      t.gateway.snapshot.current = withScheme(newer);
    });
    const parsed = JSON.parse(body) as { decisions: { reason: string; scheme: { name: string } }[] };
    expect(parsed.decisions[0]).toMatchObject({ reason: "unknown-model", scheme: { name: "newer" } });
  });

  it("is refused when the reader's token was revoked meanwhile", async () => {
    const token = await createIdentity(t, "mid-body-reader", ["viewer"]);
    const text = JSON.stringify(BATCH.slice(0, 1));
    expect((await trickled(token, text, () => undefined)).status).toBe(200);
    const { status, body } = await trickled(token, text, async () => {
      await asAdmin(t, "POST", "/admin/v1/identities/mid-body-reader/revoke");
    });
    expect(status).toBe(401);
    expect(JSON.parse(body)).toMatchObject({ error: { code: "invalid_admin_token" } });
  });
});

describe("the gateway's decision API reads bodies within the gateway's limits", () => {
  it("limits.json_depth applies to it as to proxied requests", async () => {
    const g = await startTestGateway({ extra: "limits: { json_depth: 8 }" });
    try {
      const nested = `${"[".repeat(20)}${"]".repeat(20)}`;
      const r = await fetch(`${g.url}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: `{"principal":${JSON.stringify(principals[0])},"request":{"model":"mythos-5","x":${nested}}}`,
      });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("json_too_deep");
    } finally {
      await g.gateway.close();
    }
  });
});

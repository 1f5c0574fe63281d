/**
 * Fail closed on an unconfirmed snapshot: when the store stops answering the version check for
 * longer than freshness_ms, or answers with a change this node cannot load, controlled models are
 * refused (a revocation elsewhere may be missing here) while open models stay served; when the
 * store answers again and the change is loaded, service resumes under it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { trickle } from "../testing/trickle.js";

let t: TestGateway;
let storeDown = false;
/** The version check answers, but loading what changed fails. */
let loadFails = false;
let revoke: (keyId: string) => Promise<unknown>;

beforeAll(async () => {
  t = await startTestGateway({
    extra: "freshness_ms: 300",
    // The store's version check fails while storeDown is set, and loading a snapshot while
    // loadFails is; everything else is the real store.
    wrapStore: (s) => {
      revoke = (id) => s.keys.revoke(id, "test");
      return new Proxy(s, {
        get(obj, prop) {
          if (prop === "version" && storeDown) return () => Promise.reject(new Error("refused (test)"));
          if (prop === "snapshot" && loadFails) return () => Promise.reject(new Error("timed out (test)"));
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
    },
  });
});
afterAll(async () => {
  await t.gateway.close();
});

const ask = (model: string) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get("alice")}`,
      "content-type": "application/json",
      "x-test-country": "US",
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }] }),
  });

/** Polls until the gateway's readiness is `status` (no timing is asserted, only the outcome). */
async function untilReady(status: number): Promise<void> {
  await eventually(
    async () => (await fetch(`${t.url}/readyz`)).status,
    (s) => s === status,
  );
}

describe("a snapshot the store cannot confirm", () => {
  it("refuses controlled models with a 503 that says why, and keeps serving open ones", async () => {
    expect((await ask("mythos-5")).status).toBe(200);
    storeDown = true;
    await untilReady(503);
    const refused = await ask("mythos-5");
    expect(refused.status).toBe(503);
    // Refused before it was recorded: the answer claims no decision, and its reason is the refusal's.
    expect(refused.headers.get("x-clearance-decision")).toBe("none");
    expect(refused.headers.get("x-clearance-reason")).toBe("policy_unconfirmed");
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("policy_unconfirmed");
    expect(body.error.message).toMatch(/has not confirmed its policy with the store for \d+ ms/);
    expect(body.error.message).toMatch(/the bound is 300 ms/);
    expect((await ask("mythos-4")).status).toBe(200);
    const ready = (await (await fetch(`${t.url}/readyz`)).json()) as { reasons: string[]; reload: object };
    expect(ready.reasons).toEqual(["the policy has not been confirmed with the store for over 300 ms"]);
    // Why: the reloads fail (to a reader, their error), and the policy in force is past freshness_ms.
    expect(ready.reload).toEqual({ failed: true, within_freshness: false });
    const told = await fetch(`${t.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(told.status).toBe(503);
    expect(((await told.json()) as { reload: object }).reload).toEqual({
      failed: true,
      within_freshness: false,
      code: "Error",
      message: "refused (test)",
      since: expect.any(String),
    });

    storeDown = false;
    await untilReady(200);
    expect((await ask("mythos-5")).status).toBe(200);
  });

  it("a model lookup is refused as the request is (503 policy_unconfirmed), unrecorded; open models answer", async () => {
    const lookup = (model: string) =>
      fetch(`${t.url}/v1/models/${model}`, {
        headers: { authorization: `Bearer ${t.keys.get("alice")}`, "x-test-country": "US" },
      });
    expect((await lookup("mythos-5")).status).toBe(200);
    storeDown = true;
    try {
      await untilReady(503);
      const size = t.gateway.audit.log.size;
      const post = await ask("mythos-5");
      const refused = await lookup("mythos-5");
      // Answered like the POST: no "allow" in the log that the request itself would be refused.
      expect(refused.status).toBe(post.status);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("x-clearance-decision")).toBe("none");
      expect(refused.headers.get("x-clearance-reason")).toBe("policy_unconfirmed");
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(((await post.json()) as { error: { code: string } }).error.code);
      expect(body.error.message).toMatch(/the bound is 300 ms/);
      expect(t.gateway.audit.log.size).toBe(size);
      // An open model needs no one's permission: looked up (and recorded) as it is served.
      expect((await lookup("mythos-4")).status).toBe(200);
      expect(t.gateway.audit.log.size).toBe(size + 1n);
      // The list names only what would be served: not the controlled models refused meanwhile.
      const listed = await fetch(`${t.url}/v1/models`, {
        headers: { authorization: `Bearer ${t.keys.get("alice")}`, "x-test-country": "US" },
      });
      const list = (await listed.json()) as { data: { id: string }[] };
      expect(list.data.map((m) => m.id)).toContain("mythos-4");
      expect(list.data.map((m) => m.id)).not.toContain("mythos-5");
    } finally {
      storeDown = false; // the tests after this one start confirmed, whatever happened here
    }
    await untilReady(200);
    expect((await lookup("mythos-5")).status).toBe(200);
  });

  it("counts a change it cannot load as unconfirmed: a revocation is never missed for long", async () => {
    const key = t.keys.get("alice") as string;
    expect((await ask("mythos-5")).status).toBe(200);
    loadFails = true;
    await revoke(key.split("_")[1] as string);
    // The store answers every version check, with a version this node cannot load.
    await untilReady(503);
    const refused = await ask("mythos-5");
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("policy_unconfirmed");
    expect((await ask("mythos-4")).status).toBe(200);

    // The version check answers; loading what it names does not: that is the reload's error.
    const told = await fetch(`${t.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await told.json()) as { reload: object }).reload).toMatchObject({
      failed: true,
      within_freshness: false,
      message: "timed out (test)",
    });

    loadFails = false;
    await untilReady(200);
    expect(await (await fetch(`${t.url}/readyz`)).json()).not.toHaveProperty("reload");
    // Loaded: the key is revoked.
    expect((await ask("mythos-5")).status).toBe(401);
  });

  it("the decision API refuses too: it answers from the same unconfirmed policy", async () => {
    const decide = () =>
      fetch(`${t.url}/v1/decisions`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          principal: { id: "probe", citizenships: [{ country: "DE" }], organization: "bw-cyber" },
          request: {
            model: "mythos-5",
            action: "infer",
            location: "DE",
            purpose: "cyber-defense",
            time: new Date().toISOString(),
          },
        }),
      });
    expect((await decide()).status).toBe(200);
    storeDown = true;
    await untilReady(503);
    const refused = await decide();
    expect(refused.status).toBe(503);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("policy_unconfirmed");
    expect(body.error.message).toMatch(/the bound is 300 ms\), so decisions are refused/);
    storeDown = false;
    await untilReady(200);
    expect((await decide()).status).toBe(200);
  });

  it("the decision API refuses a body that was still arriving when the policy went unconfirmed", async () => {
    const text = JSON.stringify({
      principal: { id: "probe", citizenships: [{ country: "DE" }], organization: "bw-cyber" },
      request: {
        model: "mythos-5",
        action: "infer",
        location: "DE",
        purpose: "cyber-defense",
        time: new Date().toISOString(),
      },
    });
    // The head, and part of the body, while the policy is confirmed; the rest once it is not.
    const { status, body } = await trickle(
      t,
      "/v1/decisions",
      { authorization: `Bearer ${ADMIN_TOKEN}` },
      text,
      async () => {
        await untilReady(200);
        storeDown = true;
        await untilReady(503);
      },
      40,
    );
    storeDown = false;
    await untilReady(200);
    expect(status).toBe(503);
    expect((JSON.parse(body) as { error: { code: string } }).error.code).toBe("policy_unconfirmed");
  });

  it.each([
    ["openai", false],
    ["openai", true],
    ["anthropic", false],
    ["anthropic", true],
  ] as const)(
    "the data plane refuses a body (%s, stream %s) that was still arriving when the policy went unconfirmed",
    async (wire, stream) => {
      const { key } = await t.gateway.store.keys.create("alice", "slow body");
      await t.gateway.snapshot.refresh();
      const text = JSON.stringify({
        model: "mythos-5",
        stream,
        ...(wire === "anthropic" ? { max_tokens: 16 } : {}),
        messages: [{ role: "user", content: "hello there" }],
      });
      const credentials: Record<string, string> =
        wire === "openai"
          ? { authorization: `Bearer ${key}` }
          : { "x-api-key": key, "anthropic-version": "2023-06-01" };
      const path = wire === "openai" ? "/v1/chat/completions" : "/v1/messages";
      // The head, and part of the body, while the policy is confirmed; the rest once it is not.
      try {
        const res = await trickle(t, path, { ...credentials, "x-test-country": "US" }, text, async () => {
          storeDown = true;
          await untilReady(503);
        });
        expect({ status: res.status, reason: res.headers["x-clearance-reason"] }).toEqual({
          status: 503,
          reason: "policy_unconfirmed",
        });
      } finally {
        storeDown = false;
      }
      await untilReady(200);
    },
  );
});

/**
 * An alert's automatic suspension stored while this node's reload right after it fails: the
 * revocation stands (durable, audited, in force at the next successful reload here and at the next
 * poll elsewhere), and the alert's response says it was not yet in force on this node, as an admin
 * change's answer does (`not_yet_in_force`). Before, only `/readyz` and the log said the reload
 * failed: the alert read "key … revoked" while this node still let the key through.
 */
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEntries, chat, eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import type { AlertRecord } from "../store/alerts.js";

let t: TestGateway;
/** The store's version check fails, as a PostgreSQL that refuses connections would; writes go through. */
let storeDown = false;

beforeAll(async () => {
  t = await startTestGateway({
    extra: "freshness_ms: 600000",
    monitoring: "{ alerts: { impossible_travel: { response: suspend } } }",
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop) {
          if (prop === "version" && storeDown)
            return () =>
              Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      }),
  });
});
afterAll(async () => {
  await t.gateway.close();
});

/** Whether this node still takes the API key (any answer but 401). */
const keyTaken = async (key: string, country = "US") => {
  const r = await chat(t.url, key, country, "mythos-4");
  await r.text();
  return r.status !== 401;
};

/** The principal's impossible-travel alert, once its response is recorded (and `told`, if asked). */
const answered = async (
  principal: string,
  told: (r: NonNullable<AlertRecord["response"]>) => boolean = () => true,
): Promise<AlertRecord | undefined> =>
  (
    await eventually(
      () => t.gateway.store.alerts.list({ detector: "impossible-travel" }),
      (l) => l.some((a) => a.subject.id === principal && a.response !== null && told(a.response)),
    )
  ).find((a) => a.subject.id === principal);

describe("an alert's automatic suspension", () => {
  it("stored while this node cannot reload: the alert's response says it is not yet in force here", async () => {
    const key = t.keys.get("alice") as string;
    const { alert, stillTaken } = await (async () => {
      storeDown = true;
      try {
        expect(await keyTaken(key, "US")).toBe(true);
        expect(await keyTaken(key, "AU")).toBe(true);
        // Recorded at once; told not in force once this node's reload after it has failed.
        const a = await answered("alice", (r) => r.not_yet_in_force !== undefined);
        return { alert: a, stillTaken: await keyTaken(key, "US") };
      } finally {
        storeDown = false;
      }
    })();
    expect(alert?.response).toMatchObject({
      action: "suspend",
      result: expect.stringMatching(/^key \w+ revoked$/),
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(alert?.response?.not_yet_in_force?.message).toMatch(
      new RegExp(
        `^alert ${alert?.id}'s suspension was changed in the store, but is not yet in force on node ${hostname()}: ` +
          "it could not reload from the store \\(ECONNREFUSED: connect ECONNREFUSED\\)",
      ),
    );
    // What it is about: this node let the key through until it could reload.
    expect(stillTaken).toBe(true);
    await eventually(
      () => keyTaken(key),
      (taken) => !taken,
    );
    // The audit log says so too, after the response (recorded at once, before the reload).
    const entries = await eventually(
      () => auditEntries(t),
      (e) => e.some((x) => x.action === "alert.not_in_force"),
    );
    expect(entries.find((x) => x.action === "alert.respond")).toMatchObject({
      details: { action: "suspend", result: expect.stringMatching(/revoked$/) },
    });
    expect(entries.find((x) => x.action === "alert.not_in_force")).toMatchObject({
      object: { id: alert?.id },
      details: { not_yet_in_force: { code: "reload_failed" } },
    });
  });

  it("taken by this node at once: nothing more is said", async () => {
    const key = t.keys.get("benoit") as string;
    expect(await keyTaken(key, "US")).toBe(true);
    expect(await keyTaken(key, "AU")).toBe(true);
    await answered("benoit");
    // The response is recorded before this node's reload, which then takes the revocation in.
    await eventually(
      () => keyTaken(key),
      (taken) => !taken,
    );
    const alert = await answered("benoit");
    expect(alert?.response).toMatchObject({ action: "suspend", result: expect.stringMatching(/revoked$/) });
    expect(alert?.response).not.toHaveProperty("not_yet_in_force");
  });
});

/** The alert part of the store contract (called from suite.ts). Test-only. */
import { expect, it } from "vitest";
import type { NewAlert } from "./alerts.js";
import { StoreError, type Store } from "./index.js";

const alert = (over: Partial<NewAlert> = {}): NewAlert => ({
  dedupeKey: "key-sharing:key:k1:req-9",
  detector: "key-sharing",
  severity: "high",
  subject: { kind: "key", id: "k1" },
  summary: "key k1 used from 3 countries within 1 h",
  evidence: { audit_indexes: ["12", "40", "41"], details: { countries: ["US", "FR", "JP"] } },
  raisedAt: "2030-01-02T03:04:05.000Z",
  deliver: true,
  ...over,
});

export function alertSuite(store: () => Store): void {
  it("raises an alert once per dedupe key, and audits it", async () => {
    const s = store();
    const first = await s.alerts.raise(alert(), "detector:key-sharing");
    expect(first.created).toBe(true);
    expect(first.alert).toMatchObject({ state: "open", severity: "high", delivery: { state: "pending" } });
    const again = await s.alerts.raise(alert({ summary: "other" }), "detector:key-sharing");
    expect(again).toEqual({ alert: first.alert, created: false });
    expect(await s.alerts.get(first.alert.id)).toEqual(first.alert);
    const outbox = await s.outbox.list(0, 100);
    expect(outbox.filter((r) => r.action === "alert.raise")).toHaveLength(1);
    expect(outbox.at(-1)).toMatchObject({
      actor: "detector:key-sharing",
      object: { kind: "alert", id: first.alert.id },
    });
  });

  it("moves open → acknowledged → resolved, each step audited, and refuses other steps", async () => {
    const s = store();
    const { alert: a } = await s.alerts.raise(alert(), "detector:key-sharing");
    const acked = await s.alerts.transition(a.id, "acknowledged", "officer", "looking");
    expect(acked?.state).toBe("acknowledged");
    await expect(s.alerts.transition(a.id, "acknowledged", "officer", null)).rejects.toBeInstanceOf(
      StoreError,
    );
    const resolved = await s.alerts.transition(a.id, "resolved", "officer", "the partner rotated the key");
    expect(resolved?.history.map((h) => [h.state, h.actor])).toEqual([
      ["open", "detector:key-sharing"],
      ["acknowledged", "officer"],
      ["resolved", "officer"],
    ]);
    await expect(s.alerts.transition(a.id, "resolved", "officer", null)).rejects.toMatchObject({
      code: "conflict",
    });
    expect(await s.alerts.transition("alr_nope", "resolved", "officer", null)).toBeUndefined();
    const actions = (await s.outbox.list(0, 100)).map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(["alert.raise", "alert.acknowledge", "alert.resolve"]));
  });

  it("lists by state, detector and subject; records the response", async () => {
    const s = store();
    const { alert: a } = await s.alerts.raise(alert(), "d");
    await s.alerts.raise(
      alert({ dedupeKey: "x", detector: "impossible-travel", subject: { kind: "principal", id: "p" } }),
      "d",
    );
    await s.alerts.transition(a.id, "resolved", "o", null);
    expect((await s.alerts.list()).length).toBe(2);
    expect((await s.alerts.list({ state: "open" })).map((x) => x.detector)).toEqual(["impossible-travel"]);
    expect((await s.alerts.list({ subjectKind: "key", subjectId: "k1" })).map((x) => x.id)).toEqual([a.id]);
    await s.alerts.respond(a.id, { action: "suspend-key", result: "key k1 revoked" }, "detector:key-sharing");
    expect((await s.alerts.get(a.id))?.response).toMatchObject({ action: "suspend-key" });
  });

  it("hands out pending deliveries once per lease, until delivered", async () => {
    const s = store();
    const { alert: a } = await s.alerts.raise(alert(), "d");
    await s.alerts.raise(alert({ dedupeKey: "quiet", deliver: false }), "d");
    const t0 = "2030-01-02T03:04:06.000Z";
    const claimed = await s.alerts.due(t0, "2030-01-02T03:04:36.000Z", 10);
    expect(claimed.map((x) => [x.id, x.delivery.attempts])).toEqual([[a.id, 1]]);
    expect(await s.alerts.due(t0, "2030-01-02T03:05:00.000Z", 10)).toEqual([]);
    await s.alerts.retry(a.id, "2030-01-02T03:04:10.000Z", "connect ECONNREFUSED");
    expect((await s.alerts.due("2030-01-02T03:04:10.000Z", "2030-01-02T03:04:40.000Z", 10)).length).toBe(1);
    await s.alerts.delivered(a.id, "2030-01-02T03:04:11.000Z");
    expect(await s.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:00:30.000Z", 10)).toEqual([]);
    expect((await s.alerts.get(a.id))?.delivery).toMatchObject({ state: "delivered", attempts: 2 });
  });
}

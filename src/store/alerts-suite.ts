/** The alert part of the store contract (called from suite.ts). Test-only. */
import { expect, it, vi } from "vitest";
import { AlertService } from "../alerts/service.js";
import { configSchema } from "../config/schema.js";
import { loadSchemeFile } from "../scheme/index.js";
import { deliveredAt, newAlertRecord, type AlertRecord, type NewAlert } from "./alerts.js";
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

  it("hands out a subject's alerts one at a time, in the order raised: a later one waits while an earlier one is pending", async () => {
    const s = store();
    const at = (second: number) => `2030-01-02T03:04:${String(second).padStart(2, "0")}.000Z`;
    const raised = async (key: string, second: number, subject = { kind: "key" as const, id: "k1" }) =>
      (await s.alerts.raise(alert({ dedupeKey: key, raisedAt: at(second), subject }), "d")).alert.id;
    const a1 = await raised("a1", 5);
    const a2 = await raised("a2", 6);
    const a3 = await raised("a3", 7);
    const b1 = await raised("b1", 8, { kind: "key", id: "k2" });
    const ids = async (now: number) =>
      (await s.alerts.due(at(now), "2031-01-01T00:00:00.000Z", 10)).map((x) => x.id);
    // One per subject: k1's first, and k2's.
    expect(await ids(10)).toEqual([a1, b1]);
    // a1's delivery failed, to be tried again later: a2 and a3 are not handed out before it.
    await s.alerts.retry(a1, at(30), "connect ECONNREFUSED");
    await s.alerts.delivered(b1, at(11));
    expect(await ids(20)).toEqual([]);
    expect(await ids(30)).toEqual([a1]);
    await s.alerts.delivered(a1, at(31));
    expect(await ids(31)).toEqual([a2]);
    await s.alerts.delivered(a2, at(32));
    expect(await ids(32)).toEqual([a3]);
  });

  it("never hands out two alerts of a subject at once: one raised late, dated before the one in flight, waits for it", async () => {
    const s = store();
    const at = (second: number) => `2030-01-02T03:04:${String(second).padStart(2, "0")}.000Z`;
    const raised = async (key: string, second: number) =>
      (
        await s.alerts.raise(
          alert({ dedupeKey: key, raisedAt: at(second), subject: { kind: "principal", id: "p-1" } }),
          "d",
        )
      ).alert.id;
    const ids = async (now: number, leaseUntil = at(59)) =>
      (await s.alerts.due(at(now), leaseUntil, 10)).map((x) => x.id);
    // a1 (dated :07) is claimed; a0, dated :05 but stored after (a late sighting, another node's),
    // has the smaller id, and was handed out beside a1 while a1 was in flight.
    const a1 = await raised("a1", 7);
    expect(await ids(8, at(20))).toEqual([a1]);
    const a0 = await raised("a0", 5);
    expect(await ids(9)).toEqual([]);
    // a1 failed and waits for its retry: a0 still waits (a1 may have reached the receiver).
    await s.alerts.retry(a1, at(15), "the receiver answered 503");
    expect(await ids(10)).toEqual([]);
    // A lease run out (its node gone) hands a1 out again, and only a1.
    expect(await ids(16, at(18))).toEqual([a1]);
    expect(await ids(19)).toEqual([a1]);
    await s.alerts.delivered(a1, at(20));
    // Then a0, and a later one of p-1 after it.
    const a2 = await raised("a2", 21);
    expect(await ids(22)).toEqual([a0]);
    await s.alerts.delivered(a0, at(23));
    expect(await ids(24)).toEqual([a2]);
  });

  it("says which alert each held alert waits behind", async () => {
    const s = store();
    const raised = async (key: string, second: number, deliver = true) =>
      (
        await s.alerts.raise(
          alert({ dedupeKey: key, raisedAt: `2030-01-02T03:04:0${second}.000Z`, deliver }),
          "d",
        )
      ).alert.id;
    const [a1, a2, a3, quiet] = [
      await raised("a1", 1),
      await raised("a2", 2),
      await raised("a3", 3),
      await raised("q", 4, false),
    ];
    const behind = async () =>
      Object.fromEntries(await s.alerts.heldBehind([a1!, a2!, a3!, quiet!, "alr_nope", "x\u0000"]));
    expect(await behind()).toEqual({ [a2!]: a1, [a3!]: a1 });
    await s.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:01:00.000Z", 10);
    await s.alerts.delivered(a1!, "2031-01-01T00:00:01.000Z");
    expect(await behind()).toEqual({ [a3!]: a2 });
    expect(await s.alerts.heldBehind([])).toEqual(new Map());
  });

  it("lists a page at a time, filtered in the database, after a cursor", async () => {
    const s = store();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { alert: a } = await s.alerts.raise(
        alert({
          dedupeKey: `page-${i}`,
          detector: i % 3 === 0 ? "impossible-travel" : "key-sharing",
          subject: i % 2 === 0 ? { kind: "principal", id: `p${i % 4}` } : { kind: "key", id: `k${i}` },
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        }),
        "d",
      );
      ids.push(a.id);
    }
    await s.alerts.transition(ids[4] as string, "resolved", "o", null);
    const page = (p: Awaited<ReturnType<Store["alerts"]["list"]>>) => p.map((a) => ids.indexOf(a.id));
    expect(page(await s.alerts.list({}, { limit: 5 }))).toEqual([0, 1, 2, 3, 4]);
    expect(page(await s.alerts.list({}, { after: ids[4] as string, limit: 5 }))).toEqual([5, 6, 7, 8, 9]);
    expect(page(await s.alerts.list({}, { after: ids[9] as string, limit: 5 }))).toEqual([10, 11]);
    expect(page(await s.alerts.list({ detector: "impossible-travel" }, { limit: 2 }))).toEqual([0, 3]);
    expect(page(await s.alerts.list({ subjectId: "p0" }))).toEqual([0, 4, 8]);
    expect(page(await s.alerts.list({ subjectKind: "principal", subjectId: "p0", state: "open" }))).toEqual([
      0, 8,
    ]);
    expect(page(await s.alerts.list({ subjectKind: "key" }, { after: ids[5] as string, limit: 2 }))).toEqual([
      7, 9,
    ]);
    expect(page(await s.alerts.list({ state: "resolved" }))).toEqual([4]);
    // Newest first: the same filters and indexes, walked backwards from the cursor.
    expect(page(await s.alerts.list({}, { newest: true, limit: 5 }))).toEqual([11, 10, 9, 8, 7]);
    expect(page(await s.alerts.list({}, { newest: true, after: ids[7] as string, limit: 5 }))).toEqual([
      6, 5, 4, 3, 2,
    ]);
    expect(page(await s.alerts.list({ detector: "impossible-travel" }, { newest: true, limit: 2 }))).toEqual([
      9, 6,
    ]);
    expect(
      page(await s.alerts.list({ subjectKind: "key" }, { newest: true, after: ids[5] as string })),
    ).toEqual([3, 1]);
  });

  it("counts the alerts a filter lists, in the database, without reading them", async () => {
    const s = store();
    expect(await s.alerts.count()).toBe(0);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const { alert: a } = await s.alerts.raise(
        alert({
          dedupeKey: `count-${i}`,
          detector: i % 3 === 0 ? "impossible-travel" : "key-sharing",
          subject: { kind: "principal", id: `p${i % 2}` },
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        }),
        "d",
      );
      ids.push(a.id);
    }
    await s.alerts.transition(ids[0] as string, "resolved", "o", null);
    await s.alerts.transition(ids[1] as string, "acknowledged", "o", null);
    const filters = [
      {},
      { state: "open" },
      { state: "resolved" },
      { detector: "impossible-travel" },
      { state: "open", detector: "key-sharing", subjectKind: "principal", subjectId: "p1" },
      { subjectId: "nobody" },
      { subjectId: "p\u00000" },
    ] as const;
    for (const f of filters)
      expect(await s.alerts.count(f), JSON.stringify(f)).toBe((await s.alerts.list(f)).length);
    expect(await s.alerts.count({ state: "open" })).toBe(5);
  });

  it("a filter or cursor holding a NUL lists as on every driver (PostgreSQL refused it: an internal error)", async () => {
    const s = store();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { alert: a } = await s.alerts.raise(
        alert({
          dedupeKey: `nul-${i}`,
          subject: { kind: "principal", id: "p0" },
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        }),
        "d",
      );
      ids.push(a.id);
    }
    const page = (p: Awaited<ReturnType<Store["alerts"]["list"]>>) => p.map((a) => ids.indexOf(a.id));
    // No alert's subject, detector or state holds a NUL: nothing matches.
    expect(await s.alerts.list({ subjectId: "p0\u0000" })).toEqual([]);
    expect(await s.alerts.list({ detector: "key-sharing\u0000x" })).toEqual([]);
    // A cursor compares as text: "id\0…" sorts right after "id" (no id holds a NUL).
    expect(page(await s.alerts.list({ subjectId: "p0" }, { after: `${ids[1]}\u0000x` }))).toEqual([2, 3]);
    expect(page(await s.alerts.list({}, { newest: true, after: `${ids[2]}\u0000` }))).toEqual([2, 1, 0]);
    expect(page(await s.alerts.list({}, { after: "\u0000", limit: 2 }))).toEqual([0, 1]);
  });

  it("a page reads only its own alerts, not the whole table", async () => {
    const s = store();
    for (let i = 0; i < 200; i++)
      await s.alerts.raise(
        alert({
          dedupeKey: `cost-${i}`,
          subject: { kind: "principal", id: i === 150 ? "rare" : `p${i % 9}` },
        }),
        "d",
      );
    // Each alert read is one JSON.parse of its document: counted while the lists run.
    const parse = vi.spyOn(JSON, "parse");
    try {
      expect(await s.alerts.list({ subjectId: "rare" }, { limit: 10 })).toHaveLength(1);
      expect(await s.alerts.list({ state: "open" }, { limit: 10 })).toHaveLength(10);
      expect(await s.alerts.pendingResponses(null, 10)).toEqual([]);
      expect(parse.mock.calls.length).toBeLessThan(40);
    } finally {
      parse.mockRestore();
    }
  });

  it("lists most severe first, the newest first within a severity, a page at a time after a cursor", async () => {
    const s = store();
    const ids: string[] = [];
    // The oldest is critical, the others newer and mostly less severe.
    const severities = ["critical", "low", "high", "medium", "critical", "low", "high", "critical"] as const;
    for (const [i, severity] of severities.entries()) {
      const { alert: a } = await s.alerts.raise(
        alert({
          dedupeKey: `severity-${i}`,
          severity,
          detector: i % 2 === 0 ? "impossible-travel" : "key-sharing",
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        }),
        "d",
      );
      ids.push(a.id);
    }
    await s.alerts.transition(ids[7] as string, "resolved", "o", null);
    const page = (p: Awaited<ReturnType<Store["alerts"]["list"]>>) => p.map((a) => ids.indexOf(a.id));
    const open = { state: "open" } as const;
    expect(page(await s.alerts.list(open, { mostSevere: true }))).toEqual([4, 0, 6, 2, 3, 5, 1]);
    expect(page(await s.alerts.list(open, { mostSevere: true, limit: 3 }))).toEqual([4, 0, 6]);
    // The cursor: the last alert of a page, whatever its severity.
    expect(page(await s.alerts.list(open, { mostSevere: true, after: ids[0] as string, limit: 3 }))).toEqual([
      6, 2, 3,
    ]);
    expect(page(await s.alerts.list(open, { mostSevere: true, after: ids[3] as string }))).toEqual([5, 1]);
    expect(page(await s.alerts.list(open, { mostSevere: true, after: ids[1] as string }))).toEqual([]);
    // A cursor alert no longer open still marks its place; other filters and no filter too.
    expect(page(await s.alerts.list(open, { mostSevere: true, after: ids[7] as string }))).toEqual([
      4, 0, 6, 2, 3, 5, 1,
    ]);
    expect(page(await s.alerts.list({}, { mostSevere: true, limit: 2 }))).toEqual([7, 4]);
    expect(page(await s.alerts.list({ detector: "key-sharing" }, { mostSevere: true }))).toEqual([
      7, 3, 5, 1,
    ]);
    // A cursor that is no alert's id (one holding a NUL, on every driver): an empty page.
    expect(await s.alerts.list(open, { mostSevere: true, after: "alr_nope" })).toEqual([]);
    expect(await s.alerts.list(open, { mostSevere: true, after: `${ids[4]}\u0000x` })).toEqual([]);
    // Acknowledged and resolved steps rewrite the row: the rank stays the document's.
    await s.alerts.transition(ids[4] as string, "acknowledged", "o", null);
    expect(page(await s.alerts.list({ state: "acknowledged" }, { mostSevere: true }))).toEqual([4]);
    expect(page(await s.alerts.list(open, { mostSevere: true, limit: 2 }))).toEqual([0, 6]);
  });

  it("the open alerts most severe first are ordered in the database: only the page's alerts read", async () => {
    const s = store();
    for (let i = 0; i < 60; i++)
      await s.alerts.raise(
        alert({
          dedupeKey: `severe-cost-${i}`,
          severity: i === 3 ? "critical" : "low",
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        }),
        "d",
      );
    // Each alert read is one JSON.parse of its document: counted while the list runs.
    const parse = vi.spyOn(JSON, "parse");
    try {
      const top = await s.alerts.list({ state: "open" }, { mostSevere: true, limit: 5 });
      expect(top.map((a) => a.severity)).toEqual(["critical", "low", "low", "low", "low"]);
      expect(parse.mock.calls.length).toBeLessThan(20);
    } finally {
      parse.mockRestore();
    }
  });

  it("filters by one severity or several, in the database, in every order and in a count", async () => {
    const s = store();
    const ids: string[] = [];
    const severities = ["critical", "low", "high", "medium", "critical", "low", "high", "critical"] as const;
    for (const [i, severity] of severities.entries()) {
      const { alert: a } = await s.alerts.raise(
        alert({
          dedupeKey: `by-severity-${i}`,
          severity,
          detector: i % 2 === 0 ? "impossible-travel" : "key-sharing",
          subject: { kind: "principal", id: `p${i % 3}` },
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        }),
        "d",
      );
      ids.push(a.id);
    }
    await s.alerts.transition(ids[7] as string, "resolved", "o", null);
    const page = (p: Awaited<ReturnType<Store["alerts"]["list"]>>) => p.map((a) => ids.indexOf(a.id));
    const critical = { severities: ["critical"] } as const;
    expect(page(await s.alerts.list(critical))).toEqual([0, 4, 7]);
    expect(page(await s.alerts.list(critical, { newest: true, limit: 2 }))).toEqual([7, 4]);
    expect(page(await s.alerts.list(critical, { after: ids[0] as string }))).toEqual([4, 7]);
    expect(page(await s.alerts.list({ ...critical, state: "open" }, { mostSevere: true }))).toEqual([4, 0]);
    // Several: any of them, whatever order they are given in (and given twice).
    const severe = { severities: ["critical", "high", "critical"] } as const;
    expect(page(await s.alerts.list(severe))).toEqual([0, 2, 4, 6, 7]);
    expect(page(await s.alerts.list(severe, { newest: true, after: ids[6] as string }))).toEqual([4, 2, 0]);
    expect(page(await s.alerts.list(severe, { mostSevere: true }))).toEqual([7, 4, 0, 6, 2]);
    expect(page(await s.alerts.list(severe, { mostSevere: true, after: ids[0] as string }))).toEqual([6, 2]);
    expect(page(await s.alerts.list({ ...severe, state: "open" }, { mostSevere: true, limit: 3 }))).toEqual([
      4, 0, 6,
    ]);
    // With the other filters.
    expect(page(await s.alerts.list({ severities: ["low"], detector: "key-sharing" }))).toEqual([1, 5]);
    expect(page(await s.alerts.list({ ...severe, subjectId: "p0" }, { mostSevere: true }))).toEqual([0, 6]);
    expect(await s.alerts.list({ severities: ["medium"], state: "resolved" })).toEqual([]);
    // No severity listed: every severity.
    expect(await s.alerts.list({ severities: [] })).toHaveLength(8);
    const filters = [
      critical,
      severe,
      { ...critical, state: "open" },
      { severities: ["low", "medium"], detector: "key-sharing" },
      { ...severe, subjectKind: "principal", subjectId: "p1" },
    ] as const;
    for (const f of filters)
      expect(await s.alerts.count(f), JSON.stringify(f)).toBe((await s.alerts.list(f)).length);
  });

  it("marks alerts raised to be suspended as pending until answered or resolved; never others", async () => {
    const s = store();
    let n = 0;
    const raise = async (key: string, response?: "notify" | "suspend") => {
      // A second apart: ids sort in the order raised.
      const raisedAt = new Date(Date.parse("2030-01-02T03:04:05.000Z") + n++ * 1000).toISOString();
      const a = alert({ dedupeKey: key, raisedAt, ...(response === undefined ? {} : { response }) });
      return (await s.alerts.raise(a, "d")).alert;
    };
    const notified = await raise("notify", "notify");
    const unsaid = await raise("unsaid");
    const answered = await raise("answered", "suspend");
    const resolved = await raise("resolved", "suspend");
    const waiting = await raise("waiting", "suspend");
    expect([notified, unsaid, answered].map((a) => a.intended_response)).toEqual([
      "notify",
      "notify",
      "suspend",
    ]);
    const pending = async () => (await s.alerts.pendingResponses(null, 10)).map((a) => a.id);
    expect(await pending()).toEqual([answered.id, resolved.id, waiting.id]);
    await s.alerts.respond(answered.id, { action: "suspend", result: "key k1 revoked" }, "detector:d");
    await s.alerts.transition(resolved.id, "resolved", "officer", "handled by hand");
    // Delivery and acknowledgement rewrite the row: the marker stays what the document says.
    await s.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:00:30.000Z", 10);
    await s.alerts.transition(waiting.id, "acknowledged", "officer", null);
    expect(await pending()).toEqual([waiting.id]);
    expect((await s.alerts.pendingResponses(waiting.id, 10)).length).toBe(0);
    // A second answer (another node's retry) changes nothing and is not audited again.
    expect(
      await s.alerts.respond(answered.id, { action: "suspend", result: "key k1 unknown" }, "detector:d"),
    ).toBe(false);
    expect((await s.alerts.get(answered.id))?.response?.result).toBe("key k1 revoked");
    const responds = (await s.outbox.list(0, 100)).filter((r) => r.action === "alert.respond");
    expect(responds).toHaveLength(1);
  });

  it("a recorded response is told later that it is not yet in force on the node that took it, once", async () => {
    const s = store();
    const a = (await s.alerts.raise(alert({ dedupeKey: "not-in-force", response: "suspend" }), "d")).alert;
    const pending = { code: "reload_failed", message: "not yet in force on this node" };
    // No response yet: nothing to add to.
    await s.alerts.responseNotInForce(a.id, pending, "detector:d");
    expect((await s.alerts.get(a.id))?.response).toBeNull();
    expect(await s.alerts.respond(a.id, { action: "suspend", result: "key k1 revoked" }, "detector:d")).toBe(
      true,
    );
    await s.alerts.responseNotInForce(a.id, pending, "detector:d");
    await s.alerts.responseNotInForce(a.id, { ...pending, message: "again" }, "detector:d");
    expect((await s.alerts.get(a.id))?.response).toMatchObject({
      action: "suspend",
      result: "key k1 revoked",
      not_yet_in_force: pending,
    });
    const told = (await s.outbox.list(0, 1000)).filter(
      (r) => r.action === "alert.not_in_force" && r.object.id === a.id,
    );
    expect(told).toHaveLength(1);
    expect(told[0]?.details).toMatchObject({ not_yet_in_force: pending, detector: a.detector });
  });
}

/**
 * An alert as stored before migration 9: no intended response in it, no response_state column.
 * Raised in 2030, after any key a test issues: only the missing marker keeps it from being suspended.
 */
export const OLD_ALERT: AlertRecord = {
  id: "alr_0o5vwtx1k0a1b2c3d4e",
  detector: "embargoed-attempt",
  severity: "medium",
  subject: { kind: "principal", id: "zoe" },
  summary: "zoe was refused for an embargo (embargoed-location, from IR)",
  evidence: { audit_indexes: ["7"], details: { reason: "embargoed-location", country: "IR" } },
  raised_at: "2030-01-02T03:04:05.000Z",
  state: "open",
  history: [
    { state: "open", actor: "detector:embargoed-attempt", at: "2030-01-02T03:04:05.000Z", note: null },
  ],
  response: null,
  delivery: { state: "none", attempts: 0, next_at: null, delivered_at: null, last_error: null },
};

/** Its row in migration 7's columns (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, document). */
export const OLD_ALERT_ROW = [
  OLD_ALERT.id,
  "embargoed-attempt:principal:zoe:r7",
  OLD_ALERT.state,
  OLD_ALERT.detector,
  OLD_ALERT.subject.kind,
  OLD_ALERT.subject.id,
  OLD_ALERT.delivery.state,
  null,
  JSON.stringify(OLD_ALERT),
];

/**
 * A store migrated with OLD_ALERT stored before migration 9 (both drivers' upgrade tests): the
 * detector switched to suspend since, a retry round leaves it alone, and it is listed as before.
 */
export async function oldAlertStaysQuiet(store: Store): Promise<void> {
  await store.principals.put({ id: "zoe", citizenships: [{ country: "FR" }] });
  await store.keys.create("zoe", "laptop");
  const c = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
  const service = await AlertService.open({
    config: { ...c, embargoed_attempts: { ...c.embargoed_attempts, response: "suspend" } },
    store,
    scheme: () => loadSchemeFile("examples/g7-trusted-partners.yaml"),
    licenseUsage: async () => 0,
    changed: async () => {},
    onError: (err) => {
      throw err;
    },
  });
  await service.retryResponses(new Date("2031-01-01T00:00:00Z"));
  await service.close();
  expect((await store.keys.list("zoe")).map((k) => k.revokedAt)).toEqual([null]);
  expect(await store.alerts.list({ subjectId: "zoe" })).toEqual([OLD_ALERT]);
  expect(await store.alerts.pendingResponses(null, 10)).toEqual([]);
}

/**
 * Alerts pending delivery when migration 13 runs, as rows in migration 12's columns (id,
 * dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at,
 * response_state, document): key k1's three, k2's one, and k1's fourth already delivered.
 */
export const PENDING_AT_UPGRADE: readonly (string | null)[][] = [
  ["k1", 5],
  ["k1", 6],
  ["k2", 7],
  ["k1", 8],
  ["k1", 4, "delivered"],
].map(([key, second, delivered]) => {
  let a = newAlertRecord(
    alert({
      dedupeKey: `upgrade-${key}-${second}`,
      subject: { kind: "key", id: key as string },
      raisedAt: `2030-01-02T03:04:0${second}.000Z`,
    }),
    "d",
  );
  if (delivered !== undefined) a = deliveredAt(a, a.raised_at);
  return [
    a.id,
    `upgrade-${key}-${second}`,
    a.state,
    a.detector,
    a.subject.kind,
    a.subject.id,
    a.delivery.state,
    a.delivery.next_at,
    null,
    JSON.stringify(a),
  ];
});

/**
 * A store migrated with PENDING_AT_UPGRADE stored before migration 13 (both drivers' upgrade
 * tests): each subject's oldest goes first, the others one at a time after it, none left behind.
 */
export async function pendingGoInOrder(store: Store): Promise<void> {
  const [k1a, k1b, k2, k1c] = PENDING_AT_UPGRADE.map((r) => r[0] as string);
  const due = async () =>
    (await store.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:01:00.000Z", 10)).map((a) => a.id);
  expect(await due()).toEqual([k1a, k2]);
  await store.alerts.delivered(k1a!, "2031-01-01T00:00:01.000Z");
  await store.alerts.delivered(k2!, "2031-01-01T00:00:01.000Z");
  expect(await due()).toEqual([k1b]);
  await store.alerts.delivered(k1b!, "2031-01-01T00:00:02.000Z");
  expect(await due()).toEqual([k1c]);
  await store.alerts.delivered(k1c!, "2031-01-01T00:00:03.000Z");
  expect(await due()).toEqual([]);
  expect((await store.alerts.list()).map((a) => a.delivery.state)).toEqual(Array(5).fill("delivered"));
}

/**
 * A rolling upgrade to migration 13: a node of the release before it delivers a head as that
 * release did (`asOldRelease`: the driver's own write of its columns, nothing else), and the
 * subject's next alert, held, has no head. `restoreHeads` makes it the head; the others stay held.
 * An alert of that subject raised before then does the same first, and is held.
 */
export async function headsRestoredAfterOldRelease(
  store: Store,
  asOldRelease: (delivered: AlertRecord) => Promise<void>,
): Promise<void> {
  const raised = async (key: string, second: number, id = "k1") =>
    (
      await store.alerts.raise(
        alert({ dedupeKey: key, raisedAt: `2030-01-02T03:04:0${second}.000Z`, subject: { kind: "key", id } }),
        "d",
      )
    ).alert.id;
  const [a1, a2, a3] = [await raised("a1", 1), await raised("a2", 2), await raised("a3", 3)];
  const b1 = await raised("b1", 4, "k2");
  const due = async () =>
    (await store.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:01:00.000Z", 10)).map((a) => a.id);
  const [claimed] = await store.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:01:00.000Z", 1);
  expect(claimed?.id).toBe(a1);
  await asOldRelease(deliveredAt(claimed!, "2031-01-01T00:00:01.000Z"));
  // k1's a2 and a3 are held with no head: only k2's goes.
  expect(await due()).toEqual([b1]);
  expect(await due()).toEqual([]);
  // k2 has its head in flight: left alone.
  expect(await store.alerts.restoreHeads()).toBe(1);
  expect(await store.alerts.restoreHeads()).toBe(0);
  expect(await due()).toEqual([a2]);
  await store.alerts.delivered(a2!, "2031-01-01T00:00:02.000Z");
  expect(await due()).toEqual([a3]);

  // Again, with an alert raised before the next restoreHeads: it goes after those held before it,
  // not ahead of them (it was made the head, the subject having none).
  const [a4, a5] = [await raised("a4", 5), await raised("a5", 6)];
  await asOldRelease(deliveredAt((await store.alerts.get(a3!))!, "2031-01-01T00:00:03.000Z"));
  const a6 = await raised("a6", 7);
  expect(await store.alerts.heldBehind([a4!, a5!, a6!])).toEqual(
    new Map([
      [a5, a4],
      [a6, a4],
    ]),
  );
  expect(await due()).toEqual([a4]);
  expect(await store.alerts.restoreHeads()).toBe(0);
  await store.alerts.delivered(a4!, "2031-01-01T00:00:04.000Z");
  expect(await due()).toEqual([a5]);
  await store.alerts.delivered(a5!, "2031-01-01T00:00:05.000Z");
  expect(await due()).toEqual([a6]);
}

/**
 * Alerts stored before migration 17 (no severity_rank column): as a release before it wrote them,
 * one of each severity, the critical one the oldest. Columns: id, dedupe_key, state, detector,
 * subject_kind, subject_id, delivery_state, next_delivery_at, response_state, document.
 */
export const BEFORE_SEVERITY_RANK: readonly (string | null)[][] = (
  ["critical", "low", "high", "medium"] as const
).map((severity, i) => {
  const a = newAlertRecord(
    {
      dedupeKey: `before-17-${i}`,
      detector: "volume-spike",
      severity,
      subject: { kind: "principal", id: `p${i}` },
      summary: `${severity} before migration 17`,
      evidence: { audit_indexes: [], details: {} },
      raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
      deliver: false,
    },
    "detector:volume-spike",
  );
  return [
    a.id,
    `before-17-${i}`,
    a.state,
    a.detector,
    a.subject.kind,
    a.subject.id,
    "none",
    null,
    null,
    JSON.stringify(a),
  ];
});

/** The old release's INSERT of a BEFORE_SEVERITY_RANK row (`$n`: the driver's placeholders). */
export const INSERT_BEFORE_SEVERITY_RANK = `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind,
  subject_id, delivery_state, next_delivery_at, response_state, document)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;

/**
 * A store migrated with BEFORE_SEVERITY_RANK's first two rows stored before migration 17, and its
 * last two written since by a node of the release before it (during a rolling upgrade): all listed
 * most severe first.
 */
export async function rankedAfterUpgrade(store: Store): Promise<void> {
  const listed = await store.alerts.list({ state: "open" }, { mostSevere: true });
  expect(listed.map((a) => a.severity)).toEqual(["critical", "high", "medium", "low"]);
  expect(listed.map((a) => a.id)).toEqual([0, 2, 3, 1].map((i) => BEFORE_SEVERITY_RANK[i]?.[0]));
}

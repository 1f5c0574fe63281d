/**
 * GET /admin/v1/alerts over HTTP: a misspelt detector is a 400 naming the field (it was an empty
 * list), and pages follow the cursor with each page read from the store on its own; a count takes
 * the same filters; order=severity lists the most severe first (the Overview's open alerts).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { asAdmin, call } from "../../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";

let t: TestGateway;
const ids: string[] = [];
beforeAll(async () => {
  t = await startTestGateway();
  for (let i = 0; i < 5; i++) {
    const { alert } = await t.gateway.store.alerts.raise(
      {
        dedupeKey: `route-${i}`,
        detector: i % 2 === 0 ? "key-sharing" : "volume-spike",
        severity: "high",
        subject: { kind: "principal", id: "alice" },
        summary: `alert ${i}`,
        evidence: { audit_indexes: [], details: {} },
        raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
        deliver: false,
      },
      "detector:test",
    );
    ids.push(alert.id);
  }
});
afterAll(() => t.gateway.close());

it("refuses a detector it does not know, naming the field", async () => {
  const r = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/alerts?detector=key-shareing");
  expect(r.status).toBe(400);
  expect(r.body.error.problems).toEqual([
    expect.objectContaining({
      path: "detector",
      message: expect.stringContaining('"key-sharing"') as unknown,
    }),
  ]);
  const known = await asAdmin(t, "GET", "/admin/v1/alerts?detector=volume-spike");
  expect(known.data.map((a: { id: string }) => a.id)).toEqual([ids[1], ids[3]]);
});

it("pages through the alerts by cursor", async () => {
  const seen: string[] = [];
  let path = "/admin/v1/alerts?limit=2&subject=alice";
  const cursors: (string | null)[] = [];
  for (;;) {
    const page = await asAdmin(t, "GET", path);
    seen.push(...page.data.map((a: { id: string }) => a.id));
    cursors.push(page.next_cursor);
    if (page.next_cursor === null) break;
    path = `/admin/v1/alerts?limit=2&subject=alice&cursor=${encodeURIComponent(page.next_cursor)}`;
  }
  expect(seen).toEqual(ids);
  expect(cursors).toEqual([ids[1], ids[3], null]);
  const last = await asAdmin(t, "GET", "/admin/v1/alerts?limit=5&detector=key-sharing");
  expect(last).toMatchObject({ next_cursor: null });
  expect(last.data).toHaveLength(3);
});

it("pages newest first with order=newest (the console's list), the cursor going back", async () => {
  const seen: string[] = [];
  let path = "/admin/v1/alerts?limit=2&order=newest";
  for (;;) {
    const page = await asAdmin(t, "GET", path);
    seen.push(...page.data.map((a: { id: string }) => a.id));
    if (page.next_cursor === null) break;
    path = `/admin/v1/alerts?limit=2&order=newest&cursor=${encodeURIComponent(page.next_cursor)}`;
  }
  expect(seen).toEqual([...ids].reverse());
  const keySharing = await asAdmin(t, "GET", "/admin/v1/alerts?order=newest&detector=key-sharing&limit=2");
  expect(keySharing.data.map((a: { id: string }) => a.id)).toEqual([ids[4], ids[2]]);
  expect(keySharing.next_cursor).toBe(ids[2]);
  expect((await call(t, ADMIN_TOKEN, "GET", "/admin/v1/alerts?order=latest")).status).toBe(400);
});

it("counts the alerts a filter lists, in one request (the console's open-alerts summary read every page)", async () => {
  const count = async (q: string) => (await asAdmin(t, "GET", `/admin/v1/alerts/count${q}`)).count;
  expect(await count("")).toBe(5);
  expect(await count("?state=open")).toBe(5);
  expect(await count("?state=resolved")).toBe(0);
  expect(await count("?state=open&detector=volume-spike")).toBe(2);
  expect(await count("?subject_kind=principal&subject=alice")).toBe(5);
  expect(await count("?subject=bob")).toBe(0);
  const bad = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/alerts/count?state=opened");
  expect([bad.status, bad.body.error.problems[0].path]).toEqual([400, "state"]);
  // A page's parameters are not a count's: refused rather than ignored.
  expect((await call(t, ADMIN_TOKEN, "GET", "/admin/v1/alerts/count?limit=5")).status).toBe(400);
  // Alerts are still read by id beside it.
  expect((await asAdmin(t, "GET", `/admin/v1/alerts/${ids[2]}`)).id).toBe(ids[2]);
});

it("refuses a note with control characters, naming the field, and keeps the alert as it was", async () => {
  const id = ids[0]!;
  for (const note of [
    // An escape sequence: clears the terminal of whoever shows the alert.
    "calling the partner\u001b[2J",
    // A line break: `remote alerts show` printed it as a history row of its own, forging a step.
    "calling\n2030-01-02T03:05:00Z  admin  resolved  all clear",
    "tab\there",
    "C1 \u009b31m",
  ]) {
    const r = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/alerts/${id}/acknowledge`, { note });
    expect(r.status, JSON.stringify(note)).toBe(400);
    expect(r.body.error.problems).toEqual([
      expect.objectContaining({
        path: "note",
        message: expect.stringContaining("control characters") as unknown,
      }),
    ]);
  }
  const a = await asAdmin(t, "GET", `/admin/v1/alerts/${id}`);
  expect(a).toMatchObject({ state: "open", history: [{ state: "open" }] });
  // Printable text, in any script, is a note.
  const ok = await asAdmin(t, "POST", `/admin/v1/alerts/${id}/acknowledge`, {
    note: "appelé le partenaire — 已联系 🙂",
  });
  expect(ok.history.at(-1)).toMatchObject({
    state: "acknowledged",
    note: "appelé le partenaire — 已联系 🙂",
  });
});

it("says which alert a held alert's delivery waits behind, in a list, a read and a step", async () => {
  const raised: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { alert } = await t.gateway.store.alerts.raise(
      {
        dedupeKey: `held-${i}`,
        detector: "key-sharing",
        severity: "high",
        subject: { kind: "key", id: "k-held" },
        summary: `held ${i}`,
        evidence: { audit_indexes: [], details: {} },
        raisedAt: new Date(Date.parse("2030-01-02T03:05:00.000Z") + i * 1000).toISOString(),
        deliver: true,
      },
      "detector:test",
    );
    raised.push(alert.id);
  }
  // The first is in flight (claimed for a delivery); the other two wait behind it.
  await t.gateway.store.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:01:00.000Z", 10);
  const [first, second, third] = raised;
  const list = await asAdmin(t, "GET", "/admin/v1/alerts?subject=k-held");
  expect(
    list.data.map((a: { id: string; delivery: { held: boolean; held_behind: string | null } }) => [
      a.id,
      a.delivery.held,
      a.delivery.held_behind,
    ]),
  ).toEqual([
    [first, false, null],
    [second, true, first],
    [third, true, first],
  ]);
  expect((await asAdmin(t, "GET", `/admin/v1/alerts/${second}`)).delivery).toMatchObject({
    state: "pending",
    held: true,
    held_behind: first,
  });
  const acked = await asAdmin(t, "POST", `/admin/v1/alerts/${third}/acknowledge`, {});
  expect(acked).toMatchObject({ state: "acknowledged", delivery: { held: true, held_behind: first } });
  // Delivered: the next goes, the last now waits behind it.
  await t.gateway.store.alerts.delivered(first!, "2031-01-01T00:00:01.000Z");
  const after = await asAdmin(t, "GET", "/admin/v1/alerts?subject=k-held");
  expect(after.data.map((a: { delivery: { held_behind: string | null } }) => a.delivery.held_behind)).toEqual(
    [null, null, second],
  );
  // An alert with no delivery (no webhook) is never held.
  expect((await asAdmin(t, "GET", `/admin/v1/alerts/${ids[0]}`)).delivery).toMatchObject({
    state: "none",
    held: false,
    held_behind: null,
  });
});

it("lists most severe first with order=severity (the Overview's open alerts), a critical one older than the rest first", async () => {
  const raised: Record<string, string> = {};
  for (const [i, severity] of (["critical", "low", "medium", "low"] as const).entries()) {
    const { alert } = await t.gateway.store.alerts.raise(
      {
        dedupeKey: `severity-${i}`,
        detector: "volume-spike",
        severity,
        subject: { kind: "principal", id: "sev" },
        summary: `severity ${i}`,
        evidence: { audit_indexes: [], details: {} },
        // The critical one the oldest of all.
        raisedAt: new Date(Date.parse("2029-01-01T00:00:00.000Z") + i * 1000).toISOString(),
        deliver: false,
      },
      "detector:test",
    );
    raised[`${severity}-${i}`] = alert.id;
  }
  const seen: string[] = [];
  const cursors: (string | null)[] = [];
  let path = "/admin/v1/alerts?state=open&subject=sev&order=severity&limit=2";
  for (;;) {
    const page = await asAdmin(t, "GET", path);
    seen.push(...page.data.map((a: { id: string }) => a.id));
    cursors.push(page.next_cursor);
    if (page.next_cursor === null) break;
    path = `/admin/v1/alerts?state=open&subject=sev&order=severity&limit=2&cursor=${encodeURIComponent(page.next_cursor)}`;
  }
  expect(seen).toEqual([raised["critical-0"], raised["medium-2"], raised["low-3"], raised["low-1"]]);
  expect(cursors).toEqual([raised["medium-2"], null]);
  // The first of all open alerts: the critical one, though every other is newer.
  const top = await asAdmin(t, "GET", "/admin/v1/alerts?state=open&order=severity&limit=1");
  expect(top.data.map((a: { id: string }) => a.id)).toEqual([raised["critical-0"]]);
  // An order it does not know: a 400 naming the field and the orders there are.
  const bad = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/alerts?order=severest");
  expect(bad.status).toBe(400);
  expect(bad.body.error.problems).toEqual([
    expect.objectContaining({
      path: "order",
      message: expect.stringMatching(/"oldest".*"newest".*"severity"/) as unknown,
    }),
  ]);
});

it("filters by severity in the database (one or several), in a list, a count and most severe first; a severity it does not know is a 400 naming it", async () => {
  const raised: string[] = [];
  for (const [i, severity] of (["critical", "low", "high", "low", "critical"] as const).entries()) {
    const { alert } = await t.gateway.store.alerts.raise(
      {
        dedupeKey: `filter-severity-${i}`,
        detector: "denial-spike",
        severity,
        subject: { kind: "principal", id: "filtered" },
        summary: `filtered ${i}`,
        evidence: { audit_indexes: [], details: {} },
        raisedAt: new Date(Date.parse("2031-01-01T00:00:00.000Z") + i * 1000).toISOString(),
        deliver: false,
      },
      "detector:test",
    );
    raised.push(alert.id);
  }
  await t.gateway.store.alerts.transition(raised[4] as string, "resolved", "olivia", null);
  const listed = async (q: string) =>
    (await asAdmin(t, "GET", `/admin/v1/alerts?subject=filtered&${q}`)).data.map((a: { id: string }) =>
      raised.indexOf(a.id),
    );
  expect(await listed("severity=critical")).toEqual([0, 4]);
  expect(await listed("severity=critical&state=open")).toEqual([0]);
  expect(await listed("severity=low&order=newest")).toEqual([3, 1]);
  expect(await listed("severity=high,critical&order=severity")).toEqual([4, 0, 2]);
  expect(await listed("severity=critical,high,critical&order=severity&state=open")).toEqual([0, 2]);
  // The page's cursor within the filter: the next page starts after it.
  const first = await asAdmin(t, "GET", "/admin/v1/alerts?subject=filtered&severity=low&limit=1");
  expect(first.next_cursor).toBe(raised[1]);
  expect(await listed(`severity=low&cursor=${first.next_cursor}`)).toEqual([3]);
  const count = async (q: string) => (await asAdmin(t, "GET", `/admin/v1/alerts/count?${q}`)).count;
  expect(await count("subject=filtered&severity=critical")).toBe(2);
  expect(await count("subject=filtered&severity=low,high&state=open")).toBe(3);
  expect(await count("subject=filtered&severity=high,critical")).toBe(3);
  for (const bad of ["severe", "high,", "High", "high, critical", "", "high,,low"]) {
    for (const path of ["/admin/v1/alerts", "/admin/v1/alerts/count"]) {
      const r = await call(t, ADMIN_TOKEN, "GET", `${path}?severity=${encodeURIComponent(bad)}`);
      expect([r.status, r.body.error.code, r.body.error.problems], `${path} ${bad}`).toEqual([
        400,
        "invalid_request",
        [
          expect.objectContaining({
            path: "severity",
            message: "expected one or several of low, medium, high, critical, separated by commas",
          }),
        ],
      ]);
    }
  }
});

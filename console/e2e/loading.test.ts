/**
 * How the console loads, in Chromium against a real gateway: a session kept through a server that
 * could not be reached for a moment; a long license list's usage read a few at a time; a browse of the
 * audit log whose filter changed while it loaded shows the new filter's rows only; the alerts read a
 * page at a time, newest first, filters kept. Where the server's answer or timing is what the test is
 * about, the browser's requests are held or answered by the test (page.route, a wrapped fetch).
 */
import type { Page, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { application, ask, asAdmin } from "../../src/testing/admin.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const token = (page: Page) => page.evaluate(() => sessionStorage.getItem("clearance.token"));

/** The table's body rows (not its header). */
const bodyRows = (page: Page) => page.locator("main table tbody tr");

describe.skipIf(CHROMIUM === null)("how the console loads, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a reload while the server cannot be reached keeps the session, says why, and tries again", async () => {
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    const signedIn = await token(page);
    const me = (url: URL) => url.pathname === "/admin/v1/me";

    // A 503 from the server (its store unavailable): not a verdict on the token.
    await page.route(me, (r) =>
      r.fulfill({
        status: 503,
        contentType: "application/json",
        body: JSON.stringify({ error: { code: "unavailable", message: "the store is unavailable" } }),
      }),
    );
    await page.reload();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/could not be reached.*the store is unavailable/s);
    expect(await token(page)).toBe(signedIn);
    await expectAccessible(page, "the server could not be reached");
    await page.unroute(me);
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("navigation", { name: "Pages" }).waitFor();

    // No answer at all (the network down): the same.
    await page.route(me, (r) => r.abort("connectionrefused"));
    await page.reload();
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/could not be reached/);
    expect(await token(page)).toBe(signedIn);
    await page.unroute(me);
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    expect(await page.locator(".who").innerText()).toContain("olivia@regulator");
    await context.close();
  });

  it("a long license list reads its usage a few requests at a time, and shows every one", async () => {
    const t = h().t;
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "LIC-LOAD-0", quota_tokens: 5000 }));
    const body = await asAdmin(t, "GET", "/admin/v1/licenses");
    const template = (body.data as { id: string }[]).find((l) => l.id === "LIC-LOAD-0");
    const many = 60;
    const licenses = Array.from({ length: many }, (_, i) => ({
      ...template,
      id: `LIC-LOAD-${i}`,
      status: "approved",
    }));
    const { context, page } = await h().page();
    // How many usage requests the page has asked for and not yet been answered, at most.
    await context.addInitScript(() => {
      const w = window as unknown as { __usage: { now: number; max: number } };
      w.__usage = { now: 0, max: 0 };
      const real = window.fetch.bind(window);
      window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (!url.endsWith("/usage")) return real(input, init);
        w.__usage.now++;
        w.__usage.max = Math.max(w.__usage.max, w.__usage.now);
        return real(input, init).finally(() => w.__usage.now--);
      };
    });
    await page.route(
      (url) => url.pathname === "/admin/v1/licenses",
      (r) => r.fulfill({ json: { data: licenses, next_cursor: null } }),
    );
    await page.route(
      (url) => /^\/admin\/v1\/licenses\/LIC-LOAD-\d+\/usage$/.test(url.pathname),
      (r) => {
        const id = decodeURIComponent(new URL(r.request().url()).pathname.split("/")[4] as string);
        const used = Number(id.slice("LIC-LOAD-".length)) + 1;
        return r.fulfill({
          json: {
            license: id,
            quota_period: "total",
            period: "total",
            used_tokens: used,
            quota_tokens: 5000,
            remaining_tokens: 5000 - used,
          },
        });
      },
    );
    await signIn(page, h().tokens.officer);
    await open(page, "Licenses");
    // Every license's usage is shown...
    for (const i of [0, 29, many - 1])
      await expect
        .poll(() =>
          page
            .getByRole("row")
            .filter({ has: page.getByRole("link", { name: `LIC-LOAD-${i}`, exact: true }) })
            .innerText(),
        )
        .toContain(`${i + 1} of 5,000 tokens`);
    await expect.poll(() => page.getByText(/ of 5,000 tokens$/).count()).toBe(many);
    // ...read at most six at a time, not all at once.
    const max = await page.evaluate(() => (window as unknown as { __usage: { max: number } }).__usage.max);
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(6);
    await context.close();
  });

  it("the log's browse shows only the new filter's rows when the filter changed during a load", async () => {
    const t = h().t;
    await ask(t, "alice", "US");
    await ask(t, "alice", "FR");
    await t.gateway.audit.log.publish();
    const { context, page } = await h().page();
    // The first entry bundle read is held until the test releases it (its body already read, so
    // what the page does with it happens at once, in the same turn).
    await context.addInitScript(() => {
      const w = window as unknown as { __hold: boolean; __held: (() => Promise<void>) | null };
      w.__hold = false;
      w.__held = null;
      const real = window.fetch.bind(window);
      window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (!w.__hold || w.__held !== null || !url.includes("/audit/tile/entries/")) return real(input, init);
        return new Promise<Response>((resolve) => {
          w.__held = async () => {
            const res = await real(input, init);
            const buf = await res.arrayBuffer();
            const copy = new Response(buf, { status: res.status });
            copy.arrayBuffer = () => Promise.resolve(buf);
            resolve(copy);
          };
        });
      };
    });
    await signIn(page, h().tokens.officer);
    await page.evaluate(() => ((window as unknown as { __hold: boolean }).__hold = true));
    await open(page, "Audit log");
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { __held: unknown }).__held !== null))
      .toBe(true);
    // The filter changes while "decisions and admin changes" is still loading.
    await page.getByLabel("Show").selectOption("admin");
    const types = () => bodyRows(page).locator("td:nth-child(3)").allInnerTexts();
    // The new filter's rows replace whatever was shown (a load not held, React's development build
    // running the page's effect twice, may have shown the old filter's rows first).
    await expect.poll(async () => [...new Set(await types())]).toEqual(["admin"]);
    // The superseded load ends now: its rows (decisions among them) must not be shown.
    await page.evaluate(async () => {
      await (window as unknown as { __held: () => Promise<void> }).__held();
      // Past the promises it resolves and the render React schedules for them.
      for (let i = 0; i < 4; i++)
        await new Promise((r) => {
          const c = new MessageChannel();
          c.port1.onmessage = r;
          c.port2.postMessage(null);
        });
      await new Promise((r) => requestAnimationFrame(r));
    });
    expect(new Set(await types())).toEqual(new Set(["admin"]));
    expect(await page.getByLabel("Show").inputValue()).toBe("admin");
    await context.close();
  });

  it("alerts are read a page at a time, newest first; filters still work", async () => {
    const detectors = ["key-sharing", "impossible-travel", "embargoed-attempt"] as const;
    const severities = ["low", "medium", "high", "critical"] as const;
    const many = 700;
    const alerts = Array.from({ length: many }, (_, i) => ({
      id: `alr_${String(i).padStart(9, "0")}aaaaaaaaaa`,
      detector: detectors[i % 3],
      severity: severities[i % 4],
      subject: { kind: "principal", id: `p${i}` },
      summary: `seen #${i}`,
      evidence: { audit_indexes: [], details: {} },
      raised_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      state: "open",
      history: [],
      response: null,
      delivery: { state: "none", attempts: 0, next_at: null, delivered_at: null, last_error: null },
    }));
    const asked: URLSearchParams[] = [];
    // GET /admin/v1/alerts as the server pages it, newest first with order=newest.
    const serve = (r: Route) => {
      const q = new URL(r.request().url()).searchParams;
      asked.push(q);
      const newest = q.get("order") === "newest";
      const limit = Number(q.get("limit") ?? "100");
      const cursor = q.get("cursor");
      let rows = alerts.filter(
        (a) =>
          (!q.has("state") || a.state === q.get("state")) &&
          (!q.has("detector") || a.detector === q.get("detector")) &&
          (!q.has("severity") ||
            q
              .get("severity")!
              .split(",")
              .includes(a.severity as string)),
      );
      if (newest) rows = rows.reverse();
      if (cursor !== null) rows = rows.filter((a) => (newest ? a.id < cursor : a.id > cursor));
      const data = rows.slice(0, limit);
      return r.fulfill({
        json: { data, next_cursor: rows.length > limit ? (data.at(-1)?.id ?? null) : null },
      });
    };
    const { context, page } = await h().page();
    await page.route((url) => url.pathname === "/admin/v1/alerts", serve);
    await page.route(
      (url) => url.pathname === "/admin/v1/alerts/count",
      (r) => r.fulfill({ json: { count: many } }),
    );
    await signIn(page, h().tokens.officer);
    // The overview's open alerts (a count, and the most severe) first; then the Alerts page's own.
    await page.getByText(`${many} open alerts.`).waitFor();
    asked.length = 0;
    await open(page, "Alerts");
    const summaries = () => bodyRows(page).locator("td:nth-child(5)").allInnerTexts();
    await expect.poll(async () => (await summaries()).length).toBeGreaterThan(0);
    // One page, the newest first: not every alert.
    const first = await summaries();
    expect(first.length).toBeLessThan(many);
    expect(first[0]).toContain(`seen #${many - 1}`);
    // One page asked for (twice at most: the test build's StrictMode mounts a page twice).
    expect(new Set(asked.map(String))).toEqual(new Set(["state=open&order=newest&limit=100"]));
    const older = page.getByRole("button", { name: /^Show older alerts/ });
    await older.click();
    await expect.poll(async () => (await summaries()).length).toBe(2 * first.length);
    const both = await summaries();
    expect(both[first.length]).toContain(`seen #${many - 1 - first.length}`);
    expect(asked.at(-1)?.get("cursor")).toBe(alerts[many - first.length]?.id);
    await expectAccessible(page, "alerts, two pages");

    // The detector is the server's filter: a new first page.
    await page.getByLabel("Detector").selectOption("key-sharing");
    await expect.poll(() => asked.at(-1)?.get("detector")).toBe("key-sharing");
    await expect
      .poll(async () =>
        (await bodyRows(page).locator("td:nth-child(3)").allInnerTexts()).every((d) => d === "key-sharing"),
      )
      .toBe(true);
    const keySharing = await summaries();
    expect(keySharing[0]).toContain(`seen #${many - 1 - ((many - 1) % 3)}`);
    // The severity is the server's filter too (it was filtered in the browser, among the alerts read).
    await page.getByLabel("Severity").selectOption("critical");
    await expect.poll(() => asked.at(-1)?.get("severity")).toBe("critical");
    await expect
      .poll(async () => new Set(await bodyRows(page).locator("td:nth-child(2)").allInnerTexts()))
      .toEqual(new Set(["critical"]));
    expect(String(asked.at(-1))).toBe(
      "state=open&detector=key-sharing&severity=critical&order=newest&limit=100",
    );
    expect(await page.locator("main caption").innerText()).toMatch(/newest first/);
    await context.close();
  });

  it("a node of an earlier release (a rolling upgrade): the Overview and the Alerts page ask as before, do the rest here, and say so", async () => {
    // 150 open alerts, the oldest critical, the others low.
    const alerts = Array.from({ length: 150 }, (_, i) => ({
      id: `alr_${String(i).padStart(9, "0")}bbbbbbbbbb`,
      detector: "volume-spike",
      severity: i === 0 ? "critical" : "low",
      subject: { kind: "principal", id: `p${i}` },
      summary: i === 0 ? "the oldest, and critical" : `seen #${i}`,
      evidence: { audit_indexes: [], details: {} },
      raised_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      state: "open",
      history: [],
      response: null,
      delivery: { state: "none", attempts: 0, next_at: null, delivered_at: null, last_error: null },
    }));
    // What that release's router answers a parameter it does not take (its query is strict), and an
    // order not among its own.
    const refused = (path: string, code: string, message: string) => ({
      status: 400,
      json: {
        error: {
          code: "invalid_request",
          message: `invalid query: ${path}: ${message}`,
          problems: [{ code, path, message }],
        },
      },
    });
    const asked: string[] = [];
    const { context, page } = await h().page();
    await page.route(
      (url) => url.pathname === "/admin/v1/alerts",
      (r) => {
        const q = new URL(r.request().url()).searchParams;
        asked.push(String(q));
        if (q.has("severity"))
          return r.fulfill(
            refused(
              "severity",
              "unknown_key",
              'unknown key "severity" (expected one of: limit, cursor, state, detector, subject_kind, subject, order)',
            ),
          );
        if (q.get("order") === "severity")
          return r.fulfill(
            refused("order", "invalid_value", 'Invalid option: expected one of "oldest"|"newest"'),
          );
        const cursor = q.get("cursor");
        const rows = [...alerts].reverse().filter((a) => cursor === null || a.id < cursor);
        const limit = Number(q.get("limit"));
        const data = rows.slice(0, limit);
        return r.fulfill({
          json: { data, next_cursor: rows.length > limit ? (data.at(-1)?.id ?? null) : null },
        });
      },
    );
    await page.route(
      (url) => url.pathname === "/admin/v1/alerts/count",
      (r) => r.fulfill({ json: { count: alerts.length } }),
    );
    await signIn(page, h().tokens.officer);
    const panel = page.locator(".panel", { has: page.getByRole("heading", { name: "Open alerts" }) });
    await panel.getByText("150 open alerts. The 5 most severe of the newest 100:").waitFor();
    expect(await panel.getByRole("note").innerText()).toBe(
      "The node that answered (an earlier release) does not list alerts most severe first: an older alert may be more severe.",
    );
    expect(await panel.locator("li").first().innerText()).toContain("seen #149");
    expect(asked).toContain("state=open&order=newest&limit=100");

    await open(page, "Alerts");
    await page.getByLabel("Severity").selectOption("critical");
    const note = page.locator("main").getByRole("note");
    await note.waitFor();
    expect(await note.innerText()).toBe(
      "The node that answered (an earlier release) does not filter by severity: this page filtered the 100 alerts read; older ones may have this severity too.",
    );
    expect(await page.locator("main").innerText()).toContain(
      "No alert matches these filters among the newest 100 read.",
    );
    await page.getByRole("button", { name: /^Show older alerts/ }).click();
    await bodyRows(page).filter({ hasText: "the oldest, and critical" }).waitFor();
    expect(await note.innerText()).toBe(
      "The node that answered (an earlier release) does not filter by severity: this page filtered the 150 alerts read.",
    );
    await expectAccessible(page, "alerts from a node of an earlier release");
    await context.close();
  });
});

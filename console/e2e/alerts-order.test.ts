/**
 * The Alerts page lists alerts most severe first on request (the Order beside the filters), in
 * Chromium against a real gateway: asked of the API (`order=severity`) and read a page at a time
 * after its cursor. A node of an earlier release (a rolling upgrade) that refuses that order: the
 * first page is listed newest first and the page says so; a later page cannot follow on from alerts
 * read most severe first, and the page says that, keeping what it shows. Before, the page listed
 * newest first only: a critical alert older than the newest 100 was on a later page. The Overview's
 * open alerts (most severe first) link to the page listing them so, its address keeping the filters
 * and the order (a reload too); before, the link led to the newest first and a reload lost the order.
 */
import type { Page, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

/** 103 open alerts, one a minute: the oldest two critical, the third high, the 100 newer ones low. */
const MANY = 103;
const severityOf = (i: number) => (i < 2 ? "critical" : i === 2 ? "high" : "low");

/** The table's body rows' "What was seen". */
const summaries = (page: Page) => page.locator("main table tbody tr td:nth-child(5)").allInnerTexts();

/** What a node of the release before most severe first answers order=severity (its orders oldest, newest). */
const refuse = (r: Route) => {
  const q = new URL(r.request().url()).searchParams;
  if (q.get("order") !== "severity") return r.continue();
  const message = 'Invalid option: expected one of "oldest"|"newest"';
  return r.fulfill({
    status: 400,
    json: {
      error: {
        code: "invalid_request",
        message: `invalid query: order: ${message}`,
        problems: [{ code: "invalid_value", path: "order", message }],
      },
    },
  });
};
const alertsList = (url: URL) => url.pathname === "/admin/v1/alerts";

describe.skipIf(CHROMIUM === null)("alerts most severe first, in Chromium", { timeout: 180_000 }, () => {
  const ids: string[] = [];
  beforeAll(async () => {
    ctx.h = await startHarness({
      seed: async (store) => {
        for (let i = 0; i < MANY; i++) {
          const { alert } = await store.alerts.raise(
            {
              dedupeKey: `order-${i}`,
              detector: "volume-spike",
              severity: severityOf(i),
              subject: { kind: "principal", id: `p${i}` },
              summary: `seen #${i}`,
              evidence: { audit_indexes: [], details: {} },
              raisedAt: new Date(Date.UTC(2030, 0, 1) + i * 60_000).toISOString(),
              deliver: false,
            },
            "detector:volume-spike",
          );
          ids.push(alert.id);
        }
      },
    });
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("Most severe first: asked of the API, a page at a time; a node of an earlier release lists newest first and the page says so", async () => {
    const { context, page } = await h().page();
    const asked: string[] = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (url.pathname === "/admin/v1/alerts") asked.push(url.search);
    });
    await signIn(page, h().tokens.officer);
    await open(page, "Alerts");
    const caption = page.locator("main caption");
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #102");
    expect(await caption.innerText()).toBe("100 alerts, newest first, more on request");

    // Most severe first: the critical and high alerts, older than the newest 100, on the first page.
    const order = page.getByLabel("Order");
    expect(await order.inputValue()).toBe("newest");
    await order.selectOption({ label: "Most severe first" });
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #1");
    const first = await summaries(page);
    expect(first.slice(0, 4)).toEqual(["seen #1", "seen #0", "seen #2", "seen #102"]);
    expect(first).toHaveLength(100);
    expect(await caption.innerText()).toBe(
      "100 alerts, most severe first (the newest first within a severity), more on request",
    );
    expect(asked).toContain("?state=open&order=severity&limit=100");
    await expectAccessible(page, "alerts most severe first");
    const more = page.getByRole("button", { name: "Show more alerts" });
    await more.click();
    await expect.poll(async () => (await summaries(page)).length).toBe(MANY);
    const every = [1, 0, 2, ...Array.from({ length: MANY - 3 }, (_, k) => MANY - 1 - k)];
    expect(await summaries(page)).toEqual(every.map((i) => `seen #${i}`));
    // The next page after the API's cursor (the last alert of the first page), most severe first.
    expect(asked.at(-1)).toBe(`?state=open&order=severity&limit=100&cursor=${ids[6]}`);
    expect(await caption.innerText()).toBe(
      "103 alerts, most severe first (the newest first within a severity)",
    );
    expect(await page.getByRole("button", { name: /^Show (more|older) alerts/ }).count()).toBe(0);
    // The other filters still apply, by the API.
    await page.getByLabel("Severity").selectOption("low");
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #102");
    expect(asked.at(-1)).toBe("?state=open&severity=low&order=severity&limit=100");
    await page.getByLabel("Severity").selectOption("any");
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #1");

    // A node of an earlier release answers: newest first, said so, the words and the button too.
    await page.route(alertsList, refuse);
    await order.selectOption({ label: "Newest first" });
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #102");
    await order.selectOption({ label: "Most severe first" });
    const note = page.locator("main").getByRole("note");
    await note.waitFor();
    expect(await note.innerText()).toBe(
      "The node that answered (an earlier release) does not list alerts most severe first: they are listed newest first.",
    );
    expect((await summaries(page))[0]).toBe("seen #102");
    expect(await caption.innerText()).toBe("100 alerts, newest first, more on request");
    expect(asked.slice(-2)).toEqual([
      "?state=open&order=severity&limit=100",
      "?state=open&order=newest&limit=100",
    ]);
    await expectAccessible(page, "alerts most severe first, from a node of an earlier release");
    // Its next page follows on from a list newest first.
    await page.getByRole("button", { name: "Show older alerts" }).click();
    await expect.poll(async () => (await summaries(page)).length).toBe(MANY);
    expect((await summaries(page)).at(-1)).toBe("seen #0");
    expect(asked.at(-1)).toBe(`?state=open&order=newest&limit=100&cursor=${ids[3]}`);

    // The first page most severe first from a node of this release, the next refused: nothing
    // listed newest first after it (alerts skipped and repeated); the page says why, keeping the
    // alerts shown, and the next page can be asked for again.
    await page.unroute(alertsList);
    await order.selectOption({ label: "Newest first" });
    await expect.poll(async () => (await summaries(page)).length).toBe(100);
    await order.selectOption({ label: "Most severe first" });
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #1");
    expect(await note.count()).toBe(0);
    await page.route(alertsList, refuse);
    const before = asked.length;
    await more.click();
    const alert = page.locator("main").getByRole("alert");
    await alert.waitFor();
    expect(await alert.innerText()).toBe(
      "The server could not be read (the node that answered (an earlier release) does not list alerts most severe first, so the next page cannot follow on from those shown: try again (another node may answer), or choose Newest first): what is shown is as read before.",
    );
    expect(await summaries(page)).toEqual(first);
    expect(asked.slice(before)).toEqual([`?state=open&order=severity&limit=100&cursor=${ids[6]}`]);
    await expectAccessible(page, "alerts most severe first, the next page refused");
    await page.unroute(alertsList);
    await more.click();
    await expect.poll(async () => (await summaries(page)).length).toBe(MANY);
    expect(await alert.count()).toBe(0);
    await context.close();
  });

  it("the Overview's open alerts lead to the Alerts page most severe first; the page's address keeps its filters and order, a reload too; a value it does not offer is left aside and said", async () => {
    const { context, page } = await h().page();
    const asked: string[] = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (url.pathname === "/admin/v1/alerts") asked.push(url.search);
    });
    await signIn(page, h().tokens.officer);
    const panel = page.locator(".panel", { has: page.getByRole("heading", { name: "Open alerts" }) });
    await panel.getByText(`${MANY} open alerts.`).waitFor();
    expect(await panel.locator("li").first().innerText()).toContain("seen #1");

    // Before: "All alerts" led to /alerts, newest first: the critical alerts shown on the Overview
    // were not on its first page.
    await panel.getByRole("link", { name: "All open alerts, most severe first" }).click();
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(
      "/console/alerts?state=open&order=severity",
    );
    const order = page.getByLabel("Order");
    const caption = page.locator("main caption");
    const mostSevereFirst = async () => {
      await expect.poll(async () => (await summaries(page))[0]).toBe("seen #1");
      expect((await summaries(page)).slice(0, 4)).toEqual(["seen #1", "seen #0", "seen #2", "seen #102"]);
      expect(await order.inputValue()).toBe("severity");
      expect(await order.locator("option:checked").innerText()).toBe("Most severe first");
      expect(await page.getByLabel("State").inputValue()).toBe("open");
      expect(await caption.innerText()).toBe(
        "100 alerts, most severe first (the newest first within a severity), more on request",
      );
    };
    await mostSevereFirst();
    // Asked most severe first from the start: no list newest first read on the way.
    expect([...new Set(asked.filter((q) => q.includes("limit=100")))]).toEqual([
      "?state=open&order=severity&limit=100",
    ]);
    await expectAccessible(page, "alerts from the Overview's link");
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    await mostSevereFirst();

    // A choice is written into the address (in place: Back leaves the page), a reload keeps it.
    await page.getByLabel("Severity").selectOption("low");
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #102");
    expect(new URL(page.url()).search).toBe("?severity=low&order=severity");
    await page.getByLabel("Detector").selectOption("volume-spike");
    await page.getByLabel("State").selectOption("any");
    await expect
      .poll(() => new URL(page.url()).search)
      .toBe("?state=any&detector=volume-spike&severity=low&order=severity");
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #102");
    expect(await page.getByLabel("State").inputValue()).toBe("any");
    expect(await page.getByLabel("Detector").inputValue()).toBe("volume-spike");
    expect(await page.getByLabel("Severity").inputValue()).toBe("low");
    expect(await order.inputValue()).toBe("severity");
    expect(asked.at(-1)).toBe("?detector=volume-spike&severity=low&order=severity&limit=100");
    await page.goBack();
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();

    // A value the page does not offer: left aside, the default shown, and said (before, a bad
    // state was asked of the API and its 400 shown instead of the list; the order not read at all).
    await page.goto("/console/alerts?state=closed&order=bogus");
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #102");
    expect(await page.locator("main").getByRole("note").allInnerTexts()).toEqual([
      'The page\'s address asks for state "closed", which this page does not offer: State is set to open.',
      'The page\'s address asks for order "bogus", which this page does not offer: Order is set to Newest first.',
    ]);
    expect(await page.getByLabel("State").inputValue()).toBe("open");
    expect(await order.inputValue()).toBe("newest");
    expect(await caption.innerText()).toBe("100 alerts, newest first, more on request");
    expect(await page.locator("main").getByRole("alert").count()).toBe(0);
    expect(asked.at(-1)).toBe("?state=open&order=newest&limit=100");
    await expectAccessible(page, "alerts, an address with values the page does not offer");
    // A choice writes the address anew: what was left aside is gone, and so is the note.
    await order.selectOption({ label: "Most severe first" });
    await expect.poll(async () => (await summaries(page))[0]).toBe("seen #1");
    expect(new URL(page.url()).search).toBe("?order=severity");
    expect(await page.locator("main").getByRole("note").count()).toBe(0);
    await context.close();
  });
});

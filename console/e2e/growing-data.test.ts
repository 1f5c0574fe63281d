/**
 * Pages whose reads grew with the data, in Chromium against a real gateway: the identity providers
 * page reads every partner's providers in one request (it sent one a partner); the API key form
 * finds any principal by the start of its id or name (it offered the first 500 only); the
 * Overview's open-alerts panel reads a count and the most severe open alerts, listed so by the API
 * (it read every page of open alerts; then the newest 100, and a critical alert older than those
 * was counted but not shown).
 */
import { exportJWK, generateKeyPair } from "jose";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin } from "../../src/testing/admin.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const PRINCIPALS = 501;
const ALERTS = 120;
const PARTNERS = 60;

describe.skipIf(CHROMIUM === null)("reads that grew with the data, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness({
      seed: async (store) => {
        for (let i = 0; i < PRINCIPALS; i++)
          await store.principals.put({ id: `bulk-${String(i).padStart(3, "0")}`, residence: "US" });
        // Beyond the first 500 by id: the form never offered it.
        await store.principals.put({ id: "zz-late", name: "Zora Late", residence: "FR" });
        // Applied partners (they grant nothing yet), more than the provider form offers at once.
        for (let i = 0; i <= PARTNERS; i++) {
          const id = i === PARTNERS ? "zz-labs" : `lab-${String(i).padStart(2, "0")}`;
          const partner = {
            id,
            ...(i === PARTNERS ? { name: "Zephyr Labs" } : {}),
            country: "IN",
            assurance: "verified",
            locations: ["IN"],
            grants: [{ models: ["mythos-5"], actions: ["infer"] }],
            status: "applied",
          };
          const history = [
            { at: "2030-01-01T00:00:00.000Z", actor: "seed", from: null, to: "applied", reason: "seed" },
          ];
          await store.records.put("partner", id, { kind: "organization", partner, history }, 0, {
            actor: "seed",
            action: "partner.register",
          });
        }
        const start = Date.parse("2030-01-02T03:04:05.000Z");
        // The oldest is the critical one: older than the newest 100 the panel read.
        for (let i = 0; i < ALERTS; i++) {
          const first = i === 0;
          await store.alerts.raise(
            {
              dedupeKey: `growing-${i}`,
              detector: first ? "embargoed-attempt" : "volume-spike",
              severity: first ? "critical" : "medium",
              subject: { kind: "principal", id: `bulk-${String(i).padStart(3, "0")}` },
              summary: first ? "the oldest, and critical" : `volume ${i}`,
              evidence: { audit_indexes: [], details: {} },
              raisedAt: new Date(start + i * 1000).toISOString(),
              deliver: false,
            },
            "detector:test",
          );
        }
      },
    });
    const pair = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
    for (const [partner, id] of [
      ["uk-aisi", "aisi-sso"],
      ["g7-fvey", "fvey-sso"],
    ] as const) {
      await asAdmin(
        h().t,
        "POST",
        `/admin/v1/partners/${partner}/identity-providers`,
        {
          id,
          issuer: `https://${id}.example`,
          jwks: { keys: [jwk] },
          audiences: ["urn:clearance:gateway"],
          claims: { display_name: "name" },
        },
        201,
      );
    }
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  /**
   * The admin API reads a page sends (path and query), each once: a page's effects may run twice
   * (React's StrictMode, in the build the harness makes under test), which is not what is counted.
   */
  const reads = (page: Page, path: RegExp) => {
    const asked: string[] = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (path.test(url.pathname)) asked.push(`${url.pathname}${url.search}`);
    });
    return asked;
  };

  it("the identity providers page reads every partner's in one request", async () => {
    const { context, page } = await h().page();
    const asked = reads(page, /identity-providers/);
    await signIn(page, h().tokens.officer);
    await open(page, "Identity providers");
    const row = (text: string) => page.getByRole("row").filter({ hasText: text });
    await row("aisi-sso").waitFor();
    expect(await row("aisi-sso").innerText()).toContain("uk-aisi");
    expect(await row("fvey-sso").innerText()).toContain("g7-fvey");
    // Before: /admin/v1/partners/{id}/identity-providers once a partner.
    expect([...new Set(asked)]).toEqual(["/admin/v1/identity-providers?limit=500"]);
    await context.close();
  });

  it("the API key form finds a principal beyond the first 500 by its id or name, and creates its key", async () => {
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Principals and keys");
    const form = page.locator("form", { has: page.getByRole("heading", { name: "Create an API key" }) });
    const choice = form.getByLabel("Principal", { exact: true });
    const offered = () => choice.locator("option").allInnerTexts();
    await expect.poll(async () => (await offered()).length).toBe(500);
    expect(await offered()).not.toContain("zz-late");
    expect(await form.getByRole("status").innerText()).toBe(
      "The first 500 principals are offered: find any other by its id or name.",
    );

    await form.getByLabel("Find by id or name").fill("zora");
    await expect.poll(offered).toEqual(["zz-late"]);
    expect(await form.getByRole("status").innerText()).toBe("1 found.");
    await form.getByLabel("Find by id or name").fill("bulk-");
    await expect.poll(async () => (await offered()).length).toBe(50);
    expect(await form.getByRole("status").innerText()).toBe("The first 50 found: type more to narrow.");
    await form.getByLabel("Find by id or name").fill("ZZ-");
    await expect.poll(offered).toEqual(["zz-late"]);
    await form.getByLabel("Label").fill("found late");
    await form.getByRole("button", { name: "Create key" }).click();
    await page.getByText("New key for zz-late").waitFor();
    const keys = await h().t.gateway.store.keys.list("zz-late");
    expect(keys.map((k) => k.label)).toEqual(["found late"]);
    await expectAccessible(page, "the API key form with a search");
    await context.close();
  });

  it("the identity provider form finds its partner by id or name, reading a page at a time", async () => {
    const { context, page } = await h().page();
    const asked = reads(page, /^\/admin\/v1\/partners$/);
    await signIn(page, h().tokens.officer);
    await open(page, "Identity providers");
    const form = page.locator("form", {
      has: page.getByRole("heading", { name: "Register an identity provider" }),
    });
    const choice = form.getByLabel("Partner", { exact: true });
    const offered = () => choice.locator("option").allInnerTexts();
    await expect.poll(async () => (await offered()).length).toBe(50);
    expect(await offered()).not.toContain("zz-labs");
    expect(await form.getByRole("status").innerText()).toBe(
      "The first 50 partners are offered: find any other by its id or name.",
    );
    await form.getByLabel("Find by id or name").fill("zephyr");
    await expect.poll(offered).toEqual(["zz-labs"]);
    expect(await form.getByRole("status").innerText()).toBe("1 found.");
    await form.getByLabel("Find by id or name").fill("LAB-");
    await expect.poll(async () => (await offered()).length).toBe(50);
    expect(await form.getByRole("status").innerText()).toBe("The first 50 found: type more to narrow.");
    await form.getByLabel("Find by id or name").fill("zz");
    await expect.poll(offered).toEqual(["zz-labs"]);
    await form.getByLabel("Provider id").fill("zephyr-sso");
    await form.getByLabel("Issuer", { exact: true }).fill("https://zephyr-sso.example");
    await form.getByLabel("Audiences").fill("urn:clearance:gateway");
    await form.getByLabel("Keys from").selectOption("jwks_uri");
    await form.getByLabel("JWKS URL").fill("https://zephyr-sso.example/jwks");
    await form.getByRole("button", { name: "Register provider" }).click();
    await page.getByText("Identity provider zephyr-sso registered.").waitFor();
    expect(
      (await h().t.gateway.store.records.get("identity-provider", "zephyr-sso"))?.document,
    ).toMatchObject({
      partner: "zz-labs",
    });
    // Before: every partner, /admin/v1/partners?limit=500 and each further page.
    expect([...new Set(asked)]).toEqual([
      "/admin/v1/partners?limit=50",
      "/admin/v1/partners?prefix=zephyr&limit=50",
      "/admin/v1/partners?prefix=LAB-&limit=50",
      "/admin/v1/partners?prefix=zz&limit=50",
    ]);
    await expectAccessible(page, "the identity provider form with a search");
    await context.close();
  });

  it("the open-alerts panel reads a count and the most severe, not every page: the oldest alert, critical, listed first", async () => {
    const { context, page } = await h().page();
    const asked = reads(page, /^\/admin\/v1\/alerts/);
    await signIn(page, h().tokens.officer);
    const panel = page.locator(".panel", { has: page.getByRole("heading", { name: "Open alerts" }) });
    await panel.getByText(`${ALERTS} open alerts.`).waitFor();
    expect(await panel.locator("li").first().innerText()).toContain(
      "embargoed-attempt: the oldest, and critical",
    );
    // Then the newest of the others (all medium).
    expect(await panel.locator("li").allInnerTexts()).toEqual([
      expect.stringContaining("the oldest, and critical"),
      ...[119, 118, 117, 116].map((i) => expect.stringContaining(`volume-spike: volume ${i}`)),
    ]);
    expect(await panel.locator("p").first().innerText()).toBe(`${ALERTS} open alerts. The 5 most severe:`);
    // Before: /admin/v1/alerts?state=open&limit=500, then every further page; then the newest 100.
    expect([...new Set(asked)].sort()).toEqual([
      "/admin/v1/alerts/count?state=open",
      "/admin/v1/alerts?state=open&order=severity&limit=5",
    ]);
    await context.close();
  });

  it("the Alerts page asks the API for the severity: the critical alert older than the newest 100 is listed", async () => {
    const { context, page } = await h().page();
    const asked = reads(page, /^\/admin\/v1\/alerts$/);
    await signIn(page, h().tokens.officer);
    await open(page, "Alerts");
    const rows = page.locator("main table tbody tr");
    await expect.poll(() => rows.count()).toBe(100);
    await page.getByLabel("Severity").selectOption("critical");
    // Before: the newest 100 filtered in the browser, none critical: "No alert matches these
    // filters among the newest 100", while the oldest was.
    await page.getByRole("row").filter({ hasText: "the oldest, and critical" }).waitFor();
    expect(await rows.count()).toBe(1);
    expect(await page.locator("main caption").innerText()).toBe("1 alert, newest first");
    expect(await page.getByRole("button", { name: /^Show older alerts/ }).count()).toBe(0);
    expect(asked).toContain("/admin/v1/alerts?state=open&severity=critical&order=newest&limit=100");
    await context.close();
  });
});

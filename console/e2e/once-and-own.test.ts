/**
 * What a page shows is its own, and a change is sent once, in Chromium against a real gateway: a
 * license or scheme version that cannot be read shows none of the one shown before it; every form
 * that changes something sends its change once however often it is submitted while it is sent; an
 * inclusion proof answered by a proxy's page is said so. The answers the test is about are held or
 * rewritten by the test (page.route).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, asAdmin } from "../../src/testing/admin.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

/** Goes to `to` as the console's links do (history.pushState and popstate), without a page load. */
const follow = (page: Page, to: string) =>
  page.evaluate((path) => {
    window.history.pushState(null, "", `/console${path}`);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }, to);

/**
 * A page that records each change it sends ("POST /admin/v1/…") as it sends it, before any answer,
 * and whose changes to paths matching `held` wait until `release()`.
 */
async function counting(held: RegExp) {
  const { context, page } = await h().page();
  await context.addInitScript(() => {
    const w = window as unknown as { __changes: string[] };
    w.__changes = [];
    const real = window.fetch.bind(window);
    window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(
        typeof input === "string" ? input : input instanceof URL ? input.href : input.url,
        location.href,
      );
      const method = init?.method ?? "GET";
      if (method !== "GET") w.__changes.push(`${method} ${url.pathname}`);
      return real(input, init);
    };
  });
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  await page.route(
    (url) => held.test(url.pathname),
    async (r) => {
      if (r.request().method() !== "GET") await gate;
      await r.continue();
    },
  );
  const sent = () =>
    page
      .evaluate(() => (window as unknown as { __changes: string[] }).__changes)
      .then((all) => all.filter((c) => held.test(c.split(" ")[1] ?? "")));
  return { context, page, sent, release };
}

describe.skipIf(CHROMIUM === null)(
  "the console's own pages and single changes, in Chromium",
  { timeout: 180_000 },
  () => {
    beforeAll(async () => {
      ctx.h = await startHarness();
    }, 180_000);
    afterAll(async () => {
      await ctx.h?.close();
    });

    it("a license or version that cannot be read shows none of the one shown before it", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "Licenses");
      await page.getByRole("link", { name: "BIS-2026-0001", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "License BIS-2026-0001" }).waitFor();

      // Another license's page, which the server does not have (a link, the history's back or forward).
      await follow(page, "/licenses/BIS-2026-9999");
      const said = page.getByRole("alert");
      await said.waitFor();
      expect(await said.innerText()).toMatch(/BIS-2026-9999/);
      expect(await said.innerText()).not.toMatch(/as read before/);
      expect(await page.getByRole("heading", { name: /BIS-2026-0001/ }).count()).toBe(0);
      expect(await page.getByText(/erik|Justification/).count()).toBe(0);
      await expectAccessible(page, "a license that cannot be read, after another");

      await open(page, "Scheme versions");
      await page.getByRole("link", { name: "Version 1", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "Scheme version 1" }).waitFor();
      await follow(page, "/schemes/999");
      await said.waitFor();
      expect(await said.innerText()).not.toMatch(/as read before/);
      expect(await page.getByRole("heading", { name: /Scheme version/ }).count()).toBe(0);
      expect(await page.getByText("The scheme file").count()).toBe(0);
      await context.close();
    });

    it("a principal is added once however often its form is submitted while it is sent", async () => {
      const { context, page, sent, release } = await counting(/^\/admin\/v1\/principals$/);
      await signIn(page, h().tokens.officer);
      await open(page, "Principals and keys");
      const form = page.locator("form", { has: page.getByRole("heading", { name: "Add a principal" }) });
      await form.getByLabel("Citizenships").fill("FR");
      await form.getByLabel("Principal id").fill("pressed-twice");
      await form.getByLabel("Principal id").press("Enter");
      await form.getByLabel("Principal id").press("Enter");
      await form.getByRole("button", { name: "Add principal" }).click({ force: true });
      expect(await sent()).toEqual(["POST /admin/v1/principals"]);
      release();
      await page.getByText("Principal pressed-twice added.").waitFor();
      expect(await form.getByRole("button", { name: "Add principal" }).isEnabled()).toBe(true);
      expect(await form.locator(".form-error").count()).toBe(0);
      expect(await sent()).toHaveLength(1);
      await context.close();
    });

    it("a key is revoked once however often Revoke is clicked while it is sent", async () => {
      const key = (await asAdmin(h().t, "POST", "/admin/v1/keys", {
        principal: "alice",
        label: "revoked-twice",
      })) as {
        id: string;
      };
      const { context, page, sent, release } = await counting(/^\/admin\/v1\/keys\/[^/]+\/revoke$/);
      page.on("dialog", (d) => void d.accept());
      await signIn(page, h().tokens.officer);
      await open(page, "Principals and keys");
      const row = page.getByRole("row").filter({ hasText: "revoked-twice" });
      const revoke = row.getByRole("button", { name: /^Revoke key/ });
      await revoke.click();
      await revoke.click({ force: true });
      expect(await sent()).toEqual([`POST /admin/v1/keys/${key.id}/revoke`]);
      release();
      await expect.poll(() => row.getByText("revoked", { exact: true }).isVisible()).toBe(true);
      expect(await page.getByText(/was not revoked/).count()).toBe(0);
      expect(await sent()).toHaveLength(1);
      await context.close();
    });

    it("a partner is registered, then activated, once however often each form is submitted", async () => {
      const { context, page, sent, release } = await counting(/^\/admin\/v1\/partners(\/[^/]+\/status)?$/);
      await signIn(page, h().tokens.officer);
      await open(page, "Partners");
      const form = page.locator("form", { has: page.getByRole("heading", { name: "Register a partner" }) });
      await form.getByLabel("Home country").fill("FR");
      await form.getByLabel("Granted models").fill("mythos-5");
      await form.getByLabel("Reason").fill("registered by the console test, pressed twice");
      await form.getByLabel("Partner id").fill("twice-lab");
      await form.getByLabel("Partner id").press("Enter");
      await form.getByLabel("Partner id").press("Enter");
      expect(await sent()).toEqual(["POST /admin/v1/partners"]);
      release();
      const row = page.getByRole("row").filter({ hasText: "twice-lab" });
      await row.getByText("applied").waitFor();
      expect(await form.locator(".form-error, .field-error").count()).toBe(0);

      // The status form (one line: Enter submits it) holds its change as well: the gate is open now,
      // so this one is held by a route of its own.
      let statusGo = () => {};
      const statusGate = new Promise<void>((r) => (statusGo = r));
      const status = (url: URL) => url.pathname === "/admin/v1/partners/twice-lab/status";
      await page.route(status, async (r) => {
        await statusGate;
        await r.continue();
      });
      await row.getByLabel("Reason").fill("vetted");
      await row.getByLabel("Reason").press("Enter");
      await row.getByLabel("Reason").press("Enter");
      expect(await sent()).toEqual(["POST /admin/v1/partners", "POST /admin/v1/partners/twice-lab/status"]);
      statusGo();
      await row.getByText("active", { exact: true }).waitFor();
      expect(await row.locator(".field-error").count()).toBe(0);
      await context.close();
    });

    it("an alert is acknowledged once however often its note is submitted while it is sent", async () => {
      await h().t.gateway.store.alerts.raise(
        {
          dedupeKey: "key-sharing:k-twice",
          detector: "key-sharing",
          severity: "high",
          subject: { kind: "key", id: "k-twice" },
          summary: "key-sharing seen for k-twice",
          evidence: { audit_indexes: [], details: {} },
          raisedAt: new Date().toISOString(),
          deliver: false,
        },
        "monitor",
      );
      const { context, page, sent, release } = await counting(
        /^\/admin\/v1\/alerts\/[^/]+\/(acknowledge|resolve)$/,
      );
      await signIn(page, h().tokens.officer);
      await open(page, "Alerts");
      const row = page.getByRole("row").filter({ hasText: "k-twice" });
      // A form of one field: Enter submits it whatever its buttons.
      await row.getByLabel("Note").fill("asked the owner");
      await row.getByLabel("Note").press("Enter");
      await row.getByLabel("Note").press("Enter");
      await row.getByRole("button", { name: "Acknowledge" }).click({ force: true });
      await row.getByRole("button", { name: "Resolve" }).click({ force: true });
      const once = await sent();
      expect(once).toHaveLength(1);
      expect(once[0]).toMatch(/\/acknowledge$/);
      release();
      await expect.poll(() => row.count()).toBe(0);
      expect(await sent()).toHaveLength(1);
      const [acknowledged] = await h().t.gateway.store.alerts.list({ state: "acknowledged" });
      expect(acknowledged?.subject.id).toBe("k-twice");
      await context.close();
    });

    it("a federated principal is blocked once however often its form is submitted while it is sent", async () => {
      const now = new Date().toISOString();
      await h().t.gateway.store.federated.record([
        {
          id: "fed:twice-idp:ada",
          provider: "twice-idp",
          partner: "g7-fvey",
          issuer: "https://idp.example",
          subject: "ada",
          display_name: "Ada Twice",
          principal: { id: "fed:twice-idp:ada", citizenships: [{ country: "GB" }] },
          first_seen: now,
          last_seen: now,
          issued_at: Math.floor(Date.now() / 1000),
        },
      ]);
      const { context, page, sent, release } = await counting(
        /^\/admin\/v1\/federated-principals\/[^/]+\/block$/,
      );
      await signIn(page, h().tokens.officer);
      await open(page, "Identity providers");
      const row = page.getByRole("row").filter({ hasText: "Ada Twice" });
      await row.getByLabel("Reason").fill("shared account");
      await row.getByLabel("Reason").press("Enter");
      await row.getByLabel("Reason").press("Enter");
      expect(await sent()).toEqual(["POST /admin/v1/federated-principals/fed%3Atwice-idp%3Aada/block"]);
      release();
      await row.getByText("blocked", { exact: true }).waitFor();
      expect(await row.locator(".field-error").count()).toBe(0);
      expect(await sent()).toHaveLength(1);
      await context.close();
    });

    it("an inclusion proof answered by a proxy's page is said so, not as a JSON parse error", async () => {
      const asked = await ask(h().t, "devi", "IN");
      await h().t.gateway.audit.log.publish();
      const vkey = readFileSync(join(h().t.dataDir, "audit.vkey"), "utf8").trim();
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Audit log");
      await page.route(
        (url) => url.pathname === "/audit/proof/inclusion",
        (r) =>
          r.fulfill({
            status: 200,
            contentType: "text/html",
            body: "<html><head><title>Sign in to the Wi-Fi</title></head><body>Accept the terms</body></html>",
          }),
      );
      await page.getByLabel("Request id").fill(asked.requestId);
      await page.getByRole("button", { name: "Find" }).click();
      await page.getByRole("heading", { name: /^Entry \d+$/ }).waitFor();
      await page.getByLabel("Verifier key").fill(vkey);
      await page.getByRole("button", { name: "Verify its inclusion" }).click();
      const said = page.locator(".verify-failed");
      await said.waitFor();
      expect(await said.innerText()).toMatch(/the inclusion proof: the server answered 200 without a proof/);
      expect(await said.innerText()).not.toMatch(/Unexpected token|JSON/);
      await context.close();
    });
  },
);

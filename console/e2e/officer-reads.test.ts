/**
 * What a compliance officer reads, in Chromium against a real gateway: the countries a license's
 * sets were fixed to and a license the policy in force leaves out; when a license ends; the
 * footprint's token days, fallbacks, and the entries it read and did not count on the page; model
 * lookups counted apart from requests on the overview; a refusal said once, at its field; and
 * partner sign-in with a provider whose token endpoint is on another origin than its issuer (a real
 * oidc-provider), allowed by the console's CSP and nothing more.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apply } from "../../src/licensing/workflow.js";
import { application, ask, asAdmin, call, daysFromNow, eventually } from "../../src/testing/admin.js";
import type { TestGateway } from "../../src/testing/gateway.js";
import { AUDIENCE } from "../../src/testing/oidc.js";
import { SignInOrigins, serveConsole } from "../../src/console/static.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";
import { OPENSSL, forward, startIdpElsewhere } from "./idp-elsewhere.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const openLicense = async (page: Page, id: string) => {
  await open(page, "Licenses");
  await page.getByRole("link", { name: id, exact: true }).click();
  await page.getByRole("heading", { level: 1, name: `License ${id}` }).waitFor();
};

/** A model lookup (GET /v1/models/{id}) by an example principal from a country. */
async function lookup(t: TestGateway, principal: string, country: string, model = "mythos-5") {
  const res = await fetch(`${t.url}/v1/models/${model}`, {
    headers: { authorization: `Bearer ${t.keys.get(principal)}`, "x-test-country": country },
  });
  await res.text();
  return res.status;
}

/** What the terms under a heading ("As applied for", "In force") give for `name`. */
const term = (page: Page, heading: string, name: string) =>
  page
    .getByRole("heading", { level: 3, name: heading, exact: true })
    .locator("xpath=..")
    .locator(`dt:text-is("${name}") + dd`);

describe.skipIf(CHROMIUM === null)(
  "what a compliance officer reads, in Chromium",
  { timeout: 180_000 },
  () => {
    beforeAll(async () => {
      ctx.h = await startHarness();
    }, 180_000);
    afterAll(async () => {
      await ctx.h?.close();
    });

    it("a license's countries as fixed when applied for, and a calendar-date end as the instant it ends", async () => {
      const t = h().t;
      await asAdmin(
        t,
        "POST",
        "/admin/v1/licenses",
        application({
          id: "LIC-E2E-G7",
          destinations: ["G7"],
          nationalities: ["DE"],
          valid_from: "2026-01-01",
          valid_until: "2030-01-31",
        }),
      );
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "Licenses");
      // The list: when it ends, with its time (00:00 UTC on 31 January: the 31st is not covered).
      const row = page.getByRole("row").filter({ hasText: "LIC-E2E-G7" });
      expect(await row.innerText()).toContain("2030-01-31 00:00 UTC");
      await page.getByRole("link", { name: "LIC-E2E-G7", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "License LIC-E2E-G7" }).waitFor();
      const applied = "As applied for";
      expect(await term(page, applied, "Valid").innerText()).toBe("2026-01-01 to 2030-01-31 00:00 UTC");
      // The set name as written, and the countries it was fixed to (what the gateway enforces).
      expect(await term(page, applied, "Destinations").innerText()).toBe("G7");
      expect(await term(page, applied, "Destination countries").innerText()).toMatch(
        /^CA, DE, FR, GB, IT, JP, US \(the names above as countries, fixed when it was applied for/,
      );
      // Written as countries already: the same list, said once.
      expect(await term(page, applied, "Nationality countries").innerText()).toBe("DE");
      const pending = "As the approvals so far would grant it";
      expect(await term(page, pending, "Destination countries").innerText()).toMatch(
        /^CA, DE, FR, GB, IT, JP, US/,
      );
      await expectAccessible(page, "a license with its countries");
      await context.close();

      // The approval form says what a date there means.
      const approver = await h().page();
      await signIn(approver.page, h().tokens.approver1);
      await openLicense(approver.page, "LIC-E2E-G7");
      await approver.page
        .getByText("Ends at 00:00 UTC on this day: the day itself is not covered.")
        .waitFor();
      await approver.context.close();
    });

    it("a refusal is said once, at its field; the form's own message says where to look", async () => {
      const t = h().t;
      await asAdmin(
        t,
        "POST",
        "/admin/v1/licenses",
        application({ id: "LIC-E2E-ONCE", destinations: ["ES", "PT"] }),
      );
      const { context, page } = await h().page();
      await signIn(page, h().tokens.approver1);
      await openLicense(page, "LIC-E2E-ONCE");
      const approve = page.locator("form", {
        has: page.getByRole("heading", { name: "Approve", exact: true }),
      });
      const field = approve.getByLabel("Narrow destinations to");
      await field.fill("FR");
      await approve.getByRole("button", { name: "Approve" }).click();
      // The server refuses FR (not applied for): at the field, and only there.
      await expect.poll(() => field.getAttribute("aria-invalid")).toBe("true");
      const said = (await approve.innerText()).split("FR not among the destinations applied for").length - 1;
      expect(said).toBe(1);
      expect(await approve.getByRole("alert").innerText()).toBe("Check the highlighted field.");
      expect(await field.inputValue()).toBe("FR");
      await expectAccessible(page, "an approval refused at its field");
      await context.close();
    });

    it("the footprint shows its grants' token days and what everyone else falls back to", async () => {
      const t = h().t;
      for (const [who, where] of [
        ["alice", "US"],
        ["devi", "IN"],
        ["feng", "CA"],
      ] as const)
        await ask(t, who, where);
      await t.gateway.audit.log.publish();
      const report = await asAdmin(t, "GET", "/admin/v1/reports/footprint");
      const days = report.served.tokens_days as { from: string; to: string };
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "What-if");
      await page.getByRole("button", { name: "Show footprint here" }).click();
      const shown = page.getByRole("region", { name: "Footprint" });
      await shown.waitFor();
      expect(await shown.innerText()).toContain(
        `the tokens column counts the whole UTC days ${days.from} to ${days.to} (both included)`,
      );
      const grants = shown.getByRole("table", { name: "Licenses and partner grants" });
      expect(await grants.getByRole("columnheader").allInnerTexts()).toContain(
        `Tokens (UTC days ${days.from} to ${days.to})`,
      );
      expect(await grants.getByRole("row").count()).toBe(1 + (report.served.grants as unknown[]).length);
      // Whom a controlled model serves, and what the others are served instead.
      const policy = shown.getByRole("table", {
        name: "Who is served where, and what the others fall back to",
      });
      const cell = (name: string) => page.getByRole("cell", { name, exact: true });
      const mythos = policy
        .getByRole("row")
        .filter({ has: cell("mythos-5") })
        .filter({ has: cell("infer") });
      expect(await mythos.count()).toBeGreaterThan(0);
      expect(await mythos.first().innerText()).toContain("mythos-4: everyone");
      await expectAccessible(page, "the footprint on the page");
      await context.close();
    });

    it("the footprint says what it read and did not count, as the HTML report does", async () => {
      const t = h().t;
      // A decision before the period, one in it, one after its end; the harness's changes are
      // entries that are not decisions.
      await ask(t, "alice", "US");
      const from = new Date().toISOString();
      await ask(t, "feng", "CA");
      const to = new Date().toISOString();
      await ask(t, "devi", "IN");
      await t.gateway.audit.log.publish();
      const report = await asAdmin(t, "GET", `/admin/v1/reports/footprint?from=${from}&to=${to}`);
      const served = report.served as {
        entries_read: number;
        decisions: number;
        not_counted: { before_period: number; after_period: number; not_decisions: number };
      };
      const n = served.not_counted;
      expect(Math.min(n.before_period, n.after_period, n.not_decisions, served.decisions)).toBeGreaterThan(0);
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "What-if");
      await page.getByLabel("From", { exact: true }).fill(from);
      await page.getByLabel("To", { exact: true }).fill(to);
      await page.getByRole("button", { name: "Show footprint here" }).click();
      const shown = page.getByRole("region", { name: "Footprint" });
      await shown.waitFor();
      const figure = (k: number) => k.toLocaleString("en");
      expect(await shown.innerText()).toContain(
        `${figure(served.entries_read)} log entries read; not counted: ${figure(n.before_period)} decisions ` +
          `before the period, ${figure(n.after_period)} at or after its end, ${figure(n.not_decisions)} ` +
          "entries that are not decisions (administrative changes).",
      );
      await expectAccessible(page, "the footprint with what it did not count");
      // A node of a release before it answers without `not_counted` (a rolling upgrade): the page
      // shows the rest and leaves the line out, rather than failing to render.
      const older = { ...report, served: { ...served, not_counted: undefined } };
      await page.route(
        (url) => url.pathname === "/admin/v1/reports/footprint",
        (r) => r.fulfill({ json: older }),
      );
      await page.getByRole("button", { name: "Show footprint here" }).click();
      await expect.poll(() => shown.innerText({ timeout: 5_000 })).not.toContain("log entries read");
      expect(await shown.innerText()).toContain(`${figure(served.decisions)} decisions in`);
      await context.close();
    });

    it("the overview counts model lookups apart from requests", async () => {
      const t = h().t;
      // Brazil: one request, three lookups (which serve nothing).
      expect((await ask(t, "alice", "BR")).status).toBe(200);
      for (let i = 0; i < 3; i++) expect(await lookup(t, "alice", "BR")).toBe(200);
      await t.gateway.audit.log.publish();
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      const summary = page.getByText(/^\d+ decisions in the last 30 days/);
      await summary.waitFor();
      const [, decisions, requests, lookups] =
        /^(\d+) decisions in the last 30 days: (\d+) requests(?: \([^)]*\))? and (\d+) model lookups?/.exec(
          await summary.innerText(),
        ) ?? [];
      expect(Number(lookups)).toBeGreaterThanOrEqual(3);
      expect(Number(requests) + Number(lookups)).toBe(Number(decisions));
      // The table of countries: Country, Requests, Denials, Fallbacks, Lookups.
      const brazil = page.getByRole("row").filter({ has: page.getByRole("button", { name: "Brazil" }) });
      const cells = await brazil.getByRole("cell").allInnerTexts();
      expect([cells[1], cells[4]]).toEqual(["1", "3"]);
      await page.getByRole("button", { name: "Brazil" }).click();
      await page.getByRole("heading", { name: "Brazil (BR)" }).waitFor();
      await page.getByText(/^1 requests: .* Also 3 model lookups, not counted as requests\.$/).waitFor();
      await expectAccessible(page, "the overview with lookups");
      await context.close();
    });

    it("a license the policy in force leaves out is shown as such, with why, where it is read", async () => {
      const t = h().t;
      // Stored, but naming a model the active version lacks (as a race with an older build, or a
      // hand-edited database, could leave it): left out of the policy, its grants denied.
      const now = new Date().toISOString();
      const record = apply(
        {
          id: "LIC-E2E-LEFT",
          licensee: { organization: "bw-cyber" },
          terms: {
            models: ["x-1"],
            actions: ["infer"],
            destinations: ["IT"],
            valid_from: daysFromNow(-1),
            valid_until: daysFromNow(365),
            quota_period: "total",
          },
          justification: "left out on purpose",
        },
        "hans@bw-cyber",
        now,
      );
      await t.gateway.store.records.put("license", record.id, { ...record, status: "approved" }, 0, {
        actor: "test",
        action: "license.seed",
      });
      await eventually(
        () => asAdmin(t, "GET", "/admin/v1/schemes"),
        (b) => b.data.some((v: { left_out?: unknown[] }) => (v.left_out ?? []).length > 0),
      );
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "Licenses");
      const row = page.getByRole("row").filter({ hasText: "LIC-E2E-LEFT" });
      expect(await row.innerText()).toContain("left out: denied");
      await page
        .getByText(/^Not in the policy in force, as they do not compile with scheme version \d+/)
        .waitFor();
      await page.getByRole("link", { name: "LIC-E2E-LEFT", exact: true }).click();
      await page
        .getByRole("heading", { name: "Not in the policy in force: requests it would allow are denied" })
        .waitFor();
      expect(await page.locator("main").innerText()).toMatch(/Why: models\[0\]: [^\n]*x-1/);
      await expectAccessible(page, "a license left out of the policy");
      await open(page, "Scheme versions");
      const left = page.locator(".left-out");
      await left.getByRole("heading", { name: "Left out of the policy in force" }).waitFor();
      expect(await left.getByRole("listitem").innerText()).toMatch(
        /^license LIC-E2E-LEFT: models\[0\]: .*x-1/,
      );
      await expectAccessible(page, "the scheme versions with a left-out license");
      // A license that compiles is not marked.
      await open(page, "Licenses");
      expect(await page.getByRole("row").filter({ hasText: "LIC-E2E-G7" }).innerText()).not.toContain(
        "left out",
      );
      await context.close();
    });

    it.skipIf(OPENSSL === null)(
      "partner sign-in redeems the code at a token endpoint on another origin; the CSP allows that origin only",
      async () => {
        const t = h().t;
        // The console served as the gateway serves it with its sign-in providers' discovery read
        // (SignInOrigins), everything else passed on to the gateway.
        let listed: { issuer: string }[] = [];
        const origins = new SignInOrigins(() => listed, { allowHttpLoopback: true });
        const gatewayPort = Number(new URL(t.url).port);
        const front: Server = createServer((req, res) => {
          const path = (req.url ?? "/").split("?")[0] ?? "/";
          if (path === "/console" || path.startsWith("/console/")) {
            void serveConsole(h().consoleDir, req, res, path, origins).catch(() => res.writeHead(500).end());
          } else forward(req, res, gatewayPort);
        });
        await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
        const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
        const idp = await startIdpElsewhere({
          clientId: "clearance-console-elsewhere",
          redirectUri: `${url}/console/`,
          people: { pat: { name: "Pat Elsewhere" } },
        });
        const context = await h().browser.newContext({ baseURL: url, ignoreHTTPSErrors: true });
        try {
          expect(new URL(idp.tokenEndpoint).origin).not.toBe(new URL(idp.issuer).origin);
          await asAdmin(
            t,
            "POST",
            "/admin/v1/partners/uk-aisi/identity-providers",
            {
              id: "uk-aisi-elsewhere",
              name: "UK AISI elsewhere",
              issuer: idp.issuer,
              discovery: true,
              audiences: [AUDIENCE],
              claims: { display_name: "name" },
              console: { client_id: "clearance-console-elsewhere" },
            },
            201,
          );
          await eventually(
            () => fetch(`${t.url}/admin/v1/sign-in/providers`).then((r) => r.json()),
            (b: { data: unknown[] }) => b.data.length > 0,
          );
          listed = [{ issuer: idp.issuer }];

          const page = await context.newPage();
          const blocked: string[] = [];
          page.on("console", (msg) => {
            if (msg.type() === "error" && /Content Security Policy/.test(msg.text()))
              blocked.push(msg.text());
          });
          const served = await page.goto("/console/");
          const csp = (await served?.allHeaders())?.["content-security-policy"] ?? "";
          const connect = /connect-src ([^;]*)/.exec(csp)?.[1]?.split(" ");
          expect(connect).toEqual(["'self'", idp.issuer, new URL(idp.tokenEndpoint).origin]);
          await page.getByRole("button", { name: "Sign in with UK AISI elsewhere" }).click();
          await page.waitForURL(`${idp.issuer}/**`);
          await page.locator('input[name="login"]').fill("pat");
          await page.locator('input[name="password"]').fill("any");
          await page.locator('button[type="submit"]').click();
          await page.locator('button[type="submit"]').click();
          await page.getByRole("navigation", { name: "Pages" }).waitFor();
          expect(await page.locator(".who").innerText()).toBe("Pat Elsewhere · partner · uk-aisi");
          expect(idp.tokenRequests).toBe(1);
          expect(blocked).toEqual([]);
          const token = (await page.evaluate(() => sessionStorage.getItem("clearance.token"))) as string;
          expect((await call(t, token, "GET", "/admin/v1/me")).body).toMatchObject({ roles: ["partner"] });
        } finally {
          await context.close();
          await idp.close();
          await new Promise<void>((r) => {
            front.close(() => r());
            front.closeAllConnections();
          });
        }
      },
    );
  },
);

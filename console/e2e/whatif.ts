/**
 * What-if: a candidate version's impact on the What-if page (who gains and who loses, by country,
 * nationality, organization, model and reason, with named examples) and its downloads; the footprint
 * report; on the version's page, the impact reviewed, a refusal when it changed since, and the
 * activation that records the reviewed digest in the audit log.
 */
import { readFileSync } from "node:fs";
import type { Download, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { ask, asAdmin, auditEntries } from "../../src/testing/admin.js";
import { TABLET, expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

/**
 * India becomes a home country (Devi gains); every nationality counts (Feng, CN and CA, loses the
 * Canadian partnership to the Chinese restriction).
 */
const candidate = (name: string) =>
  readFileSync("examples/g7-trusted-partners.yaml", "utf8")
    .replace("name: g7-trusted-partners", `name: ${name}`)
    .replace("home: [US]", "home: [US, IN]")
    .replace("nationality_rule: most-recent", "nationality_rule: all");

async function downloaded(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [d]: [Download, void] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: button }).click(),
  ]);
  return { name: d.suggestedFilename(), text: readFileSync(await d.path(), "utf8") };
}

export function whatIfSuite(h: () => Harness) {
  describe("what-if", () => {
    it("shows a candidate's impact: who gains and who loses, named; its downloads", async () => {
      const t = h().t;
      // Decisions for the footprint's period (the suite may run alone).
      for (const [who, where] of [
        ["devi", "IN"],
        ["feng", "CA"],
        ["feng", "CN"],
      ] as const)
        await ask(t, who, where);
      await t.gateway.audit.log.publish();
      const { version } = await asAdmin(
        t,
        "POST",
        "/admin/v1/schemes",
        { yaml: candidate("g7-india-at-home") },
        201,
      );
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "What-if");
      await page.getByLabel("Candidate version").selectOption(String(version));
      const answered = page.waitForResponse(
        (r) => r.url().endsWith(`/schemes/${version}/what-if`) && r.request().method() === "POST",
      );
      await page.getByRole("button", { name: `Run what-if of version ${version}` }).click();
      // The console asks for the job's progress, and the server streams it (progress lines, then the result).
      const streamed = await answered;
      expect(streamed.request().headers().accept).toContain("application/x-ndjson");
      expect(streamed.headers()["content-type"]).toMatch(/^application\/x-ndjson/);
      const result = page.getByRole("region", { name: `Impact of version ${version}` });
      await result.waitFor();
      const people = result.getByRole("list", { name: "population summary" });
      expect(await people.innerText()).toMatch(/\b[1-9]\d*\s+gain access\s+[1-9]\d*\s+lose access/);
      // Named examples, in the groups of changed decisions.
      const gain = result.getByRole("row").filter({ hasText: "devi@IN" });
      expect(await gain.first().innerText()).toMatch(
        /gain\s+IN\s+IN\s+bangalore-ai\s+\S+\s+\w+\s+\w+ no-authorization.*→ allow home-person/,
      );
      expect(await result.getByRole("row").filter({ hasText: "feng@CA" }).first().innerText()).toMatch(
        /loss\s+CA\s+CA\s+\S+\s+(mythos-5|fable-5)\s+\w+\s+allow partner-country → \w+ no-authorization/,
      );
      expect(await result.getByRole("table", { name: "By nationality" }).innerText()).toMatch(/IN \(India\)/);
      await expectAccessible(page, "the what-if page with an impact");
      await screenshot(page, "what-if", result.getByRole("list", { name: "population summary" }));

      const json = await downloaded(page, "Download JSON");
      expect(json.name).toBe(`what-if-version-${version}.json`);
      const digest = (JSON.parse(json.text) as { digest: string }).digest;
      expect(await result.innerText()).toContain(digest);
      const csv = await downloaded(page, "Download CSV");
      expect(csv.text.split("\n")[0]).toMatch(/^part,direction,location,nationality,organization,model/);
      expect(csv.text).toMatch(/devi@IN/);
      const html = await downloaded(page, "Download HTML (with map)");
      expect(html.text).toMatch(/^<!doctype html>/i);
      expect(html.text).toMatch(/<svg/);
      await context.close();
    });

    it("downloads the jurisdiction footprint report for a period", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "What-if");
      const from = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10);
      await page.getByLabel("From").fill(from);
      const report = await downloaded(page, "Download footprint HTML (with maps)");
      expect(report.name).toMatch(new RegExp(`^footprint-${from}-now\\.html$`));
      expect(report.text).toMatch(/<svg/);
      const footprint = await downloaded(page, "Download footprint JSON");
      expect(JSON.parse(footprint.text)).toMatchObject({ report: "footprint" });
      await page
        // The period as the server holds it: instants in UTC, the end excluded (not the next day's date).
        .getByText(
          new RegExp(
            `, ${from} 00:00 UTC to \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}(:\\d{2}(\\.\\d{3})?)? UTC \\(end excluded\\): ` +
              `[1-9]\\d* decisions in \\d+ locations`,
          ),
        )
        .waitFor();
      await expectAccessible(page, "the what-if page with the footprint");
      await context.close();

      const tablet = await h().page(TABLET);
      await signIn(tablet.page, h().tokens.viewer);
      await open(tablet.page, "What-if");
      await tablet.page.getByRole("heading", { name: "Jurisdiction footprint report" }).waitFor();
      await expectAccessible(tablet.page, "the what-if page at 820×1180");
      await tablet.context.close();
    });

    it("on a version's page: the impact reviewed; refused when it changed; activated with its digest", async () => {
      const t = h().t;
      const { version } = await asAdmin(
        t,
        "POST",
        "/admin/v1/schemes",
        { yaml: candidate("g7-with-india") },
        201,
      );
      const { context, page } = await h().page();
      await signIn(page, h().tokens.admin);
      await open(page, "Scheme versions");
      await page.getByRole("link", { name: `Version ${version}`, exact: true }).click();
      await page.getByRole("heading", { level: 2, name: "What-if impact" }).waitFor();
      const run = page.getByRole("button", { name: `Run what-if of version ${version}` });
      await run.click();
      await page.getByRole("region", { name: `Impact of version ${version}` }).waitFor();
      await page.getByText(/^Impact reviewed: \d+ gain access/).waitFor();

      // Someone new changes the impact between the review and the activation: refused, said why.
      await asAdmin(t, "POST", "/admin/v1/principals", {
        id: "ravi",
        citizenships: [{ country: "IN" }],
        residence: "IN",
        assurance: "verified",
      });
      await page.getByLabel("Reason").fill("India counts as home from today");
      await page.getByRole("button", { name: `Activate version ${version}` }).click();
      await page
        .getByRole("alert")
        .filter({ hasText: /has changed since sha256:/ })
        .waitFor();
      expect(await page.getByLabel("Reason").inputValue()).toBe("India counts as home from today");

      await run.click();
      await page
        .getByRole("region", { name: `Impact of version ${version}` })
        .getByText("ravi@IN")
        .first()
        .waitFor();
      // The new review answers the refusal.
      await expect.poll(() => page.getByRole("alert").count()).toBe(0);
      const digest = /sha256:[0-9a-f]{64}/.exec(
        await page.getByRole("region", { name: `Impact of version ${version}` }).innerText(),
      )![0];
      await screenshot(page, "scheme-what-if", page.getByText(/^Impact reviewed:/));
      await page.getByRole("button", { name: `Activate version ${version}` }).click();
      const done = page.getByText(/^Activated with its impact recorded in the audit log: \d+ gain access/);
      await done.waitFor();
      expect(await done.innerText()).toContain(digest);
      await expectAccessible(page, "a scheme version activated with its what-if");
      const activation = (await auditEntries(t)).filter((e) => JSON.stringify(e).includes(digest));
      expect(activation.length).toBeGreaterThan(0);
      expect(JSON.stringify(activation.at(-1))).toMatch(/India counts as home from today \[what-if sha256:/);
      await context.close();

      await asAdmin(t, "POST", "/admin/v1/schemes/1/activate", {
        reason: "back to the version of the other tests",
      });
    });
  });
}

/** The overview's world map, from the audit log: counts by country, a country's footprint on click. */
import { describe, expect, it } from "vitest";
import { ask } from "../../src/testing/admin.js";
import { DESKTOP, TABLET, expectAccessible, screenshot, signIn, type Harness } from "./harness.js";

export function overviewSuite(h: () => Harness) {
  describe("overview", () => {
    it("a choropleth of decisions by country; a country's footprint on click and from the keyboard", async () => {
      const t = h().t;
      const traffic: [string, string, number][] = [
        ["alice", "US", 6],
        ["benoit", "FR", 4],
        ["benoit", "DE", 2],
        ["chloe", "GB", 3],
        ["devi", "IN", 5],
        ["benoit", "IR", 3],
        ["feng", "CA", 2],
        ["erik", "DE", 2],
      ];
      for (const [who, where, n] of traffic) for (let i = 0; i < n; i++) await ask(t, who, where);
      await t.gateway.audit.log.publish();
      for (const viewport of [DESKTOP, TABLET]) {
        const { context, page } = await h().page(viewport);
        await signIn(page, h().tokens.admin);
        await page.getByText(/^\d+ decisions in the last 30 days/).waitFor();
        await page.locator('path[data-country="IN"]').dispatchEvent("click");
        await page.getByRole("heading", { name: "India (IN)" }).waitFor();
        expect(
          await page.getByRole("cell", { name: "mythos-5 → mythos-4 · no-authorization" }).isVisible(),
        ).toBe(true);
        await page.getByLabel("denials").check();
        // The keyboard way to the same: the table of countries.
        await page.getByRole("button", { name: "Islamic Republic of Iran" }).click();
        await page.getByRole("heading", { name: /\(IR\)$/ }).waitFor();
        expect(await page.getByRole("cell", { name: /→ nothing · embargoed-location/ }).isVisible()).toBe(
          true,
        );
        const iran = await page.locator('path[data-country="IR"]').getAttribute("fill");
        const france = await page.locator('path[data-country="FR"]').getAttribute("fill");
        expect(iran).not.toBe(france);
        await expectAccessible(page, `the overview at ${viewport.width}×${viewport.height}`);
        await page.getByLabel("requests").check();
        await page.locator('path[data-country="DE"]').dispatchEvent("click");
        await page.getByRole("heading", { name: "Germany (DE)" }).waitFor();
        await screenshot(page, viewport === DESKTOP ? "overview" : "overview-tablet");
        await context.close();
      }
    });
  });
}

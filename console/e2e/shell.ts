/** Sign-in, the navigation each role sees, the app's pages served by the gateway, accessibility. */
import { describe, expect, it } from "vitest";
import { asAdmin, createIdentity } from "../../src/testing/admin.js";
import { expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

export function shellSuite(h: () => Harness) {
  describe("sign-in and navigation", () => {
    it("a wrong token is refused at the field, and nothing typed is lost", async () => {
      const { context, page } = await h().page();
      await page.goto("/console/");
      await expectAccessible(page, "the sign-in page");
      await screenshot(page, "sign-in");
      await page.getByLabel("Identity token").fill("clra_wrong");
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await expect.poll(() => page.getByText("This token is not valid").isVisible()).toBe(true);
      expect(await page.getByLabel("Identity token").getAttribute("aria-invalid")).toBe("true");
      expect(await page.getByLabel("Identity token").inputValue()).toBe("clra_wrong");
      await context.close();
    });

    it("a session whose token is no longer accepted returns to sign-in, saying why", async () => {
      // Its own identity: revoking it must not sign out the other tests.
      const token = await createIdentity(h().t, "sam@regulator", ["viewer"]);
      const { context, page } = await h().page();
      await signIn(page, token);
      await open(page, "Partners");
      await asAdmin(h().t, "POST", `/admin/v1/identities/${encodeURIComponent("sam@regulator")}/revoke`, {});
      // The next page's request is refused (401): the console signs out instead of showing the error.
      await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Alerts" }).click();
      await page.getByText("Your session has ended").waitFor();
      expect(await page.getByRole("alert").innerText()).toMatch(/no longer accepts its token/);
      await page.getByLabel("Identity token").waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem("clearance.token"))).toBeNull();
      await expectAccessible(page, "the sign-in page after the session ended");
      await context.close();
    });

    it("each role sees the pages its roles allow; the navigation marks the current page", async () => {
      const links = async (token: string) => {
        const { context, page } = await h().page();
        await signIn(page, token);
        const names = await page.getByRole("navigation", { name: "Pages" }).getByRole("link").allInnerTexts();
        await context.close();
        return names;
      };
      expect(await links(h().tokens.applicant)).toEqual(["Overview", "Licenses", "Audit log"]);
      const full = await links(h().tokens.viewer);
      for (const p of ["Partners", "Principals and keys", "Scheme versions", "Screening review", "Alerts"]) {
        expect(full).toContain(p);
      }
      const { context, page } = await h().page();
      await signIn(page, h().tokens.applicant);
      // A page the roles do not allow, reached by its address: said so, not shown.
      await page.goto("/console/partners");
      await page.getByRole("heading", { name: "Not allowed" }).waitFor();
      await context.close();
    });

    it("works from the keyboard alone: sign in, skip to the content, move through the pages", async () => {
      const { context, page } = await h().page();
      await page.goto("/console/");
      await page.getByLabel("Identity token").waitFor(); // rendered (React renders after "load" when busy)
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("token");
      await page.keyboard.type(h().tokens.viewer);
      await page.keyboard.press("Enter");
      await page.getByRole("navigation", { name: "Pages" }).waitFor();
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
      // Past the skip link and the sign-out button, the first page link; Enter opens it.
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Licenses");
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { level: 1, name: "Licenses" }).waitFor();
      await context.close();
    });

    it("a reload keeps the session in this tab; signing out ends it", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Licenses");
      expect(await page.getByRole("link", { name: "Licenses" }).getAttribute("aria-current")).toBe("page");
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Licenses" }).waitFor();
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("Identity token").waitFor();
      await context.close();
    });
  });
}

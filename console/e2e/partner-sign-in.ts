/**
 * A partner's person signs in with its identity provider's OIDC login (a real oidc-provider: its
 * login page, the code flow with PKCE from the browser) and sees its partner's records only,
 * read-only; its ID token does nothing else (no change, no model call).
 */
import { describe, expect, it } from "vitest";
import { application, asAdmin, call, eventually } from "../../src/testing/admin.js";
import { AUDIENCE, startTestIdp } from "../../src/testing/oidc.js";
import { expectAccessible, open, screenshot, type Harness } from "./harness.js";

export function partnerSignInSuite(h: () => Harness) {
  describe("partner sign-in with OIDC", () => {
    it("signs in at the partner's provider; sees its own licenses and providers, read-only", async () => {
      const t = h().t;
      const idp = await startTestIdp({
        people: { pat: { name: "Pat Partner" } },
        console: { clientId: "clearance-console", redirectUri: `${t.url}/console/` },
      });
      try {
        const own = await asAdmin(t, "POST", "/admin/v1/licenses", {
          ...application({ licensee: { organization: "uk-aisi" } }),
          justification: "uk-aisi red-teaming from the London office",
        });
        await asAdmin(
          t,
          "POST",
          "/admin/v1/partners/uk-aisi/identity-providers",
          {
            id: "uk-aisi-login",
            name: "UK AISI login",
            issuer: idp.issuer,
            discovery: true,
            audiences: [AUDIENCE],
            claims: { display_name: "name" },
            console: { client_id: "clearance-console" },
          },
          201,
        );
        await eventually(
          () => fetch(`${t.url}/admin/v1/sign-in/providers`).then((r) => r.json()),
          (b: { data: unknown[] }) => b.data.length > 0,
        );

        const { context, page } = await h().page();
        await page.goto("/console/");
        const button = page.getByRole("button", { name: "Sign in with UK AISI login" });
        await button.waitFor();
        await expectAccessible(page, "the sign-in page with partner sign-in");
        await screenshot(page, "sign-in-partner");
        await button.click();
        // The provider's own login page (oidc-provider's), then its consent.
        await page.waitForURL(`${idp.issuer}/**`);
        await page.locator('input[name="login"]').fill("pat");
        await page.locator('input[name="password"]').fill("any");
        await page.locator('button[type="submit"]').click();
        await page.locator('button[type="submit"]').click();
        await page.getByRole("navigation", { name: "Pages" }).waitFor();
        expect(page.url()).toBe(`${t.url}/console/`);
        expect(await page.locator(".who").innerText()).toBe("Pat Partner · partner · uk-aisi");
        const links = await page.getByRole("navigation", { name: "Pages" }).getByRole("link").allInnerTexts();
        expect(links).toEqual(["Overview", "Licenses", "Identity providers", "Audit log"]);

        await open(page, "Licenses");
        await page.getByText("The applications and licenses of your organization, uk-aisi.").waitFor();
        await page.getByRole("row").filter({ hasText: own.id }).waitFor();
        expect(await page.getByText("BIS-2026-0001").count()).toBe(0);
        expect(await page.getByRole("link", { name: "Apply for a license" }).count()).toBe(0);
        expect(await page.getByRole("alert").count()).toBe(0);
        await expectAccessible(page, "licenses, as a partner");

        await open(page, "Identity providers");
        await page.getByRole("row").filter({ hasText: "UK AISI login" }).waitFor();
        expect(await page.getByRole("button", { name: /^Edit/ }).count()).toBe(0);
        await page.getByText("No federated principal yet.").waitFor();
        expect(await page.getByRole("alert").count()).toBe(0);
        await expectAccessible(page, "identity providers, as a partner");
        await screenshot(page, "identity-providers-partner");

        // The ID token is this person's, for reading: no change, no other partner, no model call.
        const idToken = (await page.evaluate(() => sessionStorage.getItem("clearance.token"))) as string;
        expect((await call(t, idToken, "GET", "/admin/v1/me")).body).toMatchObject({
          roles: ["partner"],
          organization: "uk-aisi",
        });
        expect((await call(t, idToken, "GET", "/admin/v1/partners/g7-fvey/identity-providers")).status).toBe(
          404,
        );
        expect((await call(t, idToken, "GET", "/admin/v1/partners")).status).toBe(403);
        expect((await call(t, idToken, "POST", "/admin/v1/licenses", application())).status).toBe(403);
        const chat = await fetch(`${t.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${idToken}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
        });
        expect(chat.status).toBe(401);
        await context.close();
      } finally {
        await idp.close();
      }
    });
  });
}

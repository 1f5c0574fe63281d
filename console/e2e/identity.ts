/**
 * Identity providers against a real OpenID provider: registered from the console (the API's schema
 * at the field), its tokens accepted, the federated principal listed with its screening status,
 * blocked with a reason (its tokens refused), the provider changed and removed.
 */
import { describe, expect, it } from "vitest";
import { eventually } from "../../src/testing/admin.js";
import { AUDIENCE, startTestIdp } from "../../src/testing/oidc.js";
import { expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

async function chat(h: Harness, token: string): Promise<number> {
  const res = await fetch(`${h.t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-test-country": "GB" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hello" }] }),
  });
  await res.text();
  return res.status;
}

export function identitySuite(h: () => Harness) {
  describe("identity providers", () => {
    it("registers a provider (errors at the field), sees its principal, blocks it, changes and removes the provider", async () => {
      const idp = await startTestIdp({ people: { ada: { nationality: ["GB"], name: "Ada Lovelace" } } });
      try {
        const { context, page } = await h().page();
        await signIn(page, h().tokens.officer);
        await open(page, "Identity providers");
        const form = page.locator("form", {
          has: page.getByRole("heading", { name: "Register an identity provider" }),
        });
        await form.getByLabel("Partner").selectOption("g7-fvey");
        await form.getByLabel("Provider id").fill("uk-gov");
        await form.getByLabel("Name", { exact: true }).fill("UK government sign-in");
        await form.getByLabel("Issuer", { exact: true }).fill("uk gov");
        await form.getByLabel("Citizenships claim").fill("nationality");
        await form.getByLabel("Display name claim").fill("name");
        await form.getByRole("button", { name: "Register provider" }).click();
        // The API's own provider schema, in the browser: each error at its field, nothing lost.
        await expect
          .poll(() => form.getByLabel("Issuer", { exact: true }).getAttribute("aria-invalid"))
          .toBe("true");
        expect(await form.getByLabel("Audiences").getAttribute("aria-invalid")).toBe("true");
        expect(await form.innerText()).toMatch(/name at least one audience/);
        expect(await form.getByLabel("Citizenships claim").inputValue()).toBe("nationality");
        await form.getByLabel("Issuer", { exact: true }).fill(idp.issuer);
        await form.getByLabel("Audiences").fill(AUDIENCE);
        await form.getByRole("button", { name: "Register provider" }).click();
        await page.getByText("Identity provider uk-gov registered.").waitFor();
        const row = page.getByRole("row").filter({ hasText: "UK government sign-in" });
        expect(await row.innerText()).toContain(idp.issuer);
        expect(await row.innerText()).toContain("citizenships ← nationality");

        // Its tokens are accepted once the data plane has the provider; the person appears.
        const token = await idp.token("ada");
        expect(
          await eventually(
            () => chat(h(), token),
            (s) => s === 200,
          ),
        ).toBe(200);
        await h().t.gateway.identity.flush();
        await page.reload();
        const person = page.getByRole("row").filter({ hasText: "fed:uk-gov:ada" });
        await person.waitFor();
        expect(await person.innerText()).toMatch(
          /Ada Lovelace[\s\S]*citizen of GB[\s\S]*clear[\s\S]*allowed/,
        );
        await expectAccessible(page, "identity providers");
        await screenshot(page, "identity-providers");

        // A block needs a reason (the API's schema); then the person's tokens are refused.
        await person.getByRole("button", { name: "Block" }).click();
        await expect.poll(() => person.getByLabel("Reason").getAttribute("aria-invalid")).toBe("true");
        await person.getByLabel("Reason").fill("left the ministry");
        await person.getByRole("button", { name: "Block" }).click();
        await person.getByText("by olivia@regulator: left the ministry").waitFor();
        expect(
          await eventually(
            () => chat(h(), token),
            (s) => s === 401,
          ),
        ).toBe(401);
        await person.getByLabel("Reason").fill("returned");
        await person.getByRole("button", { name: "Unblock" }).click();
        await person.getByText("allowed").waitFor();

        // A change: the same form, filled with what is in force.
        await row.getByRole("button", { name: "Edit uk-gov" }).click();
        const edit = page.locator("form", { has: page.getByRole("heading", { name: "Change uk-gov" }) });
        expect(await edit.getByLabel("Issuer", { exact: true }).inputValue()).toBe(idp.issuer);
        await edit.getByLabel("Most assurance it may vouch for").selectOption("self");
        await edit.getByLabel("Reason for the change").fill("pending its attestation audit");
        await edit.getByRole("button", { name: "Save changes" }).click();
        await page.getByText("Identity provider uk-gov changed.").waitFor();
        await row.getByText("at most self").waitFor();

        page.once("dialog", (d) => void d.accept());
        await row.getByLabel("Reason").fill("replaced by the new federation");
        await row.getByRole("button", { name: "Remove" }).click();
        await page.getByText("Identity provider uk-gov removed.").waitFor();
        // The list is read again after the notice: wait for it.
        await expect.poll(() => row.count()).toBe(0);
        expect(
          await eventually(
            () => chat(h(), token),
            (s) => s === 401,
          ),
        ).toBe(401);
        await context.close();

        // A viewer reads, and is offered no change.
        const viewer = await h().page();
        await signIn(viewer.page, h().tokens.viewer);
        await open(viewer.page, "Identity providers");
        await viewer.page.getByRole("heading", { name: "Federated principals" }).waitFor();
        await viewer.page.getByRole("row").filter({ hasText: "fed:uk-gov:ada" }).waitFor();
        expect(await viewer.page.getByRole("button", { name: "Block" }).count()).toBe(0);
        expect(
          await viewer.page.getByRole("heading", { name: "Register an identity provider" }).count(),
        ).toBe(0);
        await expectAccessible(viewer.page, "identity providers, as a viewer");
        await viewer.context.close();
      } finally {
        await idp.close();
      }
    });
  });
}

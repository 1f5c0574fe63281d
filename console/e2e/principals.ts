/** Principals and keys (a new key shown once, used, revoked) and partners (registered, activated). */
import { describe, expect, it } from "vitest";
import { expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

async function chat(h: Harness, key: string) {
  const res = await fetch(`${h.t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-country": "FR" },
    body: JSON.stringify({ model: "mythos-4", messages: [{ role: "user", content: "hello" }] }),
  });
  await res.text();
  return res.status;
}

export function principalsSuite(h: () => Harness) {
  describe("principals, keys and partners", () => {
    it("adds a principal (errors at the field), creates a key shown once, revokes it", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "Principals and keys");
      const add = page.locator("form", { has: page.getByRole("heading", { name: "Add a principal" }) });
      await add.getByLabel("Principal id").fill("marie");
      await add.getByLabel("Citizenships").fill("FR:2001-04-01");
      await add.getByLabel("Residence").fill("XX");
      await add.getByLabel("Organization").fill("inria");
      await add.getByRole("button", { name: "Add principal" }).click();
      // The API's own principal schema, in the browser: XX is not a country.
      await expect.poll(() => add.getByLabel("Residence").getAttribute("aria-invalid")).toBe("true");
      expect(await add.innerText()).toMatch(/ISO 3166-1 alpha-2/);
      expect(await add.getByLabel("Citizenships").inputValue()).toBe("FR:2001-04-01");
      await add.getByLabel("Residence").fill("FR");
      await add.getByRole("button", { name: "Add principal" }).click();
      await page.getByText("Principal marie added.").waitFor();
      await page.getByRole("cell", { name: "FR (since 2001-04-01)" }).waitFor();

      const create = page.locator("form", { has: page.getByRole("heading", { name: "Create an API key" }) });
      await create.getByLabel("Principal").selectOption("marie");
      await create.getByLabel("Label").fill("laptop");
      await create.getByRole("button", { name: "Create key" }).click();
      const secret = page.getByLabel("New API key");
      await secret.waitFor();
      const key = (await secret.innerText()).trim();
      expect(key).toMatch(/^clr_/);
      await page.getByText("It is shown once").waitFor();
      await expectAccessible(page, "principals and keys, with a new key");
      await screenshot(page, "principals-new-key");
      expect(await chat(h(), key)).toBe(200);
      // Gone once the page is left: the server never shows it again.
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Principals and keys" }).waitFor();
      expect(await page.getByText(key).count()).toBe(0);

      page.once("dialog", (d) => void d.accept());
      const row = page.getByRole("row").filter({ hasText: "laptop" });
      await row.getByRole("button", { name: /^Revoke key/ }).click();
      await expect.poll(() => row.getByText("revoked").isVisible()).toBe(true);
      expect(await chat(h(), key)).toBe(401);
      await context.close();
    });

    it("registers a partner (the API's error at the field) and activates it with a reason", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      await open(page, "Partners");
      const form = page.locator("form", { has: page.getByRole("heading", { name: "Register a partner" }) });
      await form.getByLabel("Partner id").fill("sorbonne-ai");
      await form.getByLabel("Name").fill("Sorbonne AI Lab");
      await form.getByLabel("Home country").fill("FR");
      await form.getByLabel("Granted models").fill("mythos-9");
      await form.getByLabel("Reason").fill("evaluation partnership");
      await form.getByRole("button", { name: "Register partner" }).click();
      // Only the server knows the models in force: its problem path lands at the field.
      await expect.poll(() => form.getByLabel("Granted models").getAttribute("aria-invalid")).toBe("true");
      expect(await form.innerText()).toMatch(/mythos-9/);
      expect(await form.getByLabel("Name").inputValue()).toBe("Sorbonne AI Lab");
      await form.getByLabel("Granted models").fill("mythos-5");
      await form.getByRole("button", { name: "Register partner" }).click();
      const row = page.getByRole("row").filter({ hasText: "sorbonne-ai" });
      await row.getByText("applied").waitFor();
      await row.getByLabel("Reason").fill("vetting complete");
      await row.getByRole("button", { name: "Apply" }).click();
      await row.getByText("active", { exact: true }).waitFor();
      await expectAccessible(page, "partners");
      await screenshot(page, "partners");
      await context.close();
    });
  });
}

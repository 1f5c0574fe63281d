/** Scheme versions: an upload with an error shown at its line, the diff in words, activation and rollback. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ask } from "../../src/testing/admin.js";
import { expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

export function schemesSuite(h: () => Harness) {
  describe("scheme versions", () => {
    it("an upload with an error shows its line and column; fixed, the diff in words; activate; roll back", async () => {
      const original = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
      const line = original.split("\n").findIndex((l) => l.startsWith("embargoed:")) + 1;
      const broken = original.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, XY]");
      const { context, page } = await h().page();
      await signIn(page, h().tokens.admin);
      await open(page, "Scheme versions");
      const yaml = page.getByLabel("Scheme file (YAML)");
      await yaml.fill(broken);
      await page.getByRole("button", { name: "Upload", exact: true }).click();
      const problem = page.getByRole("button", { name: new RegExp(`^line ${line}, column \\d+$`) });
      await problem.waitFor();
      expect(await page.getByRole("alert").innerText()).toMatch(/embargoed\[2\]: .*XY/);
      expect(await yaml.getAttribute("aria-invalid")).toBe("true");
      // The text is kept, and the problem's link puts the cursor on it.
      expect(await yaml.inputValue()).toBe(broken);
      await problem.click();
      const at = await yaml.evaluate((el: HTMLTextAreaElement) => ({
        focused: document.activeElement === el,
        line: el.value.slice(0, el.selectionStart).split("\n").length,
        selected: el.value.slice(el.selectionStart, el.selectionEnd + 1),
      }));
      expect(at).toMatchObject({ focused: true, line });
      expect(at.selected.startsWith("X")).toBe(true);
      await expectAccessible(page, "a scheme upload with an error");
      await screenshot(page, "scheme-upload-error");

      await yaml.fill(original.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, RU]"));
      await page.getByRole("button", { name: "Upload", exact: true }).click();
      await page.getByText("Uploaded as version 2.").waitFor();
      expect(await page.locator(".diff").innerText()).toMatch(/RU \(Russian Federation\)/);
      await page.getByRole("link", { name: "Review and activate version 2" }).click();
      await page.getByRole("heading", { level: 1, name: "Scheme version 2" }).waitFor();
      await page.getByLabel("Reason").fill("Commerce rule of 4 December");
      await page.getByRole("button", { name: "Activate version 2" }).click();
      await page.getByText("active", { exact: true }).first().waitFor();
      expect(await ask(h().t, "benoit", "RU")).toMatchObject({ status: 403, reason: "embargoed-location" });
      await expectAccessible(page, "a scheme version");

      await open(page, "Scheme versions");
      await page.getByRole("link", { name: "Version 1", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "Scheme version 1" }).waitFor();
      expect(await page.locator(".diff").innerText()).toMatch(/RU/);
      await screenshot(page, "scheme-version");
      await page.getByLabel("Reason").fill("rule stayed by the court");
      await page.getByRole("button", { name: "Roll back to version 1" }).click();
      await page.getByText("active", { exact: true }).first().waitFor();
      expect(await ask(h().t, "benoit", "RU")).not.toMatchObject({ reason: "embargoed-location" });
      await context.close();
    });
  });
}

/**
 * The audit log in the browser: browse, look up a request by its id and verify its inclusion, verify
 * the whole log — then alter an entry bundle on disk and see the browser's verification fail.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateKey } from "../../src/audit/note.js";
import { tilePath } from "../../src/audit/tiles.js";
import { ask, asAdmin } from "../../src/testing/admin.js";
import { expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

export function auditSuite(h: () => Harness) {
  describe("the audit log", () => {
    it("browses entries and admin changes; finds a request by id and verifies its inclusion", async () => {
      const asked = await ask(h().t, "devi", "IN");
      const key = (await asAdmin(h().t, "POST", "/admin/v1/keys", { principal: "alice", label: "audit" }))
        .id as string;
      await h().t.gateway.audit.log.publish();
      const vkey = readFileSync(join(h().t.dataDir, "audit.vkey"), "utf8").trim();
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Audit log");
      const rows = page.getByRole("row").filter({ hasText: asked.requestId });
      await rows.first().waitFor();
      expect(await rows.first().innerText()).toMatch(/fallback\s+no-authorization/);
      await page.getByLabel("Show").selectOption("admin");
      await page.getByRole("cell", { name: new RegExp(`^key\\.\\w+ key ${key}$`) }).waitFor();

      await page.getByLabel("Request id").fill(asked.requestId);
      await page.getByRole("button", { name: "Find" }).click();
      await page.getByRole("heading", { name: /^Entry \d+$/ }).waitFor();
      await page.getByText("no-authorization", { exact: true }).first().waitFor();
      await page.getByLabel("Verifier key").fill(vkey);
      await page.getByRole("button", { name: "Verify its inclusion" }).click();
      await page.getByText(/its inclusion proof leads to the signed root/).waitFor();
      await expectAccessible(page, "the audit log with a request found");
      await context.close();
    });

    it("verifies the log in the browser; a wrong key and an altered tile are caught", async () => {
      await ask(h().t, "alice", "US");
      const log = h().t.gateway.audit.log;
      await log.publish();
      const size = log.published?.size ?? 0n;
      const vkey = readFileSync(join(h().t.dataDir, "audit.vkey"), "utf8").trim();
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Audit log");
      const verify = async () => {
        await page.getByRole("button", { name: "Verify in this browser" }).click();
        await page.getByText(/^(Verified in this browser\.|Verification failed\.)$/).waitFor();
      };

      await page.getByLabel("Verifier key").fill(generateKey(vkey.split("+")[0] as string).verifierKey);
      await verify();
      expect(await page.getByRole("alert").innerText()).toMatch(/no signature from a known key/);

      // The signing key pasted by mistake: refused, and not kept by the browser (the verifier key is).
      const verifierKeyKept = () => page.evaluate(() => localStorage.getItem("clearance.verifier-key"));
      const signing = generateKey(vkey.split("+")[0] as string).privateKey;
      await page.getByLabel("Verifier key").fill(signing);
      await verify();
      expect(await page.getByRole("alert").innerText()).toMatch(/this is the log's signing key/);
      expect(await verifierKeyKept()).toBeNull();

      await page.getByLabel("Verifier key").fill(vkey);
      await verify();
      await page.getByText("Verified in this browser.").waitFor();
      expect(await verifierKeyKept()).toBe(vkey);
      expect(await page.getByRole("status").innerText()).toContain(
        `all ${size.toLocaleString("en")} entries`,
      );
      await expectAccessible(page, "the audit log, verified");
      await screenshot(page, "audit-verified");

      // One byte of one entry altered on disk (inside its JSON, so the bundle still parses).
      expect(log.published?.size).toBe(size);
      const last = (size - 1n) / 256n;
      const width = Number(size - last * 256n);
      const file = join(h().t.dataDir, "audit", tilePath({ level: "entries", index: last, width }));
      const original = readFileSync(file);
      const altered = Buffer.from(original);
      const at = altered.lastIndexOf(Buffer.from('"time"')) + 2;
      altered[at] = "T".charCodeAt(0);
      writeFileSync(file, altered);
      try {
        await verify();
        await page.getByText("Verification failed.").waitFor();
        expect(await page.getByRole("alert").innerText()).toMatch(
          new RegExp(`entry ${size - 1n} does not match its hash in the published tile`),
        );
        await screenshot(page, "audit-tampered");
      } finally {
        writeFileSync(file, original);
      }
      await context.close();
    });
  });
}

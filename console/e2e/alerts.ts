/** Alerts: listed and filtered, evidence linked to the audit log, acknowledged and resolved with a note. */
import { describe, expect, it } from "vitest";
import { expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

export function alertsSuite(h: () => Harness) {
  describe("alerts", () => {
    it("open alerts on the overview; filters; a note too long at the field; acknowledge, resolve", async () => {
      const { store, audit } = h().t.gateway;
      const raise = (
        detector: string,
        severity: "high" | "critical",
        kind: "key" | "principal",
        id: string,
      ) =>
        store.alerts.raise(
          {
            dedupeKey: `${detector}:${id}`,
            detector,
            severity,
            subject: { kind, id },
            summary: `${detector} seen for ${id}`,
            evidence: { audit_indexes: ["1", "2"], details: {} },
            raisedAt: new Date().toISOString(),
            deliver: false,
          },
          "monitor",
        );
      await raise("key-sharing", "high", "key", "k-shared");
      await raise("embargoed-attempt", "critical", "principal", "benoit");
      await audit.log.publish();

      const { context, page } = await h().page();
      await signIn(page, h().tokens.officer);
      const panel = page.locator(".panel", { has: page.getByRole("heading", { name: "Open alerts" }) });
      await panel.getByText("2 open alerts.").waitFor();
      expect(await panel.innerText()).toContain("embargoed-attempt: embargoed-attempt seen for benoit");

      await open(page, "Alerts");
      const row = (text: string) => page.getByRole("row").filter({ hasText: text });
      await row("k-shared").waitFor();
      await page.getByLabel("Severity").selectOption("critical");
      await expect.poll(() => row("k-shared").count()).toBe(0);
      await row("benoit").waitFor();
      await page.getByLabel("Severity").selectOption("any");
      await page.getByLabel("Detector").selectOption("key-sharing");
      await expect.poll(() => row("benoit").count()).toBe(0);
      await page.getByLabel("Detector").selectOption("any");
      await expectAccessible(page, "alerts");
      await screenshot(page, "alerts");

      // The API's own note schema, in the browser: at most 2,000 characters; nothing typed lost.
      const shared = row("k-shared");
      const long = "x".repeat(2001);
      await shared.getByLabel("Note").fill(long);
      await shared.getByRole("button", { name: "Acknowledge" }).click();
      await expect.poll(() => shared.getByLabel("Note").getAttribute("aria-invalid")).toBe("true");
      expect(await shared.getByLabel("Note").inputValue()).toBe(long);
      await shared.getByLabel("Note").fill("same laptop, two offices: asked the owner");
      await shared.getByRole("button", { name: "Acknowledge" }).click();
      // Acknowledged: no longer open, so the default filter (open) no longer lists it.
      await expect.poll(() => row("k-shared").count()).toBe(0);
      await page.getByLabel("State").selectOption("acknowledged");
      await row("k-shared").getByText("acknowledged by olivia@regulator").waitFor();
      expect(await row("k-shared").innerText()).toContain("asked the owner");
      await row("k-shared").getByLabel("Note").fill("the owner confirmed; key rotated");
      await row("k-shared").getByRole("button", { name: "Resolve" }).click();
      await expect.poll(() => row("k-shared").count()).toBe(0);
      await page.getByLabel("State").selectOption("resolved");
      await row("k-shared").getByText("resolved by olivia@regulator").waitFor();
      const api = await store.alerts.list({ state: "resolved" });
      expect(api.map((a) => a.subject.id)).toEqual(["k-shared"]);

      // The evidence: an audit entry, opened on the Audit page.
      await row("k-shared").getByRole("link", { name: "2" }).click();
      await page.getByRole("heading", { level: 1, name: "Audit log" }).waitFor();
      await page.getByRole("heading", { name: "Entry 2" }).waitFor();
      await context.close();
    });

    it("a viewer reads alerts but is offered no step", async () => {
      const { context, page } = await h().page();
      await signIn(page, h().tokens.viewer);
      await open(page, "Alerts");
      await page.getByRole("row").filter({ hasText: "benoit" }).waitFor();
      expect(await page.getByRole("button", { name: "Acknowledge" }).count()).toBe(0);
      await expectAccessible(page, "alerts, as a viewer");
      await context.close();
    });
  });
}

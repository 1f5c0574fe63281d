/**
 * Dates a compliance officer reads or types: a footprint period refused at the From or To field it
 * concerns (aria-invalid, the message under the field), and a license's validity with a date-time
 * and an offset shown in UTC with its time, not as the calendar date it was written with.
 */
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { application, asAdmin, call } from "../../src/testing/admin.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

/** The texts a field's aria-describedby points at (its hint and its error), as a screen reader reads them. */
const described = (field: Locator) =>
  field.evaluate((el) =>
    (el.getAttribute("aria-describedby") ?? "")
      .split(" ")
      .map((id) => document.getElementById(id)?.textContent ?? "")
      .join(" "),
  );

async function refused(page: Page, from: string, to: string, button: string) {
  await page.getByLabel("From", { exact: true }).fill(from);
  await page.getByLabel("To", { exact: true }).fill(to);
  await page.getByRole("button", { name: button }).click();
  await page.getByRole("alert").waitFor();
}

describe.skipIf(CHROMIUM === null)("dates in the console, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a bad footprint period is refused at the From or To field it concerns", async () => {
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "What-if");
    const from = page.getByLabel("From", { exact: true });
    const to = page.getByLabel("To", { exact: true });

    // A date-time without its zone: the server names `from`.
    await refused(page, "2026-05-01T10:00", "", "Download footprint JSON");
    await expect.poll(() => from.getAttribute("aria-invalid")).toBe("true");
    expect(await described(from)).toMatch(/with a time zone, got "2026-05-01T10:00"/);
    expect(await to.getAttribute("aria-invalid")).toBe("false");
    expect(await from.inputValue()).toBe("2026-05-01T10:00");
    await expectAccessible(page, "the footprint form with an error at From");

    // To before From: an empty period, named at `to` (and From is fine now).
    await refused(page, "2026-05-10", "2026-05-01", "Download footprint HTML (with maps)");
    await expect.poll(() => to.getAttribute("aria-invalid")).toBe("true");
    expect(await described(to)).toMatch(/the period would be empty/);
    expect(await from.getAttribute("aria-invalid")).toBe("false");

    // Not a date at all, through the CSV download.
    await refused(page, "2026-05-01", "next week", "Download footprint CSV");
    await expect.poll(() => described(to)).toMatch(/got "next week"/);
    expect(await to.getAttribute("aria-invalid")).toBe("true");
    await context.close();
  });

  it("a license's validity with a date-time and an offset is shown in UTC with its time", async () => {
    const t = h().t;
    // 23:00 at UTC-5 on 31 December is 04:00 UTC on 1 January: not "2030-12-31".
    await asAdmin(
      t,
      "POST",
      "/admin/v1/licenses",
      application({
        id: "LIC-E2E-OFFSET",
        valid_from: "2026-01-01",
        valid_until: "2030-12-31T23:00:00-05:00",
      }),
    );
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Licenses");
    const row = page.getByRole("row").filter({ hasText: "LIC-E2E-OFFSET" });
    expect(await row.innerText()).toContain("2031-01-01 04:00 UTC");
    expect(await row.innerText()).not.toContain("2030-12-31");

    // The first approval ends it earlier, with a date-time at the same offset.
    const approved = await call(
      t,
      h().tokens.approver1,
      "POST",
      "/admin/v1/licenses/LIC-E2E-OFFSET/approve",
      {
        conditions: { valid_until: "2030-12-31T20:30:00-05:00" },
      },
    );
    expect(approved.status).toBe(200);
    await page.getByRole("link", { name: "LIC-E2E-OFFSET", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "License LIC-E2E-OFFSET" }).waitFor();
    // A calendar date stays as written; the date-times are in UTC, the first approval's end too.
    await page.getByText("2026-01-01 to 2031-01-01 04:00 UTC", { exact: true }).waitFor();
    await page.getByText("2026-01-01 to 2031-01-01 01:30 UTC", { exact: true }).waitFor();
    expect(
      await page.getByRole("listitem").filter({ hasText: "alan@regulator approved" }).innerText(),
    ).toContain("ends earlier, on 2031-01-01 01:30 UTC");
    expect(await page.locator("main").innerText()).not.toContain("2030-12-31");
    await context.close();
  });
});

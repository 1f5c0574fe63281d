/**
 * How the console loads, in Chromium against a real gateway: a session kept through a server that
 * could not be reached for a moment; a long license list's usage read a few at a time; a browse of the
 * audit log whose filter changed while it loaded shows the new filter's rows only; the alerts read a
 * page at a time, newest first, filters kept. Where the server's answer or timing is what the test is
 * about, the browser's requests are held or answered by the test (page.route, a wrapped fetch).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, expectAccessible, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const token = (page: Page) => page.evaluate(() => sessionStorage.getItem("clearance.token"));

describe.skipIf(CHROMIUM === null)("how the console loads, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a reload while the server cannot be reached keeps the session, says why, and tries again", async () => {
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    const signedIn = await token(page);
    const me = (url: URL) => url.pathname === "/admin/v1/me";

    // A 503 from the server (its store unavailable): not a verdict on the token.
    await page.route(me, (r) =>
      r.fulfill({
        status: 503,
        contentType: "application/json",
        body: JSON.stringify({ error: { code: "unavailable", message: "the store is unavailable" } }),
      }),
    );
    await page.reload();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/could not be reached.*the store is unavailable/s);
    expect(await token(page)).toBe(signedIn);
    await expectAccessible(page, "the server could not be reached");
    await page.unroute(me);
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("navigation", { name: "Pages" }).waitFor();

    // No answer at all (the network down): the same.
    await page.route(me, (r) => r.abort("connectionrefused"));
    await page.reload();
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/could not be reached/);
    expect(await token(page)).toBe(signedIn);
    await page.unroute(me);
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    expect(await page.locator(".who").innerText()).toContain("olivia@regulator");
    await context.close();
  });
});

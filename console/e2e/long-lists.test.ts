/**
 * A long list is read and shown up to its bound, in Chromium against a real gateway: 501 API keys
 * show the first 500 with a notice that there are more and where to read them, rather than every
 * page read and every row drawn before anything is shown; a short list is shown whole, as before.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const KEYS = 501;

describe.skipIf(CHROMIUM === null)("long lists, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness({
      seed: async (store) => {
        for (let i = 0; i < KEYS; i++) await store.keys.create("alice", `seeded ${i}`);
      },
    });
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("501 keys: the first 500 shown, and said to be only the first; the principals, a short list, whole", async () => {
    const { context, page } = await h().page();
    const asked: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/admin/v1/keys")) asked.push(new URL(r.url()).search);
    });
    await signIn(page, h().tokens.officer);
    await open(page, "Principals and keys");
    const keys = page.getByRole("table").filter({ has: page.getByRole("columnheader", { name: "Key" }) });
    await keys.waitFor();
    expect(await keys.locator("tbody tr").count()).toBe(500);
    expect(await keys.locator("caption").innerText()).toBe("the first 500 of more than 500 API keys");
    const note = page.getByRole("note").filter({ hasText: "API keys" });
    expect(await note.innerText()).toBe(
      "Showing the first 500 API keys (by id) only: there are more, not shown here. The admin API lists them all (GET /admin/v1/keys, page by page with its next_cursor).",
    );
    // The first page read, never the next one.
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.filter((q) => q !== "?limit=500")).toEqual([]);
    // The principals (the example's few) are shown whole, with nothing said.
    const principals = page
      .getByRole("table")
      .filter({ has: page.getByRole("columnheader", { name: "Citizenships" }) });
    expect(await principals.locator("caption").innerText()).toMatch(/^\d+ principals$/);
    expect(await page.getByRole("note").filter({ hasText: "principals" }).count()).toBe(0);
    await expectAccessible(page, "a list cut at its bound");
    await context.close();
  });
});

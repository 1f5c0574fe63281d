/**
 * A review of the console as its users meet it: a refusal said where a screen reader hears it (the
 * focus taken to the field that says why); a form whose row changed under it sends what it shows; a
 * revocation that fails says so; the decided screening matches read newest first, the latest among them.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin } from "../../src/testing/admin.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

const organizationPartner = (id: string) => ({
  kind: "organization",
  partner: {
    id,
    country: "FR",
    assurance: "verified",
    grants: [{ models: ["mythos-5"], actions: ["infer"] }],
  },
  reason: "registered for the review",
});

/** The focused element: its label's text, whether it is marked invalid, and what describes it. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const id = el?.id ?? "";
    return {
      label:
        id === "" ? null : (document.querySelector(`label[for="${CSS.escape(id)}"]`)?.textContent ?? null),
      invalid: el?.getAttribute("aria-invalid") ?? null,
      described: (el?.getAttribute("aria-describedby") ?? "")
        .split(" ")
        .map((d) => (d === "" ? "" : (document.getElementById(d)?.textContent ?? "")))
        .join(" "),
    };
  });

describe.skipIf(CHROMIUM === null)("the console under review, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a refused token takes the focus to its field, which says why", async () => {
    const { context, page } = await h().page();
    await page.goto("/console/");
    await page.getByLabel("Identity token").fill("clra_wrong");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByText("This token is not valid").waitFor();
    await expect
      .poll(() => focused(page))
      .toEqual({
        label: "Identity token",
        invalid: "true",
        described: "This token is not valid, or it has been revoked.",
      });
    await context.close();
  });

  it("a one-line form refused takes the focus to the field that says why", async () => {
    await asAdmin(h().t, "POST", "/admin/v1/partners", organizationPartner("focus-lab"));
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Partners");
    const row = page.getByRole("row").filter({ hasText: "focus-lab" });
    // No reason: refused in the browser, at the reason, with no message above this form to hear.
    await row.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => row.getByLabel("Reason").getAttribute("aria-invalid")).toBe("true");
    const at = await focused(page);
    expect(at.label).toBe("Reason");
    expect(at.invalid).toBe("true");
    expect(at.described).not.toBe("");
    await expectAccessible(page, "partners, a status change refused at its reason");
    await context.close();
  });

  it("a partner's status form sends the status it shows after a change", async () => {
    await asAdmin(h().t, "POST", "/admin/v1/partners", organizationPartner("twice-lab"));
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Partners");
    const row = page.getByRole("row").filter({ hasText: "twice-lab" });
    await row.getByLabel("Reason").fill("vetting complete");
    await row.getByRole("button", { name: "Apply" }).click();
    await row.getByText("active", { exact: true }).waitFor();
    // The same row's form now offers suspended or revoked, and shows suspended.
    expect(await row.getByLabel("New status").inputValue()).toBe("suspended");
    await row.getByLabel("Reason").fill("incident under review");
    await row.getByRole("button", { name: "Apply" }).click();
    const status = async () =>
      (
        (await asAdmin(h().t, "GET", "/admin/v1/partners")) as {
          data: { id: string; partner: { status: string } }[];
        }
      ).data.find((p) => p.id === "twice-lab")?.partner.status;
    await expect.poll(status).toBe("suspended");
    await expect.poll(() => row.getByLabel("New status").inputValue()).toBe("active");
    expect(await row.getByLabel("Reason").getAttribute("aria-invalid")).toBe("false");
    await context.close();
  });

  it("a key revocation that fails says so, and the list is read again", async () => {
    await asAdmin(h().t, "POST", "/admin/v1/principals", { id: "rex", citizenships: [{ country: "FR" }] });
    const key = (await asAdmin(h().t, "POST", "/admin/v1/keys", {
      principal: "rex",
      label: "rex-laptop",
    })) as {
      id: string;
    };
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Principals and keys");
    const row = page.getByRole("row").filter({ hasText: "rex-laptop" });
    await row.waitFor();
    // Meanwhile, another officer removes the principal and its keys.
    await asAdmin(h().t, "DELETE", "/admin/v1/principals/rex");
    page.once("dialog", (d) => void d.accept());
    await row.getByRole("button", { name: /^Revoke key/ }).click();
    await page
      .getByRole("alert")
      .filter({ hasText: `Key ${key.id} of rex was not revoked` })
      .waitFor();
    expect(await page.getByRole("alert").innerText()).toContain(`no key ${key.id}`);
    await expect.poll(() => row.count()).toBe(0);
    await expectAccessible(page, "principals and keys, a revocation refused");
    await context.close();
  });

  it("the key form sends the principal it shows when the list changed under it", async () => {
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Principals and keys");
    const create = page.locator("form", { has: page.getByRole("heading", { name: "Create an API key" }) });
    // The principal chosen is removed elsewhere, and the list read again (by adding another here).
    await asAdmin(h().t, "POST", "/admin/v1/principals", { id: "aaron", citizenships: [{ country: "FR" }] });
    await page.reload();
    await create.getByLabel("Principal").selectOption("aaron");
    await asAdmin(h().t, "DELETE", "/admin/v1/principals/aaron");
    const add = page.locator("form", { has: page.getByRole("heading", { name: "Add a principal" }) });
    await add.getByLabel("Principal id").fill("zoe");
    await add.getByRole("button", { name: "Add principal" }).click();
    await page.getByText("Principal zoe added.").waitFor();
    await expect.poll(() => create.getByRole("option", { name: "aaron" }).count()).toBe(0);
    const shown = await create.getByLabel("Principal").inputValue();
    await create.getByLabel("Label").fill("shown-one");
    await create.getByRole("button", { name: "Create key" }).click();
    await page.getByLabel("New API key").waitFor();
    await page.getByText(`New key for ${shown}`).waitFor();
    await context.close();
  });

  it("the decided screening matches, newest first: the latest is listed among 501, the oldest left out and said so", async () => {
    const { store } = h().t.gateway;
    const found = Array.from({ length: 501 }, (_, i) => ({
      list: "review-list",
      entryId: `e${String(i).padStart(3, "0")}`,
      entryDigest: `d${i}`,
      score: 0.91,
      // The name a listed entry is shown by (every explanation has it; the console shows it).
      explanation: { name: "x", primary_name: `Listed person ${i}` },
    }));
    await store.screening.record(
      [{ subject: { kind: "principal", id: "quinn" }, found, scope: "all" }],
      "screener",
    );
    const ids = (await store.screening.matches({ subjectId: "quinn" })).map((m) => m.id).sort();
    // The last by id, beyond the API's first page of 500, is decided last: the newest decision.
    for (const id of ids.slice(0, -1)) await store.screening.review(id, "cleared", "rita", "an older one");
    await store.screening.review(ids.at(-1)!, "cleared", "rita", "the newest decision");

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Screening review");
    const decided = page.locator("table", { has: page.getByText("newest first") });
    await decided.waitFor();
    await decided.getByRole("row").first().waitFor();
    // The latest 500 read (one page, newest first), not every page: the newest decision among them.
    expect(await decided.getByRole("row").count()).toBe(1 + 500);
    expect(await decided.getByRole("row").filter({ hasText: "the newest decision" }).count()).toBe(1);
    expect(await page.getByRole("note").innerText()).toMatch(
      /^Showing the latest 500 cleared matches only: older ones are not shown here\./,
    );
    await expectAccessible(page, "decided matches cut at their bound");
    await context.close();
  });
});

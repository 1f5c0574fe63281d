/**
 * The Alerts page says what the admin API's alert documents say beyond the state: a delivery held
 * behind an earlier alert of its subject (`delivery.held_behind`, linked to that alert's row), and
 * an automatic suspension not yet in force on the node that took it (`response.not_yet_in_force`).
 * Before, the page showed neither: a held alert read as on its way, a suspension as done.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null } = { h: null };
const h = (): Harness => ctx.h as Harness;

describe.skipIf(CHROMIUM === null)("alerts' delivery and response, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness();
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a held alert names, and links to, the alert it waits behind; a suspension not yet in force says so", async () => {
    const { store } = h().t.gateway;
    const raise = async (key: string, subject: string, summary: string, at: string, deliver: boolean) =>
      (
        await store.alerts.raise(
          {
            dedupeKey: key,
            detector: "key-sharing",
            severity: "high",
            subject: { kind: "key", id: subject },
            summary,
            evidence: { audit_indexes: [], details: {} },
            raisedAt: at,
            deliver,
          },
          "detector:key-sharing",
        )
      ).alert.id;
    const first = await raise("held-0", "k-held", "first of k-held", "2030-01-02T03:04:05.000Z", true);
    await raise("held-1", "k-held", "second of k-held", "2030-01-02T03:04:06.000Z", true);
    // The first is in flight (claimed for a delivery): the second waits behind it.
    await store.alerts.due("2031-01-01T00:00:00.000Z", "2031-01-01T00:01:00.000Z", 10);
    const suspended = await raise("nyif", "k-nyif", "shared key k-nyif", "2030-01-02T03:04:07.000Z", false);
    // The reload failure's text comes from the store's driver: shown as stored text is.
    const message =
      `alert ${suspended}'s suspension was changed in the store, but is not yet in force on this node: ` +
      "this node could not reload from the store (ECONNREFUSED: connect ECONNREFUSED\u0007)";
    await store.alerts.respond(
      suspended,
      {
        action: "suspend",
        result: "key k-nyif revoked",
        not_yet_in_force: { code: "reload_failed", message, node: "gw-1" },
      },
      "detector:key-sharing",
    );

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Alerts");
    const row = (text: string) => page.getByRole("row").filter({ hasText: text });
    await row("second of k-held").waitFor();

    // Held: which alert it waits behind, a link to that alert's row.
    expect(await row("second of k-held").innerText()).toContain(`Delivery waiting behind ${first}`);
    expect(await row("first of k-held").innerText()).not.toContain("waiting behind");
    await row("second of k-held").getByRole("link", { name: first }).click();
    await expect
      .poll(() => page.evaluate(() => document.querySelector("tr:target")?.textContent ?? ""))
      .toContain("first of k-held");
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();

    // The suspension: done, and beside it, that it was not yet in force where it was taken.
    const nyif = await row("shared key k-nyif").innerText();
    expect(nyif).toContain("Done automatically: suspend (key k-nyif revoked)");
    expect(nyif).toContain(
      `Not yet in force on node gw-1 when recorded: alert ${suspended}'s suspension was changed in the store, but is not yet in force on this node`,
    );
    expect(nyif).toContain("ECONNREFUSED: connect ECONNREFUSED⟨U+0007⟩)");
    expect(await row("first of k-held").innerText()).not.toContain("Not yet in force");
    await expectAccessible(page, "alerts held and not yet in force");
    await context.close();
  });

  it("a head's delivery says where it stands: pending, delivering, failed with its tries and last error, delivered", async () => {
    const { store } = h().t.gateway;
    const raise = async (key: string, summary: string, at: string, deliver = true) =>
      (
        await store.alerts.raise(
          {
            dedupeKey: key,
            detector: "key-sharing",
            severity: "high",
            subject: { kind: "key", id: key },
            summary,
            evidence: { audit_indexes: [], details: {} },
            raisedAt: at,
            deliver,
          },
          "detector:key-sharing",
        )
      ).alert.id;
    const failing = await raise("d-failing", "delivery fails", "2032-01-02T03:04:05.000Z");
    const done = await raise("d-done", "delivery done", "2032-01-02T03:04:06.000Z");
    // Both claimed (one try each); one refused by the receiver, its text stored as it came.
    const claimed = await store.alerts.due("2033-01-01T00:00:00.000Z", "2033-01-01T00:01:00.000Z", 50);
    expect(claimed.map((a) => a.id)).toEqual(expect.arrayContaining([failing, done]));
    await store.alerts.retry(failing, "2033-01-01T00:05:00.000Z", "HTTP 503 from \u202Erecevier\u202C");
    await store.alerts.delivered(done, "2033-01-01T00:00:01.000Z");
    // Raised after the claim: not tried yet. And one with no webhook: nothing said of delivery.
    await raise("d-pending", "delivery pending", "2032-01-02T03:04:07.000Z");
    await raise("d-none", "delivery none", "2032-01-02T03:04:08.000Z", false);

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Alerts");
    const row = (text: string) => page.getByRole("row").filter({ hasText: text });
    await row("delivery fails").waitFor();

    expect(await row("delivery fails").innerText()).toContain(
      "Delivery failed (1 try so far, next from 2033-01-01 00:05 UTC): HTTP 503 from ⟨U+202E⟩recevier⟨U+202C⟩",
    );
    expect(await row("delivery done").innerText()).toContain("Delivered 2033-01-01 00:00:01 UTC");
    expect(await row("delivery pending").innerText()).toContain("Delivery pending");
    expect(await row("delivery none").innerText()).not.toContain("Deliver");
    // The earlier test's head, claimed and not answered yet: in flight.
    expect(await row("first of k-held").innerText()).toContain("Delivering");
    await expectAccessible(page, "alerts' delivery states");
    await context.close();
  });
});

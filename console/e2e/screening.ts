/**
 * Screening review: a list imported from the console, a principal named like a listed person seen
 * in the queue beside the entry it matched, cleared by a reviewer with a reason; it leaves the queue,
 * its screening status is clear again, and the gateway serves it again.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importInput } from "../../src/screening/lists.js";
import { asAdmin, createIdentity } from "../../src/testing/admin.js";
import { TABLET, expectAccessible, open, screenshot, signIn, type Harness } from "./harness.js";

const OFAC = ["sdn.csv", "alt.csv", "add.csv"].map((f) => join("src/screening/fixtures/ofac", f));

async function chat(h: Harness, key: string) {
  const res = await fetch(`${h.t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hello" }] }),
  });
  await res.text();
  return res.headers.get("x-clearance-reason");
}

export function screeningSuite(h: () => Harness) {
  describe("screening review", () => {
    it("clear a screening match: imported list, the match beside its entry, cleared with a reason", async () => {
      const t = h().t;
      const officer = await h().page();
      await signIn(officer.page, h().tokens.officer);
      await open(officer.page, "Screening review");
      await officer.page.getByText("No list has been imported").waitFor();
      await officer.page.getByLabel("List files").setInputFiles(OFAC);
      await officer.page.getByRole("button", { name: "Import", exact: true }).click();
      await officer.page.getByText(/^Imported ofac-sdn version \d+ \(3 entries: 3 added/).waitFor();
      await officer.page.getByRole("cell", { name: "ofac-sdn", exact: true }).waitFor();
      // A file set too large to send from the browser: said at the files field, with what to do.
      const files = officer.page.getByLabel("List files");
      await files.setInputFiles({
        name: "sdn.csv",
        mimeType: "text/csv",
        buffer: Buffer.alloc(8_000_000, 65),
      });
      await officer.page.getByRole("button", { name: "Import", exact: true }).click();
      await expect.poll(() => files.getAttribute("aria-invalid")).toBe("true");
      await officer.page
        .getByText(/import files this large with `clearance screening import <file>`/)
        .waitFor();

      // A principal named like a listed person, created as an operator would (screened on creation).
      await asAdmin(t, "POST", "/admin/v1/principals", {
        id: "ivan",
        name: "Ivan Petrov",
        birth_date: "1965-01-12",
        citizenships: [{ country: "DE" }],
        residence: "DE",
        assurance: "verified",
      });
      const key = (await asAdmin(t, "POST", "/admin/v1/keys", { principal: "ivan" }, 201)).key as string;
      expect(await chat(h(), key)).toBe("screening-review");

      const reviewer = await createIdentity(t, "rita@regulator", ["reviewer"]);
      const { context, page } = await h().page();
      await signIn(page, reviewer);
      await open(page, "Screening review");
      const card = page.getByRole("article", { name: "Ivan Petrov — PETROV, Ivan Sergeyevich" });
      await card.waitFor();
      // Side by side: the facts screened, and the entry as listed (aliases, address, programs).
      const subject = card.getByRole("region", { name: "Screened principal ivan" });
      const listed = card.getByRole("region", { name: "Listed entry ofac-sdn 101" });
      expect(await subject.innerText()).toMatch(/Ivan Petrov[\s\S]*1965-01-12[\s\S]*DE[\s\S]*potential/);
      const entry = await listed.innerText();
      expect(entry).toMatch(/PETROV, Vanya/);
      expect(entry).toMatch(/RUSSIA-EO14024/);
      expect(entry).toMatch(/person/);
      expect(await listed.locator("mark").innerText()).toBe("PETROV, Ivan Sergeyevich");
      expect(await card.innerText()).toMatch(/Score 0\.\d{3} on ofac-sdn, entry 101/);
      await expectAccessible(page, "the screening review queue");
      await screenshot(page, "screening-review", card);

      // A reason is required: said at the field, and nothing is sent.
      await card.getByRole("button", { name: "Clear match" }).click();
      await expect.poll(() => card.getByLabel("Reason").getAttribute("aria-invalid")).toBe("true");
      expect(await card.innerText()).toMatch(/a review needs a reason/);
      await card.getByLabel("Reason").fill("a different person: passport DE C01X00T47, born in Leipzig");
      await card.getByRole("button", { name: "Clear match" }).click();
      await page
        .getByText(
          "Cleared the match of Ivan Petrov with ofac-sdn entry 101. The screening status of principal ivan is now clear.",
        )
        .waitFor();
      await page.getByText("No potential match is waiting for review.").waitFor();
      const row = page.getByRole("row").filter({ hasText: "ivan" });
      expect(await row.innerText()).toMatch(
        /cleared\s+rita@regulator\s+a different person: passport DE C01X00T47, born in Leipzig/,
      );
      expect(await chat(h(), key)).not.toMatch(/screening|denied-party/);
      await expectAccessible(page, "the screening review, decided");
      // A reviewer imports nothing and starts no rescreen: those are an officer's.
      expect(await page.getByRole("button", { name: "Start a full rescreen" }).count()).toBe(0);
      await context.close();

      // A full rescreen keeps the clearance (the entry has not changed).
      await officer.page.reload();
      await officer.page.getByRole("heading", { level: 1, name: "Screening review" }).waitFor();
      await officer.page.getByRole("button", { name: "Start a full rescreen" }).click();
      await officer.page.getByText(/^Rescreen done: \d+ subjects screened against 3 entries/).waitFor();
      await officer.page.getByText("No potential match is waiting for review.").waitFor();
      // The officer sees the queue but decides nothing.
      expect(await officer.page.getByRole("button", { name: "Clear match" }).count()).toBe(0);
      await officer.context.close();

      const tablet = await h().page(TABLET);
      await signIn(tablet.page, h().tokens.viewer);
      await open(tablet.page, "Screening review");
      await tablet.page.getByRole("cell", { name: "rita@regulator" }).waitFor();
      await expectAccessible(tablet.page, "the screening review at 820×1180");
      await tablet.context.close();
    });

    it("a list version whose rescreen was cut short shows as not rescreened, until a full rescreen", async () => {
      const t = h().t;
      // Imported by a process that stopped before its rescreen (the CLI killed): in force, not rescreened.
      const entry = {
        id: "un-1",
        type: "person" as const,
        names: [{ name: "Wilhelmina Grootveld", strength: "strong" as const, kind: "primary" as const }],
        birth_dates: [],
        nationalities: [],
        countries: [],
        addresses: [],
        identifiers: [],
        programs: ["UN"],
      };
      await t.gateway.store.screening.importList(
        importInput({
          list: "un-sc",
          format: "un-xml",
          published: null,
          digest: "unfinished",
          files: ["un.xml"],
          entries: [entry],
        }),
        "ops",
      );
      const officer = await h().page();
      await signIn(officer.page, h().tokens.officer);
      await open(officer.page, "Screening review");
      const row = (list: string) =>
        officer.page
          .getByRole("row")
          .filter({ has: officer.page.getByRole("cell", { name: list, exact: true }) });
      await row("un-sc").waitFor();
      // Before: nothing on the page told this version apart from one whose rescreen finished.
      expect(await row("un-sc").getByRole("cell").last().innerText()).toBe("not rescreened");
      expect(await row("ofac-sdn").getByRole("cell").last().innerText()).toBe("done");
      await officer.page
        .getByRole("note")
        .filter({ hasText: /its rescreen was cut short/ })
        .waitFor();
      await expectAccessible(officer.page, "a list version not rescreened");

      await officer.page.getByRole("button", { name: "Start a full rescreen" }).click();
      await officer.page.getByText(/^Rescreen done: \d+ subjects screened against 4 entries/).waitFor();
      await expect.poll(() => row("un-sc").getByRole("cell").last().innerText()).toBe("done");
      expect(
        await officer.page
          .getByRole("note")
          .filter({ hasText: /cut short/ })
          .count(),
      ).toBe(0);
      await officer.context.close();
    });
  });
}

/**
 * Stored text is shown as it is, in Chromium against a real gateway: a partner's name, a key's
 * label, a license's justification and a change's reason holding a right-to-left override (U+202E)
 * or another invisible control are shown with the character written out (⟨U+202E⟩), isolated from
 * the text beside them, rather than reordering what the officer reads. The admin API now refuses such
 * text (400 bidi_control), but a store can still hold it (written by an older release, the CLI or
 * another node): the tests write it past the admin API, through the store's own writes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SchemeVersion } from "../../src/control/types.js";
import { apply } from "../../src/licensing/workflow.js";
import type { LicenseRecord } from "../../src/licensing/types.js";
import { importInput } from "../../src/screening/lists.js";
import type { MatchExplanation } from "../../src/screening/matcher.js";
import type { Collection, Store } from "../../src/store/index.js";
import { DB_FILE } from "../../src/store/sqlite/index.js";
import { application, asAdmin, call, daysFromNow, eventually } from "../../src/testing/admin.js";
import { putPrincipalAsBefore } from "../../src/testing/older-principals.js";
import { CHROMIUM, expectAccessible, open, signIn, startHarness, type Harness } from "./harness.js";

const ctx: { h: Harness | null; store: Store | null } = { h: null, store: null };
const h = (): Harness => ctx.h as Harness;
/** The gateway's own store: a write through it bumps the version the gateway reloads by. */
const store = (): Store => ctx.store as Store;

const RLO = "\u202E";
const PDF = "\u202C";
const BEL = "\u0007";
/** What must not reach the screen raw: the bidirectional controls, and a control character (BEL). */
// eslint-disable-next-line no-control-regex -- a control character is what must not reach the screen
const ACTING = /[\u0007\u202a-\u202e\u2066-\u2069]/;

/** What a person reads in `at`: none of the characters that act rather than show, each written out. */
async function readsAsStored(at: Locator, written: string): Promise<void> {
  const text = await at.innerText();
  expect(text).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/);
  expect(text).toContain(written);
  // Isolated: a name written right to left reorders nothing beside it.
  expect(await at.locator("bdi").filter({ hasText: written }).count()).toBeGreaterThan(0);
}

/**
 * What a person sees in `at` reads in the order it is written: every character after the one before
 * it on the line (or on a later line). A right-to-left override left acting lays the text after it
 * out backwards ("oleg-‮vonrims (DE)" read "oleg-(ED) smirnov"), which no look at the DOM's text shows.
 */
async function readsInOrder(at: Locator): Promise<void> {
  const backwards = await at.evaluate((root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let last: { top: number; left: number; c: string } | null = null;
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const text = n.textContent ?? "";
      for (let i = 0; i < text.length; i++) {
        if (/\s/.test(text[i] as string)) continue;
        const range = document.createRange();
        range.setStart(n, i);
        range.setEnd(n, i + 1);
        const r = range.getBoundingClientRect();
        if (r.width === 0) continue;
        const here = { top: r.top, left: r.left, c: text[i] as string };
        if (last !== null) {
          const sameLine = Math.abs(here.top - last.top) < r.height / 2;
          if (sameLine ? here.left < last.left - 0.5 : here.top < last.top)
            return `"${here.c}" shown before "${last.c}" in "${text}"`;
        }
        last = here;
      }
    }
    return null;
  });
  expect(backwards).toBeNull();
}

/**
 * The lines of `at` as a person sees them: each line's characters in the order they are laid out,
 * left to right. A text laid out right to left reads otherwise than its DOM text ("models:" seen as
 * ":models"), which no look at the DOM's text shows.
 */
async function linesAsSeen(at: Locator): Promise<string[]> {
  return at.evaluate((root) => {
    const chars: { c: string; left: number; top: number }[] = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const text = n.textContent ?? "";
      for (let i = 0; i < text.length; i++) {
        if (text[i] === "\n") continue;
        const range = document.createRange();
        range.setStart(n, i);
        range.setEnd(n, i + 1);
        const r = range.getBoundingClientRect();
        if (r.width > 0) chars.push({ c: text[i] as string, left: r.left, top: Math.round(r.top) });
      }
    }
    const lines = new Map<number, typeof chars>();
    for (const c of chars) lines.set(c.top, [...(lines.get(c.top) ?? []), c]);
    return [...lines.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, line]) =>
        line
          .sort((a, b) => a.left - b.left)
          .map((c) => c.c)
          .join(""),
      );
  });
}

const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;
const STAND_IN = /\[\[U\+([0-9A-F]{4})\]\]/g;

/** `text` as the admin API takes it: each bidirectional control as a stand-in, `[[U+202E]]`. */
const standIn = (text: string): string =>
  text.replace(BIDI_CONTROLS, (c) => `[[U+${c.charCodeAt(0).toString(16).toUpperCase()}]]`);

/**
 * Puts the controls stood in for back into a stored record, through the store's own write (its
 * revision checked, the version bumped): the record as an older release would have left it.
 */
async function leftInStore(collection: Collection, id: string): Promise<void> {
  const r = await store().records.get(collection, id);
  if (r === undefined) throw new Error(`no ${collection} ${id} in the store`);
  const json = JSON.stringify(r.document).replace(STAND_IN, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
  await store().records.put(collection, id, JSON.parse(json) as unknown, r.revision, {
    actor: "older-release",
    action: `${collection}.stored-text`,
  });
}

describe.skipIf(CHROMIUM === null)("stored text as it is stored, in Chromium", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    ctx.h = await startHarness({ wrapStore: (s) => (ctx.store = s) });
  }, 180_000);
  afterAll(async () => {
    await ctx.h?.close();
  });

  it("a partner's name and a key's label with a right-to-left override show it written out", async () => {
    // Read as stored, "Acme ‮sbal detsurt‬ (rlo-lab)" displayed as "Acme trusted labs (rlo-lab)" reversed
    // into the id after it.
    await asAdmin(h().t, "POST", "/admin/v1/partners", {
      kind: "organization",
      partner: {
        id: "rlo-lab",
        name: standIn(`Acme ${RLO}sbal detsurt`),
        country: "FR",
        assurance: "verified",
        grants: [{ models: ["mythos-5"], actions: ["infer"] }],
      },
      reason: standIn(`vetted ${RLO}ton`),
    });
    await leftInStore("partner", "rlo-lab");
    // A key's label has no update, and the store now refuses one holding an override: the key is
    // issued, then its label set in the database as an older release's store took it.
    const { record: key } = await store().keys.create("alice", "ops key", "older-release");
    const db = new Database(join(h().t.dataDir, DB_FILE));
    try {
      db.prepare("UPDATE api_keys SET label = ? WHERE id = ?").run(`ops ${RLO}pukcab${PDF} key`, key.id);
    } finally {
      db.close();
    }

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Partners");
    const partner = page.getByRole("row").filter({ hasText: "rlo-lab" });
    await partner.waitFor();
    await readsAsStored(partner.getByRole("cell").first(), "Acme ⟨U+202E⟩sbal detsurt");
    expect(await partner.getByRole("cell").first().innerText()).toContain("(rlo-lab)");

    await open(page, "Principals and keys");
    const row = page.getByRole("row").filter({ hasText: key.id });
    await row.waitFor();
    await readsAsStored(row, "ops ⟨U+202E⟩pukcab⟨U+202C⟩ key");
    await expectAccessible(page, "principals with a key label written out");
    await context.close();
  });

  it("a license's justification, a change's reason and an approval's note show their controls written out", async () => {
    const applied = await call(
      h().t,
      h().tokens.applicant,
      "POST",
      "/admin/v1/licenses",
      application({ justification: standIn(`analysts ${RLO}ton era yeht`) }),
    );
    expect(applied.status).toBe(201);
    const id = applied.body.id as string;
    const denied = await call(h().t, h().tokens.approver1, "POST", `/admin/v1/licenses/${id}/deny`, {
      reason: standIn(`out of scope \u2066${RLO}devorppa\u2069 for now`),
    });
    expect(denied.status).toBe(200);
    await leftInStore("license", id);

    const approved = await call(
      h().t,
      h().tokens.applicant,
      "POST",
      "/admin/v1/licenses",
      application({ justification: "analysts of bw-cyber at the liaison office" }),
    );
    const conditioned = await call(
      h().t,
      h().tokens.approver1,
      "POST",
      `/admin/v1/licenses/${approved.body.id as string}/approve`,
      { conditions: { destinations: ["FR"], note: standIn(`${RLO}reppots-wohs`) } },
    );
    expect(conditioned.status).toBe(200);
    await leftInStore("license", approved.body.id as string);

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await page.goto(`/console/licenses/${encodeURIComponent(approved.body.id as string)}`);
    const approval = page.getByRole("listitem").filter({ hasText: "alan@regulator approved" });
    await readsAsStored(approval, "⟨U+202E⟩reppots-wohs");
    expect(await approval.innerText()).toContain("destinations narrowed to FR; note: “⟨U+202E⟩reppots-wohs”");
    await page.goto(`/console/licenses/${encodeURIComponent(id)}`);
    const justification = page
      .locator(".panel")
      .filter({ has: page.getByRole("heading", { name: "Justification" }) });
    await justification.waitFor();
    await readsAsStored(justification, "analysts ⟨U+202E⟩ton era yeht");
    const deny = page.getByRole("row").filter({ hasText: "deny" });
    await readsAsStored(deny, "out of scope ⟨U+2066⟩⟨U+202E⟩devorppa⟨U+2069⟩ for now");
    await expectAccessible(page, "a license with its justification written out");
    await context.close();
  });
  it("a listed entry's name, identifier, program and dates, and why it matched, show their controls written out", async () => {
    // A list as published: its entries are not refused for the controls they hold.
    await store().screening.importList(
      importInput({
        list: "rlo-list",
        format: "un-xml",
        published: null,
        digest: "rlo-list-1",
        files: ["rlo.xml"],
        entries: [
          {
            id: `rlo-${RLO}101`,
            type: "person",
            names: [{ name: `PETROV, Ivan ${RLO}`, strength: "strong", kind: "primary" }],
            birth_dates: [`1965${RLO}`],
            nationalities: [`R${RLO}U`],
            countries: [],
            addresses: [],
            identifiers: [{ type: `Pass${RLO}port`, value: `${RLO}4321`, country: "RU" }],
            programs: [`RUSSIA-${RLO}EO14024`],
          },
        ],
      }),
      `ops ${RLO}ppa`,
    );
    await asAdmin(h().t, "POST", "/admin/v1/principals", {
      id: "rlo-ivan",
      name: "Ivan Petrov",
      birth_date: "1965-01-12",
      citizenships: [{ country: "DE" }],
      residence: "DE",
      assurance: "verified",
    });
    // Its explanation as another node stored it, the tokens as listed: what the page shows does not
    // rest on the matcher having normalised them away.
    const [found] = await store().screening.matches({ subjectId: "rlo-ivan" });
    if (found === undefined) throw new Error("rlo-ivan was not matched");
    const x = found.explanation as MatchExplanation;
    await store().screening.record(
      [
        {
          subject: { kind: "principal", id: "rlo-ivan" },
          found: [
            {
              list: found.list,
              entryId: found.entry_id,
              entryDigest: found.entry_digest,
              score: found.score - 0.001,
              explanation: {
                ...x,
                tokens: x.tokens.map((t) => ({
                  ...t,
                  query: `${RLO}${t.query}`,
                  listed: `${RLO}${t.listed}`,
                })),
                unmatched_query: [`${RLO}sergeyevich`],
                unmatched_listed: [`${RLO}ivanovich`],
              },
            },
          ],
          scope: { list: found.list, entryIds: new Set([found.entry_id]) },
        },
      ],
      "older-release",
    );

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Screening review");
    const card = page.getByRole("article").filter({ hasText: "Ivan Petrov" });
    await card.waitFor();
    const listed = card.locator(".side.listed");
    await readsAsStored(listed, "PETROV, Ivan ⟨U+202E⟩");
    await readsAsStored(listed, "⟨U+202E⟩4321");
    await readsAsStored(listed, "Pass⟨U+202E⟩port");
    await readsAsStored(listed, "RUSSIA-⟨U+202E⟩EO14024");
    await readsAsStored(listed, "R⟨U+202E⟩U");
    await readsAsStored(listed, "1965⟨U+202E⟩");
    await readsAsStored(listed, "rlo-⟨U+202E⟩101");
    await card.getByText("Why it matched").click();
    const why = card.locator("details");
    // The factor quoting the listed birth year, and every token of the table.
    await readsAsStored(why, "same year as listed 1965⟨U+202E⟩");
    await readsAsStored(why.getByRole("table"), "⟨U+202E⟩ivan");
    await readsAsStored(why.getByRole("table"), "⟨U+202E⟩sergeyevich");
    await readsAsStored(why.getByRole("table"), "⟨U+202E⟩ivanovich");
    await readsAsStored(card, "rlo-⟨U+202E⟩101");
    expect(await card.innerText()).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    // Named for assistive technology by the same text, written out too.
    expect(await listed.getAttribute("aria-label")).toBe("Listed entry rlo-list rlo-⟨U+202E⟩101");
    // Who imported the list, in the lists in force.
    await readsAsStored(page.getByRole("row").filter({ hasText: "rlo-list" }), "ops ⟨U+202E⟩ppa");
    await expectAccessible(page, "a screening match with its listed entry's controls written out");
    await context.close();
  });
  it("a listed name and a screened principal's id, organization and log entries show their controls written out on every page", async () => {
    // A principal an older release stored (the admin API now refuses the override in its id), and
    // a list entry naming them as published.
    const pid = `oleg-${RLO}vonrims`;
    // The store refuses the override in new writes too: the row is written as that release wrote it.
    putPrincipalAsBefore(h().t.dataDir, {
      id: pid,
      name: "Oleg Smirnov",
      birth_date: "1971",
      citizenships: [{ country: "DE" }],
      residence: "DE",
      organization: `acme-${RLO}gro`,
      assurance: "verified",
    });
    const { record: key } = await store().keys.create(pid, "laptop", "older-release");
    await store().screening.importList(
      importInput({
        list: "rlo-names",
        format: "un-xml",
        published: null,
        digest: "rlo-names-1",
        files: ["rlo-names.xml"],
        entries: [
          {
            id: `rlo-${RLO}202`,
            type: "person",
            names: [
              { name: `SMIRNOV, Oleg ${RLO}vonaI`, strength: "strong", kind: "primary" },
              { name: `Oleg ${RLO}ytiC`, strength: "weak", kind: "aka" },
            ],
            birth_dates: ["1971"],
            nationalities: [],
            countries: [],
            addresses: [`${RLO}wocsoM`],
            identifiers: [],
            programs: [`UKRAINE-${RLO}EO13660`],
          },
        ],
      }),
      "ops",
    );
    await asAdmin(h().t, "POST", "/admin/v1/screening/rescreen");
    const [found] = await store().screening.matches({ subjectId: pid });
    if (found === undefined) throw new Error(`${pid} was not matched`);
    // Its explanation as another node stored it: the name kind as the list spelled it.
    const x = found.explanation as MatchExplanation;
    await store().screening.record(
      [
        {
          subject: { kind: "principal", id: pid },
          found: [
            {
              list: found.list,
              entryId: found.entry_id,
              entryDigest: found.entry_digest,
              score: found.score - 0.001,
              explanation: { ...x, name_kind: `${RLO}yramirp` },
            },
          ],
          scope: { list: found.list, entryIds: new Set([found.entry_id]) },
        },
      ],
      "older-release",
    );
    // A decision entry as an older writer left it in the log, beside the gateway's own.
    const log = h().t.gateway.audit.log;
    await log.append(
      new TextEncoder().encode(
        JSON.stringify({
          action: "infer",
          decision: "deny",
          grant: null,
          location: "DE",
          model: "mythos-5",
          organization: `acme-${RLO}gro`,
          principal: pid,
          reason: `${RLO}weiver-gnineercs`,
          request_id: `req-${RLO}1`,
          served_model: null,
          time: new Date().toISOString(),
          type: "decision",
          v: 1,
        }),
      ),
    );
    await log.publish();

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);

    await open(page, "Screening review");
    const card = page.getByRole("article").filter({ hasText: "Oleg Smirnov" });
    await card.waitFor();
    const said = card.locator("p").first();
    await readsAsStored(said, "⟨U+202E⟩yramirp");
    await readsAsStored(said, "oleg-⟨U+202E⟩vonrims");
    await readsInOrder(said);
    await readsAsStored(card.getByRole("heading", { level: 3 }), "SMIRNOV, Oleg ⟨U+202E⟩vonaI");
    await readsInOrder(card.getByRole("heading", { level: 3 }));
    const listed = card.locator(".side.listed");
    await readsAsStored(listed, "Oleg ⟨U+202E⟩ytiC");
    await readsAsStored(listed, "UKRAINE-⟨U+202E⟩EO13660");
    await readsInOrder(listed.locator("dd").nth(1));

    await open(page, "Principals and keys");
    const principal = page.getByRole("row").filter({ hasText: "oleg-" }).first();
    await principal.waitFor();
    await readsAsStored(principal.getByRole("cell").nth(0), "oleg-⟨U+202E⟩vonrims");
    await readsAsStored(principal.getByRole("cell").nth(3), "acme-⟨U+202E⟩gro");
    for (const n of [0, 3]) await readsInOrder(principal.getByRole("cell").nth(n));
    const keyRow = page.getByRole("row").filter({ hasText: key.id });
    await readsAsStored(keyRow.getByRole("cell").nth(1), "oleg-⟨U+202E⟩vonrims");
    await readsInOrder(keyRow.getByRole("cell").nth(1));
    expect(await keyRow.getByRole("button", { name: /^Revoke key/ }).getAttribute("aria-label")).toBe(
      `Revoke key ${key.id} of oleg-⟨U+202E⟩vonrims`,
    );

    await open(page, "Audit log");
    const decision = page.getByRole("row").filter({ hasText: "req-" });
    await decision.first().waitFor();
    const cells = decision.first().getByRole("cell");
    await readsAsStored(cells.nth(3), "oleg-⟨U+202E⟩vonrims");
    await readsAsStored(cells.nth(5), "⟨U+202E⟩weiver-gnineercs");
    await readsAsStored(cells.nth(6), "req-⟨U+202E⟩1");
    for (const n of [3, 5, 6]) await readsInOrder(cells.nth(n));
    await page.getByLabel("Show").selectOption("admin");
    const match = page
      .getByRole("row")
      .filter({ hasText: "screening.match" })
      .filter({ hasText: "rlo-names" });
    await match.first().waitFor();
    await readsAsStored(match.first().getByRole("cell").nth(4), "rlo-⟨U+202E⟩202");
    await readsInOrder(match.first().getByRole("cell").nth(4));
    expect(await page.locator("main").innerText()).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    await expectAccessible(page, "the audit log with a screened principal's entries written out");
    await context.close();
  });

  it("an alert's subject and summary show their controls written out on the Alerts page and the Overview's panel", async () => {
    // Raised on an older release, or by a detector quoting a principal's id as stored.
    await store().alerts.raise(
      {
        dedupeKey: "rlo-alert",
        detector: "key-sharing",
        severity: "critical",
        subject: { kind: "key", id: `k-${RLO}lla` },
        summary: `shared key k-${RLO}lla`,
        evidence: { audit_indexes: [], details: {} },
        raisedAt: new Date().toISOString(),
        deliver: false,
      },
      "detector:key-sharing",
    );
    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    const panel = page.locator(".panel", { has: page.getByRole("heading", { name: "Open alerts" }) });
    const listed = panel.locator("li").filter({ hasText: "k-" });
    await listed.first().waitFor();
    await readsAsStored(listed.first(), "shared key k-⟨U+202E⟩lla");
    // The severity badge is laid out in capitals: the order is read in the summary itself.
    await readsInOrder(listed.first().locator("bdi").filter({ hasText: "shared key" }));

    await open(page, "Alerts");
    const row = page.getByRole("row").filter({ hasText: "shared key k-" });
    await row.first().waitFor();
    await readsAsStored(row.first(), "k-⟨U+202E⟩lla");
    for (const shown of await row.first().locator("bdi").filter({ hasText: "k-" }).all())
      await readsInOrder(shown);
    expect(await page.locator("main").innerText()).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    await context.close();
  });
  it("a stored scheme version's digest, date, descriptions, partner name and file show their controls written out on the Schemes page; a missing digest is a dash", async () => {
    // A version an older release stored (new YAML refuses controls, item 610; stored versions are
    // read as stored): a description and a partner's name holding U+202E (the diff quotes them),
    // the record's digest a BEL and an override, its upload date an override (not an instant: shown
    // whole).
    const versions = await store().records.list<SchemeVersion>("scheme");
    const n = Math.max(...versions.map((v) => v.document.version)) + 1;
    const text = readFileSync("examples/g7-trusted-partners.yaml", "utf8")
      .replace(
        "description: G7 / Five Eyes trusted-partner access to controlled US frontier models",
        `description: "G7 ${RLO}seye evif"`,
      )
      .replace("name: UK AI Security Institute", `name: "UK AI ${RLO}etutitsnI ytiruceS"`);
    await store().records.put<SchemeVersion>(
      "scheme",
      String(n),
      {
        version: n,
        name: "g7-trusted-partners",
        digest: `sha256:${BEL}${RLO}0f1e2d3c4b5a`,
        text,
        uploaded_by: "older-release",
        uploaded_at: `2026-12-06T09:${RLO}15:00.000Z`,
      },
      0,
      { actor: "older-release", action: "scheme.upload" },
    );
    // And one whose record lacks its digest: "—" as any missing stored text, not "undefined…".
    await store().records.put(
      "scheme",
      String(n + 1),
      {
        version: n + 1,
        name: "g7-trusted-partners",
        text,
        uploaded_by: "older-release",
        uploaded_at: "2026-12-06T09:16:00.000Z",
      },
      0,
      { actor: "older-release", action: "scheme.upload" },
    );

    const { context, page } = await h().page();
    await signIn(page, h().tokens.admin);
    await open(page, "Scheme versions");
    const row = page
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name: `Version ${n}`, exact: true }) });
    await row.waitFor();
    await readsAsStored(row.getByRole("cell").nth(2), "sha256:⟨U+0007⟩⟨U+202E⟩0f1e");
    await readsAsStored(row.getByRole("cell").nth(4), "2026-12-06T09:⟨U+202E⟩15:00.000Z");
    for (const c of [2, 4]) await readsInOrder(row.getByRole("cell").nth(c));
    const bare = page
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name: `Version ${n + 1}`, exact: true }) });
    expect(await bare.getByRole("cell").nth(2).innerText()).toBe("—");
    expect(await bare.getByRole("cell").nth(4).innerText()).toBe("2026-12-06 09:16 UTC");

    await row.getByRole("link", { name: `Version ${n}`, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: `Scheme version ${n}` }).waitFor();
    const said = page.locator("main p").filter({ hasText: "uploaded by" });
    await readsAsStored(said, "2026-12-06T09:⟨U+202E⟩15:00.000Z");
    await readsAsStored(said, "sha256:⟨U+0007⟩⟨U+202E⟩0f1e2d3c4b5a");
    await readsInOrder(said);
    const diff = page.locator(".diff");
    const description = diff.getByRole("listitem").filter({ hasText: "scheme: description" });
    // The diff's sentence quotes the description as messages quote a value: escaped by the server.
    const sentence = await description.innerText();
    expect(sentence).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(sentence).toContain(String.raw`"G7 \u202eseye evif"`);
    await readsInOrder(description);
    const partner = diff.getByRole("listitem").filter({ hasText: "etutitsnI" });
    const partnerSentence = await partner.innerText();
    expect(partnerSentence).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(partnerSentence).toContain(String.raw`"UK AI \u202eetutitsnI ytiruceS"`);
    await readsInOrder(partner);
    await page.getByText("The scheme file").click();
    // The file is shown left to right (not isolated in a <bdi>: see the Hebrew comment's test).
    const file = await page.locator("pre").innerText();
    expect(file).toContain(`description: "G7 ⟨U+202E⟩seye evif"`);
    expect(file).not.toMatch(ACTING);
    expect(await page.locator("main").innerText()).not.toMatch(ACTING);
    await expectAccessible(page, "a stored scheme version with its controls written out");
    await context.close();
  });

  it("a license's narrowed destinations, countries, dates, id and licensee, and why the policy leaves it out, show their controls written out", async () => {
    // An approved license as an older release (or a hand-edited database) left it: its licensee and
    // applicant, its dates, the countries its destinations were fixed to, an approval's narrowed
    // destinations and earlier end, and the dates of its approval and history hold U+202E; its
    // model is one the scheme lacks, so the policy in force leaves it out, saying why. A second
    // one's id holds U+202E too (the admin API refuses such a path parameter: it is listed, not
    // opened).
    const id = "LIC-E2E-STORED";
    const applied = apply(
      {
        id,
        licensee: { organization: `bw-${RLO}rebyc` },
        terms: {
          models: [`x-${RLO}1`],
          actions: ["infer"],
          destinations: ["IT"],
          valid_from: `2026-01-${RLO}01`,
          valid_until: `2027-01-${RLO}31`,
          quota_period: "total",
        },
        justification: "stored by an older release",
      },
      `hans@${RLO}bw`,
      daysFromNow(-2),
    );
    const conditions = { destinations: [`F${RLO}R`, "IT"], valid_until: `2026-${RLO}06-30` };
    const record: LicenseRecord = {
      ...applied,
      status: "approved",
      terms: { ...applied.terms, resolved: { destinations: [`I${RLO}T`] } },
      approvals: [{ identity: "alan@regulator", at: `2026-12-0${RLO}6T09:15:00.000Z`, conditions }],
      history: [
        ...applied.history,
        { at: `2026-12-0${RLO}6T09:15:00.000Z`, actor: "alan@regulator", action: "approve", conditions },
      ],
    };
    const other = `LIC-${RLO}TFEL`;
    for (const r of [record, { ...record, id: other }])
      await store().records.put("license", r.id, r, 0, { actor: "older-release", action: "license.seed" });
    await eventually(
      () => asAdmin(h().t, "GET", "/admin/v1/schemes"),
      (b) =>
        b.data.some((v: { left_out?: { id: string }[] }) => (v.left_out ?? []).some((l) => l.id === other)),
    );

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Licenses");
    const notice = page.getByText(/^Not in the policy in force, as they do not compile/);
    await readsAsStored(notice, "LIC-⟨U+202E⟩TFEL");
    await readsInOrder(notice);
    const row = page.getByRole("row").filter({ hasText: id });
    await readsAsStored(row.getByRole("cell").nth(4), "2027-01-⟨U+202E⟩31");
    await readsInOrder(row.getByRole("cell").nth(4));
    await readsAsStored(
      page.getByRole("row").filter({ hasText: "TFEL" }).getByRole("cell").first(),
      "LIC-⟨U+202E⟩TFEL",
    );

    await row.getByRole("link").click();
    await page.getByRole("heading", { level: 1, name: `License ${id}` }).waitFor();
    const why = page.locator(".left-out").filter({ hasText: "Why:" });
    // The reason's names come from the server already escaped (quoted(), item 680); its dates as stored.
    const whyText = await why.innerText();
    expect(whyText).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/);
    expect(whyText).toContain('unknown model "x-\\u202e1"');
    await readsAsStored(why, "2027-01-⟨U+202E⟩31");
    const licensee = page.locator("main p").filter({ hasText: "applied for by" });
    await readsAsStored(licensee, "organization bw-⟨U+202E⟩rebyc");
    await readsAsStored(licensee, "hans@⟨U+202E⟩bw");
    await readsInOrder(licensee);
    const terms = page.locator("dl.terms").last();
    await readsAsStored(terms, "2026-01-⟨U+202E⟩01");
    await readsAsStored(terms, "2027-01-⟨U+202E⟩31");
    await readsAsStored(terms, "I⟨U+202E⟩T");
    const approval = page.getByRole("listitem").filter({ hasText: "alan@regulator approved" });
    // Not an instant: shown whole.
    await readsAsStored(approval, "2026-12-0⟨U+202E⟩6T09:15:00.000Z");
    await readsAsStored(approval, "F⟨U+202E⟩R");
    await readsAsStored(approval, "2026-⟨U+202E⟩06-30");
    expect(await approval.innerText()).toContain(
      "with conditions: destinations narrowed to F⟨U+202E⟩R, IT; ends earlier, on 2026-⟨U+202E⟩06-30",
    );
    await readsInOrder(approval);
    const approved = page.getByRole("row").filter({ hasText: "approve" });
    await readsAsStored(approved.getByRole("cell").nth(0), "2026-12-0⟨U+202E⟩6T09:15:00.000Z");
    await readsAsStored(approved.getByRole("cell").nth(3), "F⟨U+202E⟩R");
    for (const c of [0, 3]) await readsInOrder(approved.getByRole("cell").nth(c));
    expect(await page.locator("main").innerText()).not.toMatch(ACTING);
    await expectAccessible(page, "a license with its stored dates and destinations written out");

    await open(page, "Scheme versions");
    const left = page.locator(".left-out").getByRole("listitem").filter({ hasText: "TFEL" });
    await readsAsStored(left, "LIC-⟨U+202E⟩TFEL");
    await readsInOrder(left);
    await context.close();
  });

  it("an alert's dates (raised, a step's, delivered, next try) are in UTC, or, holding a control, shown whole and written out", async () => {
    // Dates an older release or another writer left: each holding U+202E, so not an instant; and one
    // written with an offset, 04:16 at UTC-5, which is 09:16 UTC.
    const raise = async (key: string, summary: string, raisedAt: string) =>
      (
        await store().alerts.raise(
          {
            dedupeKey: `dates-${key}`,
            detector: "denial-spike",
            severity: "high",
            subject: { kind: "principal", id: `dates-${key}` },
            summary,
            evidence: { audit_indexes: [], details: {} },
            raisedAt,
            deliver: true,
          },
          "older-release",
        )
      ).alert.id;
    const raised = await raise("raised", "dates raised", `2026-12-06T09:${RLO}15:00.000Z`);
    const done = await raise("delivered", "dates delivered", "2026-12-06T04:16:00-05:00");
    const failing = await raise("next", "dates next try", "2026-12-06T09:17:00.000Z");
    // Claimed for delivery (a try each), then one delivered, one to be tried again.
    await store().alerts.due("2040-01-01T00:00:00.000Z", "2040-01-01T00:01:00.000Z", 50);
    await store().alerts.delivered(done, `2026-12-06T09:${RLO}18:00.000Z`);
    await store().alerts.retry(failing, `2026-12-06T09:${RLO}19:00.000Z`, "HTTP 503");
    await store().alerts.transition(raised, "acknowledged", "olivia", "seen");
    // A step's date as a hand-edited database holds it (the store writes the step's own time).
    const db = new Database(join(h().t.dataDir, DB_FILE));
    try {
      db.prepare("UPDATE alerts SET document = json_set(document, '$.history[1].at', ?) WHERE id = ?").run(
        `2026-12-06T09:${RLO}20:00.000Z`,
        raised,
      );
    } finally {
      db.close();
    }

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Alerts");
    await page.getByLabel("State").selectOption("any");
    const row = (summary: string) => page.getByRole("row").filter({ hasText: summary });
    await row("dates raised").waitFor();
    await readsAsStored(row("dates raised").getByRole("cell").first(), "2026-12-06T09:⟨U+202E⟩15:00.000Z");
    await readsAsStored(row("dates raised"), "2026-12-06T09:⟨U+202E⟩20:00.000Z");
    expect(await row("dates raised").innerText()).toContain(
      "acknowledged by olivia, 2026-12-06T09:⟨U+202E⟩20:00.000Z: seen",
    );
    expect(await row("dates delivered").getByRole("cell").first().innerText()).toBe("2026-12-06 09:16 UTC");
    await readsAsStored(row("dates delivered"), "2026-12-06T09:⟨U+202E⟩18:00.000Z");
    expect(await row("dates delivered").innerText()).toContain("Delivered 2026-12-06T09:⟨U+202E⟩18:00.000Z");
    await readsAsStored(row("dates next try"), "2026-12-06T09:⟨U+202E⟩19:00.000Z");
    expect(await row("dates next try").innerText()).toContain(
      "Delivery failed (1 try so far, next from 2026-12-06T09:⟨U+202E⟩19:00.000Z): HTTP 503",
    );
    for (const summary of ["dates raised", "dates delivered", "dates next try"])
      for (const shown of await row(summary).locator("bdi").filter({ hasText: "2026-12-06" }).all())
        await readsInOrder(shown);
    expect(await page.locator("main").innerText()).not.toMatch(ACTING);
    await context.close();
  });

  it("a license's quota period (its stored terms) shows its controls written out", async () => {
    const id = "LIC-E2E-PERIOD";
    const applied = apply(
      {
        id,
        licensee: { organization: "bw-cyber" },
        terms: {
          models: ["mythos-5"],
          actions: ["infer"],
          destinations: ["FR"],
          valid_from: "2026-01-01",
          valid_until: "2027-01-31",
          quota_tokens: 1000,
          // Not a period the API takes: as an older release or a hand-edited database left it.
          quota_period: `mon${RLO}htn` as "month",
        },
        justification: "quota period stored by an older release",
      },
      "hans@bw-cyber",
      daysFromNow(-2),
    );
    const record: LicenseRecord = { ...applied, status: "pending" };
    await store().records.put("license", id, record, 0, { actor: "older-release", action: "license.seed" });

    const { context, page } = await h().page();
    await signIn(page, h().tokens.officer);
    await open(page, "Licenses");
    await page.getByRole("link", { name: id }).click();
    await page.getByRole("heading", { level: 1, name: `License ${id}` }).waitFor();
    const quota = page.locator("dl.terms").first().locator("dd").filter({ hasText: "tokens" });
    await readsAsStored(quota, "mon⟨U+202E⟩htn");
    expect(await quota.innerText()).toBe("1,000 tokens (mon⟨U+202E⟩htn)");
    await readsInOrder(quota);
    expect(await page.locator("main").innerText()).not.toMatch(ACTING);
    await context.close();
  });

  it("a scheme file opening with a right-to-left comment is laid out left to right", async () => {
    // A file whose first strong character is Hebrew (a comment): isolated in one <bdi>, the file
    // took that direction, "models:" read ":models" and "  - id: …" read "id: … -". Such a file is
    // taken by the admin API (no control in it): uploaded as an officer would.
    const text =
      "# תכנית שותפים\n" +
      readFileSync("examples/g7-trusted-partners.yaml", "utf8").replace(
        "description: G7 / Five Eyes trusted-partner access to controlled US frontier models",
        "description: G7 trusted partners, the file opening with a comment in Hebrew",
      );
    const uploaded = (await asAdmin(h().t, "POST", "/admin/v1/schemes", { yaml: text })) as {
      version: number;
      created: boolean;
    };
    expect(uploaded.created).toBe(true);

    const { context, page } = await h().page();
    await signIn(page, h().tokens.admin);
    await open(page, "Scheme versions");
    await page.getByRole("link", { name: `Version ${uploaded.version}`, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: `Scheme version ${uploaded.version}` }).waitFor();
    await page.getByText("The scheme file").click();
    const lines = (await linesAsSeen(page.locator("pre"))).map((l) => l.trim());
    // The comment's words run right to left, as Hebrew does; the line starts with its "#".
    expect(lines[0]).toMatch(/^# /);
    expect(lines).toContain("name: g7-trusted-partners");
    expect(lines).toContain("models:");
    expect(lines).toContain("partners:");
    expect(lines).toContain("- id: BIS-2026-0001");
    await context.close();
  });

  it("the apply form's licensee, the applicant's organization as stored, shows its controls written out", async () => {
    // Last: it changes the applicant's stored identity, put back after.
    const before = await store().records.get("identity", "hans@bw-cyber");
    if (before === undefined) throw new Error("no identity hans@bw-cyber");
    const organization = `bw-${RLO}rebyc`;
    const { revision } = await store().records.put(
      "identity",
      "hans@bw-cyber",
      { ...(before.document as Record<string, unknown>), organization },
      before.revision,
      { actor: "older-release", action: "identity.seed" },
    );
    try {
      await eventually(
        () => call(h().t, h().tokens.applicant, "GET", "/admin/v1/me"),
        (r) => (r as { body: { organization?: string } }).body.organization === organization,
      );
      const { context, page } = await h().page();
      await signIn(page, h().tokens.applicant);
      await open(page, "Licenses");
      await page.locator('a[href$="/licenses/apply"]').first().click();
      await page.getByRole("heading", { level: 1, name: "Apply for a license" }).waitFor();
      const said = page.locator("p").filter({ hasText: "Licensee: organization" });
      await readsAsStored(said, "bw-⟨U+202E⟩rebyc");
      expect(await said.innerText()).toBe("Licensee: organization bw-⟨U+202E⟩rebyc (yours)");
      await readsInOrder(said);
      await context.close();
    } finally {
      await store().records.put("identity", "hans@bw-cyber", before.document, revision, {
        actor: "older-release",
        action: "identity.seed",
      });
    }
  });
});

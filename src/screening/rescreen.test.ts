/** The rescreens on a real (embedded) store: a full pass, and the incremental pass after an import. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { putPrincipalAsBefore } from "../testing/older-principals.js";
import { HOLD_ENTRY, holdReason } from "./indistinct.js";
import { importInput, importList } from "./lists.js";
import { loadList } from "./loaders/index.js";
import { ScreeningEngine } from "./engine.js";
import { rescreenAfterImport, rescreenAll, screenSubjects } from "./rescreen.js";
import { principalSubject } from "./subjects.js";
import type { ListEntry, ParsedList } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-rescreen-"));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const person = (id: string, name: string, more: Partial<ListEntry> = {}): ListEntry => ({
  id,
  type: "person",
  names: [{ name, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
  ...more,
});

const parsed = (list: string, entries: readonly ListEntry[], digest: string): ParsedList => ({
  list,
  format: "ofac-csv",
  published: null,
  digest,
  files: ["sdn.csv"],
  entries,
});

describe("rescreening on a real store", () => {
  let store: Store;
  beforeEach(async () => {
    store = await openStore({ dataDir: join(root, `d${++dirs}`) });
  });
  afterEach(async () => {
    await store.close();
  });

  it("after an import, scores the changed entries with the full index's token weights (an open match stays open)", async () => {
    // 300 other entries make "mohamed", "ben" and "ali" common: in a full screening they weigh
    // little, so the target's unmatched given names cost little ("Nabil Attia" scores 0.894). An
    // index of the changed entry alone weighed them as rare (0.85: under the threshold).
    const syllables = ["ka", "ra", "mi", "to", "su", "ne", "lo", "vi", "da", "pe", "zu", "go"];
    const surname = (i: number) =>
      [i % 12, Math.floor(i / 12) % 12, Math.floor(i / 144) % 12].map((n) => syllables[n]).join("") + "ni";
    const others = Array.from({ length: 300 }, (_, i) =>
      person(`f${i}`, `${surname(i).toUpperCase()}, Mohamed Ben Ali`),
    );
    const target = person("7252", "BEN ATTIA, Nabil Ben Mohamed Ben Ali", { remarks: "DOB 11 May 1966" });
    await store.screening.importList(importInput(parsed("sdn", [target, ...others], "v1")), "officer");
    await store.principals.put({ id: "nabil", name: "Nabil Attia", residence: "DE" }, "admin");
    await rescreenAll(store, { actor: "screening" });
    const [before] = await store.screening.matches();
    expect(before).toMatchObject({ entry_id: "7252", status: "potential", score: 0.894 });

    // The list's next version changes that entry's remarks only.
    const changed = { ...target, remarks: "DOB 11 May 1966; Gender Male" };
    const { version } = await store.screening.importList(
      importInput(parsed("sdn", [changed, ...others], "v2")),
      "officer",
    );
    expect(version.diff).toEqual({ added: [], removed: [], changed: ["7252"] });
    const summary = await rescreenAfterImport(store, version, "officer");
    expect(summary).toMatchObject({ subjects: 1, entries: 1, potential: 1 });
    const [after] = await store.screening.matches();
    expect(after).toMatchObject({ entry_id: "7252", status: "potential", score: 0.894 });
    expect(after!.entry_digest).not.toBe(before!.entry_digest);
    expect(await store.screening.statuses()).toEqual([
      { kind: "principal", id: "nabil", status: "potential" },
    ]);
  });

  it("a clearance given for the subject's facts reopens when they change (birth date, citizenship)", async () => {
    const listed = person("9001", "PUTIN, Vladimir Vladimirovich", {
      birth_dates: ["1952-10-07"],
      nationalities: ["RU"],
    });
    await store.screening.importList(importInput(parsed("sdn", [listed], "v1")), "officer");
    const engine = await ScreeningEngine.load(store);
    const v1 = { id: "p1", name: "Vladimir Vladimirovich Putin", citizenships: [{ country: "FR" }] };
    // Stored first, as the admin API does: a screening of facts the store no longer holds is not recorded.
    await store.principals.put(v1, "admin");
    await screenSubjects(store, engine, [principalSubject(v1)!], "admin");
    const [m] = await store.screening.matches({ status: "potential" });
    await store.screening.review(m!.id, "cleared", "rita", "not him: French, no Russian nationality");
    await screenSubjects(store, engine, [principalSubject(v1)!], "admin");
    expect((await store.screening.matches())[0]?.status).toBe("cleared");
    const v2 = { ...v1, birth_date: "1952-10-07", citizenships: [{ country: "RU" }] };
    await store.principals.put(v2, "admin");
    await screenSubjects(store, engine, [principalSubject(v2)!], "admin");
    expect((await store.screening.matches())[0]).toMatchObject({
      status: "potential",
      reason: "the subject's facts changed since it was cleared",
    });
    expect(await store.screening.statuses()).toEqual([{ kind: "principal", id: "p1", status: "potential" }]);
  });

  it("a confirmation is carried over to the entry that replaces its removed one (same name and address)", async () => {
    // A list that renews entries under new ids (the BIS DPL): a1 becomes b1, the same party at
    // the same address; c1 is removed and d1 added at another address (not the same party).
    const baghdad = { addresses: ["Home 46, Al-Karrada, BAGHDAD, IQ"], countries: ["IQ"] };
    const qatif = { addresses: ["ANAK STREET, QATIF, SA"], countries: ["SA"] };
    const v1 = [person("a1", "ALI ALHAY", baghdad), person("c1", "ALI ALHAY", qatif)];
    const v2 = [
      // Typed `unknown` now (the DPL loader no longer guesses people from organizations): the same party.
      {
        ...person("b1", "Ali Alhay", { ...baghdad, addresses: ["HOME 46, AL KARRADA, BAGHDAD, IQ"] }),
        type: "unknown" as const,
      },
      person("d1", "ALI ALHAY", { addresses: ["1 PORT ROAD, DAMMAM, SA"], countries: ["SA"] }),
    ];
    await store.screening.importList(importInput(parsed("dpl", v1, "v1")), "officer");
    await store.principals.put({ id: "p1", name: "Ali Alhay", residence: "IQ" }, "admin");
    await rescreenAll(store, { actor: "screening" });
    for (const m of await store.screening.matches({ status: "potential" }))
      await store.screening.review(m.id, "confirmed", "rita", "same person, same passport");
    const { version } = await store.screening.importList(importInput(parsed("dpl", v2, "v2")), "officer");
    expect(version.diff).toEqual({ added: ["b1", "d1"], removed: ["a1", "c1"], changed: [] });
    await rescreenAfterImport(store, version, "officer");
    const byEntry = new Map((await store.screening.matches()).map((m) => [m.entry_id, m]));
    expect(byEntry.get("b1")).toMatchObject({
      status: "confirmed",
      reviewer: "rita",
      reason:
        '"same person, same passport" (confirmed on entry "a1", which the list replaced with this one: same name and address)',
    });
    expect(byEntry.get("a1")).toMatchObject({
      status: "resolved",
      reason:
        'the entry was removed from the list; its confirmation carries over to "b1" (same name and address)',
    });
    // Another address is not the same party: resolved, and the new entry a potential match.
    expect(byEntry.get("c1")).toMatchObject({
      status: "resolved",
      reason: 'the entry was removed from the list while confirmed: "same person, same passport"',
    });
    expect(byEntry.get("d1")).toMatchObject({ status: "potential" });
    expect(await store.screening.statuses()).toEqual([{ kind: "principal", id: "p1", status: "confirmed" }]);
    // The subject was never less than confirmed: no status change was written by the import.
    const steps = (await store.outbox.list(0, 1000)).filter((r) => r.action === "screening.status");
    expect(steps.map((r) => r.details.to)).toEqual(["potential", "confirmed"]);
  });

  it("the summary's resolved counts the matches this pass resolved (never below zero)", async () => {
    const salek = person("9001", "SALEK, Abdulhai");
    await store.screening.importList(importInput(parsed("sdn", [salek], "v1")), "officer");
    const put = (name: string) => store.principals.put({ id: "abdul", name }, "admin");
    await put("Abdulhai Salek");
    expect(await rescreenAll(store, { actor: "screening" })).toMatchObject({ potential: 1, resolved: 0 });
    await put("Jane Smith");
    expect(await rescreenAll(store, { actor: "screening" })).toMatchObject({ potential: 0, resolved: 1 });
    // The resolved match opens again: nothing was resolved (the count of resolved rows fell by one).
    await put("Abdulhai Salek");
    expect(await rescreenAll(store, { actor: "screening" })).toMatchObject({ potential: 1, resolved: 0 });
    // An import that changes the entry so that it no longer matches resolves it.
    const renamed = {
      ...salek,
      names: [{ name: "PETROVA, Olga", strength: "strong" as const, kind: "primary" }],
    };
    const { version } = await store.screening.importList(
      importInput(parsed("sdn", [renamed], "v2")),
      "officer",
    );
    expect(await rescreenAfterImport(store, version, "officer")).toMatchObject({ potential: 0, resolved: 1 });
    expect((await store.screening.matches())[0]).toMatchObject({
      status: "resolved",
      reason: "no longer matches",
    });
  });

  it("an organization named by a legal form and a generic word is held for review, saying why", async () => {
    await store.screening.importList(
      importInput(parsed("sdn", [person("1", "SALEK, Abdulhai"), person("2", "M AND S TRADING")], "v1")),
      "officer",
    );
    const org = { id: "o1", name: "Trading Co., Ltd.", country: "AE" };
    await store.principals.put({ id: "p1", name: "Jane Smith", organization: org }, "admin");
    await rescreenAll(store, { actor: "screening" });
    const [held] = await store.screening.matches();
    expect(held).toMatchObject({
      subject_kind: "organization",
      subject_id: "o1",
      entry_id: HOLD_ENTRY,
      status: "potential",
      reason: holdReason("Trading Co., Ltd."),
    });
    expect(await store.screening.statuses()).toEqual([
      { kind: "organization", id: "o1", status: "potential" },
    ]);
    await store.screening.review(held!.id, "cleared", "rita", "a Dubai freight forwarder, licence 12345");
    await rescreenAll(store, { actor: "screening" });
    expect(await store.screening.matches()).toMatchObject([{ status: "cleared", reviewer: "rita" }]);
    expect(await store.screening.statuses()).toEqual([]);
  });

  it("a hold's reason quotes the name with its controls and bidirectional overrides escaped, in the match and its audit record", async () => {
    await store.screening.importList(
      importInput(parsed("sdn", [person("1", "SALEK, Abdulhai")], "v1")),
      "officer",
    );
    // A name the store took (stored before names were checked, or written past the admin API).
    const name = "Trading \u202e\u0007\u009b Co";
    putPrincipalAsBefore(join(root, `d${dirs}`), {
      id: "p1",
      name: "Jane Smith",
      organization: { id: "o1", name },
    });
    await rescreenAll(store, { actor: "screening" });
    const [held] = await store.screening.matches();
    expect(held).toMatchObject({ subject_id: "o1", entry_id: HOLD_ENTRY, status: "potential" });
    const recorded = (await store.outbox.list(0, 100)).filter((r) => r.object.id === held!.id);
    expect(recorded).toHaveLength(1);
    // The reason is a sentence: whoever prints it as it is (a terminal, a log) is not acted on.
    for (const reason of [held!.reason, recorded[0]!.details?.reason]) {
      expect(reason).toContain('the name "Trading \\u202e\\u0007\\u009b Co" has nothing distinctive');
      // eslint-disable-next-line no-control-regex -- control characters are what is looked for
      expect(reason).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    }
  });

  /** Imports `entries` as the list's next version and rescreens what changed, as an import does. */
  const renew = async (list: string, entries: readonly ListEntry[], digest: string) => {
    const { version } = await store.screening.importList(
      importInput(parsed(list, entries, digest)),
      "officer",
    );
    await rescreenAfterImport(store, version, "officer");
    return version;
  };

  it("a cleared hold stops no later screening: an entry listed under the same name later, or changed, is a match", async () => {
    const other = person("1", "SALEK, Abdulhai");
    await renew("sdn", [other], "v1");
    await store.principals.put(
      { id: "p1", name: "Jane Smith", organization: { id: "o1", name: "Trading Co., Ltd." } },
      "admin",
    );
    await rescreenAll(store, { actor: "screening" });
    const [held] = await store.screening.matches();
    await store.screening.review(held!.id, "cleared", "rita", "a Dubai freight forwarder, licence 12345");
    expect(await store.screening.statuses()).toEqual([]);
    // The list adds a company listed under the very same name: a match the reviewer must see.
    const listed = { ...person("2", "TRADING COMPANY LIMITED"), type: "organization" as const };
    await renew("sdn", [other, listed], "v2");
    const open = await store.screening.matches({ status: "potential" });
    expect(open).toMatchObject([{ subject_id: "o1", list: "sdn", entry_id: "2", score: 1 }]);
    expect(await store.screening.statuses()).toEqual([
      { kind: "organization", id: "o1", status: "potential" },
    ]);
    await store.screening.review(open[0]!.id, "cleared", "rita", "not the listed company: another address");
    await rescreenAll(store, { actor: "screening" });
    expect(await store.screening.statuses()).toEqual([]);
    // The entry changes: the clearance given on its old version reopens.
    await renew("sdn", [other, { ...listed, remarks: "Linked to: IRGC" }], "v3");
    expect(await store.screening.matches({ status: "potential" })).toMatchObject([
      { entry_id: "2", reason: "the entry changed since it was cleared" },
    ]);
    expect((await store.screening.matches({ status: "cleared" })).map((m) => m.entry_id)).toEqual([
      HOLD_ENTRY,
    ]);
  });

  it("a confirmed party's entry leaving the list lifts the block; listed again, it is confirmed again", async () => {
    const salek = person("9001", "SALEK, Abdulhai", { birth_dates: ["1970"] });
    await renew("sdn", [salek], "v1");
    await store.principals.put({ id: "p1", name: "Abdulhai Salek" }, "admin");
    await rescreenAll(store, { actor: "screening" });
    const [m] = await store.screening.matches();
    await store.screening.review(m!.id, "confirmed", "rita", "same passport");
    await renew("sdn", [], "v2");
    expect(await store.screening.statuses()).toEqual([]);
    expect((await store.screening.matches())[0]).toMatchObject({ status: "resolved" });
    // Listed again (its remarks changed): confirmed, not merely potential (open models withheld too).
    await renew("sdn", [{ ...salek, remarks: "relisted" }], "v3");
    expect((await store.screening.matches())[0]).toMatchObject({
      status: "confirmed",
      reviewer: "rita",
      reason: '"same passport" (confirmed before the entry was removed from the list; it is listed again)',
    });
    expect(await store.screening.statuses()).toEqual([{ kind: "principal", id: "p1", status: "confirmed" }]);
    const steps = (await store.outbox.list(0, 1000)).filter((r) => r.object.kind === "screening-match");
    expect(steps.map((r) => `${r.action}:${r.details.to}`)).toEqual([
      "screening.match:potential",
      "screening.confirm:confirmed",
      "screening.resolve:resolved",
      "screening.confirm:confirmed",
    ]);
  });

  it("a clearance holds when its entry leaves the list and comes back unchanged, and lapses when it comes back changed", async () => {
    const salek = person("9001", "SALEK, Abdulhai", { birth_dates: ["1970"] });
    await renew("sdn", [salek], "v1");
    await store.principals.put({ id: "p1", name: "Abdulhai Salek" }, "admin");
    await rescreenAll(store, { actor: "screening" });
    const [m] = await store.screening.matches();
    await store.screening.review(m!.id, "cleared", "rita", "not him: born 1990");
    await renew("sdn", [], "v2");
    await renew("sdn", [salek], "v3");
    expect((await store.screening.matches())[0]).toMatchObject({
      status: "cleared",
      reason: "not him: born 1990",
    });
    expect(await store.screening.statuses()).toEqual([]);
    await renew("sdn", [], "v4");
    await renew("sdn", [{ ...salek, birth_dates: ["1990"] }], "v5");
    expect((await store.screening.matches())[0]).toMatchObject({
      status: "potential",
      reason: "the entry changed since it was cleared",
    });
    expect(await store.screening.statuses()).toEqual([{ kind: "principal", id: "p1", status: "potential" }]);
  });

  it("a clearance carries over to the entry that replaces its own under a new id, listed the same otherwise", async () => {
    const at = { addresses: ["1 PORT ROAD, DAMMAM, SA"], countries: ["SA"] };
    await renew("dpl", [person("a1", "ALI ALHAY", at), person("c1", "OMAR FAROUK", at)], "v1");
    await store.principals.put({ id: "p1", name: "Ali Alhay" }, "admin");
    await store.principals.put({ id: "p2", name: "Omar Farouk" }, "admin");
    await rescreenAll(store, { actor: "screening" });
    for (const m of await store.screening.matches())
      await store.screening.review(m.id, "cleared", "rita", "another person, another city");
    // a1 renewed as b1 unchanged; c1 as d1 with a birth date it did not have: that clearance lapses.
    await renew(
      "dpl",
      [person("b1", "ALI ALHAY", at), person("d1", "OMAR FAROUK", { ...at, birth_dates: ["1975"] })],
      "v2",
    );
    const byEntry = new Map((await store.screening.matches()).map((m) => [m.entry_id, m]));
    expect(byEntry.get("b1")).toMatchObject({
      status: "cleared",
      reviewer: "rita",
      reason:
        '"another person, another city" (cleared on entry "a1", which the list replaced with this one, listed the same but for its id)',
    });
    expect(byEntry.get("d1")).toMatchObject({ status: "potential" });
    expect(await store.screening.statuses()).toEqual([{ kind: "principal", id: "p2", status: "potential" }]);
  });
});

describe("a denial order past its expiration date", () => {
  const FIXTURE = join(import.meta.dirname, "fixtures", "dpl.txt");
  const dpl = [{ name: "dpl.txt", bytes: readFileSync(FIXTURE) }];

  it("no longer denies once a list is imported after it: the same file again applies it", async () => {
    const store = await openStore({ dataDir: join(root, `d${++dirs}`) });
    try {
      const importAt = async (asOf: string) => {
        const r = await importList(store, dpl, { asOf }, "officer");
        if (!r.unchanged) await rescreenAfterImport(store, r.version, "officer");
        return r;
      };
      // JOHN QUINCY DOE's order runs through 01/14/2026.
      expect((await importAt("2026-01-15T11:59:59Z")).version.counts).toEqual({ entries: 2, unknown: 2 });
      await store.principals.put({ id: "p1", name: "John Quincy Doe" }, "admin");
      await rescreenAll(store, { actor: "screening" });
      const [m] = await store.screening.matches({ status: "potential" });
      expect(m).toMatchObject({ list: "bis-dpl", subject_id: "p1" });
      await store.screening.review(m!.id, "confirmed", "rita", "same person, same address");
      // The same file a day later: a new version without the lapsed order, and the party is clear.
      const later = await importAt("2026-01-16T00:00:00Z");
      expect(later.unchanged).toBe(false);
      expect(later.version.counts).toEqual({ entries: 1, unknown: 1, expired: 1 });
      expect(later.version.diff.removed).toEqual([m!.entry_id]);
      expect(await store.screening.statuses()).toEqual([]);
      expect(await importAt("2026-06-01T00:00:00Z")).toMatchObject({ unchanged: true });
      // A full rescreen screens against what was imported: the lapsed order stays out.
      await rescreenAll(store, { actor: "screening" });
      expect(await store.screening.statuses()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("an import without a time given applies the orders lapsed by now", async () => {
    const store = await openStore({ dataDir: join(root, `d${++dirs}`) });
    try {
      // 01/14/2026 is past for good; ORION AVIATION's order has no end.
      const { version } = await importList(store, dpl, {}, "officer");
      expect(version.counts).toMatchObject({ entries: 1, expired: 1 });
      const [entry] = await store.screening.entries(version.list, version.version);
      expect((JSON.parse(entry!.document) as ListEntry).names[0]!.name).toBe("ORION AVIATION LLC");
    } finally {
      await store.close();
    }
  });
});

const DPL = join(import.meta.dirname, "..", "..", "..", "shared", "data", "screening", "bis-dpl");
if (!existsSync(DPL)) console.warn(`BIS DPL churn on the real lists: SKIPPED, ${DPL} is absent`);
describe.skipIf(!existsSync(DPL))("BIS DPL churn on the real lists", () => {
  it("a party dropped in 2022 is no longer blocked; the 2019 list imported again confirms it again", async () => {
    const store = await openStore({ dataDir: join(root, `d${++dirs}`) });
    try {
      const dpl = (year: number) => {
        const file = join(DPL, `dpl-${year}.txt`);
        return importInput({
          ...loadList([{ name: file, bytes: readFileSync(file) }]),
          format: "bis-dpl",
          digest: String(year),
          files: [file],
          published: null,
        });
      };
      const renew = async (year: number) =>
        rescreenAfterImport(
          store,
          (await store.screening.importList(dpl(year), "officer")).version,
          "officer",
        );
      await renew(2019);
      // His ten-year denial expired in September 2019: on the 2019 list, not on the 2022 one.
      await store.principals.put({ id: "p1", name: "Aaron Robert Henderson" }, "admin");
      await rescreenAll(store, { actor: "screening" });
      const [m] = await store.screening.matches({ status: "potential" });
      expect(m).toMatchObject({ list: "bis-dpl", entry_id: "0836507f18015ab0" });
      await store.screening.review(m!.id, "confirmed", "rita", "same person, same address");
      await renew(2022);
      expect(await store.screening.statuses()).toEqual([]);
      await renew(2019);
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "p1", status: "confirmed" },
      ]);
    } finally {
      await store.close();
    }
  });
});

/** The rescreens on a real (embedded) store: a full pass, and the incremental pass after an import. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { importInput } from "./lists.js";
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
    await screenSubjects(store, engine, [principalSubject(v1)!], "admin");
    const [m] = await store.screening.matches({ status: "potential" });
    await store.screening.review(m!.id, "cleared", "rita", "not him: French, no Russian nationality");
    await screenSubjects(store, engine, [principalSubject(v1)!], "admin");
    expect((await store.screening.matches())[0]?.status).toBe("cleared");
    const v2 = { ...v1, birth_date: "1952-10-07", citizenships: [{ country: "RU" }] };
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
        "same person, same passport (confirmed on entry a1, which the list replaced with this one: same name and address)",
    });
    expect(byEntry.get("a1")).toMatchObject({
      status: "resolved",
      reason:
        "the entry was removed from the list; its confirmation carries over to b1 (same name and address)",
    });
    // Another address is not the same party: resolved, and the new entry a potential match.
    expect(byEntry.get("c1")).toMatchObject({
      status: "resolved",
      reason: "the entry was removed from the list",
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
});

/**
 * Importing a list through the parsing thread: a file too big to hold is refused (413) before
 * anything is stored, whether by its entry count, by the memory its parsing takes or by its time.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearanceError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { importList, parseTimeoutMs } from "./lists.js";

const HEADER =
  '"Name"\t"Street_Address"\t"City"\t"State"\t"Country"\t"Postal_Code"\t"Effective_Date"\t' +
  '"Expiration_Date"\t"Standard_Order"\t"Last_Update"\t"Action"\t"FR_Citation"\n';
/** A BIS Denied Persons file of `rows` minimal rows: a name, every other column empty. */
function minimalDpl(rows: number): { name: string; bytes: Uint8Array } {
  const lines = [HEADER];
  for (let i = 0; i < rows; i++) lines.push(`PERSON ${i}\t\t\t\t\t\t\t\t\t\t\t\n`);
  return { name: "dpl.txt", bytes: Buffer.from(lines.join("")) };
}

async function refusal(work: Promise<unknown>): Promise<ClearanceError> {
  const err = await work.then(
    () => new Error("expected a refusal"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClearanceError);
  return err as ClearanceError;
}

let store: Store;
beforeAll(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-lists-")) });
});
afterAll(async () => {
  await store.close();
});

describe("importing a list too big to hold", () => {
  it("more entries than screening.max_list_entries: 413 list_too_large naming the file, nothing stored", async () => {
    const err = await refusal(importList(store, [minimalDpl(11)], { maxEntries: 10 }, "officer"));
    expect(err).toMatchObject({ kind: "too-large", code: "list_too_large" });
    expect(err.message).toBe(
      "dpl.txt: 11 entries, more than the 10 a list may hold (screening.max_list_entries)",
    );
    expect(await store.screening.versions()).toEqual([]);
    const { version } = await importList(store, [minimalDpl(10)], { maxEntries: 10 }, "officer");
    expect(version.counts.entries).toBe(10);
  });

  it("a file whose parsing outgrows the parsing thread's heap: 413, the thread ended, this thread unharmed", async () => {
    // 200,000 rows need well over 64 MB of parsed entries; the limit stops the thread, not us.
    const err = await refusal(importList(store, [minimalDpl(200_000)], { list: "huge" }, "officer", 64));
    expect(err).toMatchObject({ kind: "too-large", code: "list_too_large" });
    expect(err.message).toBe("dpl.txt: parsing the list needed more than 64 MB; is it the list you meant?");
    expect((await store.screening.versions()).map((v) => v.list)).not.toContain("huge");
  });

  it("a file whose parsing outlasts the parsing thread's time: 413, the thread stopped, nothing stored", async () => {
    // 1 ms: the thread cannot even start in it (a parser stuck on a crafted file is stopped the same way).
    const err = await refusal(importList(store, [minimalDpl(10)], { list: "slow" }, "officer", undefined, 1));
    expect(err).toMatchObject({ kind: "too-large", code: "list_too_large" });
    expect(err.message).toBe(
      "dpl.txt: parsing the list took longer than 1 ms, and was stopped; is it the list you meant?",
    );
    expect((await store.screening.versions()).map((v) => v.list)).not.toContain("slow");
  });

  it("gives the parsing thread two minutes, and ten seconds more per MB of files", () => {
    const file = (bytes: number) => ({ name: "f", bytes: new Uint8Array(bytes) });
    expect(parseTimeoutMs([file(0)])).toBe(120_000);
    expect(parseTimeoutMs([file(5_000_000), file(2_500_000)])).toBe(195_000);
  });
});

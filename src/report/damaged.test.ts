/**
 * A damaged audit log (an entry that is not JSON, or a decision entry missing or garbling what the
 * footprint counts by) is refused as unreadable, naming the entry: counted, a decision without a
 * time fell inside every period and one with an unknown outcome was added to no column; unread,
 * the command line exited with a stack trace and the admin API answered 500.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../cli/program.js";
import { seedFromFile } from "../control/seed.js";
import { ClearanceError } from "../errors/index.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { loggedDecision, memoryLog, writeLogDir } from "../testing/log.js";
import { footprintReport } from "./footprint.js";
import { parsePeriod } from "./period.js";

const SCHEME = "examples/g7-trusted-partners.yaml";
const g7 = loadSchemeFile(SCHEME);
const NOW = new Date("2026-06-15T12:00:00Z");

/** Benoit's request from France, as the gateway logs it. */
const entry = (time: string, changes: object = {}) => loggedDecision(g7.digest, time, changes);
const JUNE = entry("2026-06-01T10:00:00.000Z");

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "clearance-damaged-"));
  store = await openStore({ dataDir: dir });
  await seedFromFile(store, readFileSync(SCHEME, "utf8"), NOW.toISOString());
});
afterAll(() => store.close());

const report = (entries: readonly (Buffer | object)[]) =>
  footprintReport({
    store,
    source: memoryLog(entries),
    scheme: g7,
    period: parsePeriod("2026-06-01", "2026-06-30", NOW),
    pseudonymKey: null,
    now: NOW,
  });

const refusal = async (entries: readonly (Buffer | object)[]) => {
  const err = await report(entries).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClearanceError);
  expect(err).toMatchObject({ code: "log_unreadable", kind: "unavailable" });
  return (err as Error).message;
};

describe("a damaged entry in the audit log", () => {
  it("that is not JSON is refused, naming the entry", async () => {
    expect(await refusal([JUNE, Buffer.from('{"type":"decision","time":"2026-06-0')])).toMatch(
      /^entry 1 of the audit log at memory is damaged: not JSON/,
    );
  });

  it("a decision without a time is refused, not counted in the period", async () => {
    // A July decision whose time was garbled: compared as text it fell inside June.
    const message = await refusal([JUNE, entry("2026-07-01T10:00:00.000Z", { time: 1782900000000 })]);
    expect(message).toBe(
      "entry 1 of the audit log at memory is damaged: a decision entry whose time is 1782900000000, " +
        "not a UTC time as the gateway writes it (YYYY-MM-DDTHH:MM:SS.sssZ)",
    );
  });

  it("a decision with an outcome decide() does not give, or without a model, is refused", async () => {
    expect(await refusal([JUNE, entry("2026-06-02T10:00:00.000Z", { decision: "permit" })])).toBe(
      'entry 1 of the audit log at memory is damaged: a decision entry whose decision is "permit", ' +
        "not allow, deny or fallback",
    );
    const { model: _model, ...modelless } = entry("2026-06-02T10:00:00.000Z");
    expect(await refusal([JUNE, JUNE, modelless])).toMatch(
      /^entry 2 of the audit log at memory is damaged: a decision entry whose model is missing/,
    );
  });

  it("admin entries and well-formed decisions are read as before", async () => {
    const r = await report([
      JUNE,
      { type: "admin", v: 1, time: "garbled" },
      entry("2026-06-03T10:00:00.000Z"),
    ]);
    expect(r.served.decisions).toBe(2);
    expect(r.served.entries_read).toBe(3);
  });

  it("the command line says so, exits 1 and writes nothing", async () => {
    const log = join(dir, "damaged-log");
    const bytes = [JUNE, { ...JUNE, time: null }].map((e) => Buffer.from(JSON.stringify(e)));
    writeLogDir(log, bytes);
    const out = join(dir, "r.html");
    const stderr: string[] = [];
    // The store is the test's own, open: the command reads another copy of the data dir's settings.
    const code = await run(
      ["report", "footprint", "--data-dir", dir, "--log", log, "--format", "html", "--out", out],
      { stdout: () => undefined, stderr: (s) => stderr.push(s), stdin: () => "" },
    );
    expect(stderr.join("")).toBe(
      `clearance: entry 1 of the audit log at ${log} is damaged: a decision entry ` +
        "whose time is null, not a UTC time as the gateway writes it (YYYY-MM-DDTHH:MM:SS.sssZ) (log_unreadable)\n",
    );
    expect(code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });
});

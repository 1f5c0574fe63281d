/**
 * A damaged audit log in the what-if (an entry that is not JSON, or a decision missing or garbling
 * what the what-if reads) is refused as unreadable, naming the entry, as the footprint refuses it:
 * read as it was, the command line exited with a stack trace, the admin API answered 500, and a
 * decision whose time was garbled was re-decided in a period it was not logged in.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../cli/program.js";
import { seedFromFile } from "../control/seed.js";
import { ClearanceError } from "../errors/index.js";
import { parsePeriod } from "../report/period.js";
import { principalIndex } from "../report/principals.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { loggedDecision, memoryLog, writeLogDir } from "../testing/log.js";
import { historyWhatIf } from "./history.js";
import { whatIfReport } from "./report.js";

const SCHEME = "examples/g7-trusted-partners.yaml";
const g7 = loadSchemeFile(SCHEME);
const NOW = new Date("2026-06-15T12:00:00Z");

/** Benoit's request from France, as the gateway logs it. */
const entry = (time: string, changes: object = {}) => loggedDecision(g7.digest, time, changes);
const JUNE = entry("2026-06-10T10:00:00.000Z");

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "clearance-whatif-damaged-"));
  store = await openStore({ dataDir: dir });
  await seedFromFile(store, readFileSync(SCHEME, "utf8"), NOW.toISOString());
});
afterAll(() => store.close());

const history = async (entries: readonly (Buffer | object)[]) =>
  historyWhatIf({
    source: memoryLog(entries),
    active: g7,
    candidate: g7,
    principals: principalIndex(await store.principals.list(), null),
    period: parsePeriod("2026-06-01", "2026-06-30", NOW),
  });

const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClearanceError);
  expect(err).toMatchObject({ code: "log_unreadable", kind: "unavailable" });
  return (err as Error).message;
};

describe("a damaged entry in the audit log, in the what-if", () => {
  it("that is not JSON is refused, naming the entry", async () => {
    expect(await refusal(history([JUNE, Buffer.from('{"type":"decision","time":"2026-06-0')]))).toMatch(
      /^entry 1 of the audit log at memory is damaged: not JSON/,
    );
  });

  it("a decision whose time is garbled is refused, not re-decided in the period", async () => {
    // A July decision whose time was garbled: compared as text it fell inside June.
    expect(await refusal(history([JUNE, entry("2026-07-01T10:00:00.000Z", { time: 1782900000000 })]))).toBe(
      "entry 1 of the audit log at memory is damaged: a decision entry whose time is 1782900000000, " +
        "not a UTC time as the gateway writes it (YYYY-MM-DDTHH:MM:SS.sssZ)",
    );
  });

  it("a decision without a model is refused, not re-decided as a request for no model", async () => {
    const { model: _model, ...modelless } = entry("2026-06-11T10:00:00.000Z");
    expect(await refusal(history([JUNE, JUNE, modelless]))).toMatch(
      /^entry 2 of the audit log at memory is damaged: a decision entry whose model is missing/,
    );
  });

  it("where principals were seen (every what-if, history or not) is read the same way", async () => {
    const report = whatIfReport({
      store,
      source: memoryLog([JUNE, { ...JUNE, location: 33 }]),
      active: g7,
      candidate: g7,
      pseudonymKey: null,
      now: NOW,
    });
    expect(await refusal(report)).toBe(
      "entry 1 of the audit log at memory is damaged: a decision entry whose location is 33, not a text or null",
    );
  });

  it("admin entries and well-formed decisions are read as before", async () => {
    const r = await history([
      JUNE,
      { type: "admin", v: 1, time: "garbled" },
      entry("2026-06-12T10:00:00.000Z"),
    ]);
    expect(r.decisions).toBe(2);
  });

  it("the command line says so, exits 1 and writes nothing", async () => {
    const log = join(dir, "damaged-log");
    const bytes = [JUNE, Buffer.from("not json")].map((e) =>
      Buffer.isBuffer(e) ? e : Buffer.from(JSON.stringify(e)),
    );
    writeLogDir(log, bytes);
    const out = join(dir, "w.json");
    const stderr: string[] = [];
    // The store is the test's own, open: the command reads another copy of the data dir's settings.
    const code = await run(
      [
        "scheme",
        "what-if",
        SCHEME,
        "--data-dir",
        dir,
        "--log",
        log,
        "--days",
        "30",
        "--format",
        "json",
        "--out",
        out,
      ],
      { stdout: () => undefined, stderr: (s) => stderr.push(s), stdin: () => "" },
    );
    expect(stderr.join("")).toMatch(
      new RegExp(
        `^clearance: entry 1 of the audit log at ${log} is damaged: not JSON \\(.*\\) \\(log_unreadable\\)\\n$`,
      ),
    );
    expect(code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });
});

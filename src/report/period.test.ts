/**
 * A report's period as the caller gives it, and what the report says about it: the end of year
 * 9999 is a period's end like any other; a refusal names the field the caller gave, once; a period
 * without decisions names the bound to move and where the log's decisions are; the tokens column
 * says which UTC days it counts (usage is metered per UTC day, not per instant).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearanceError, InvalidInputError } from "../errors/index.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { footprintReport } from "./footprint.js";
import { renderFootprint } from "./format.js";
import { parsePeriod, type Period } from "./period.js";
import type { LogSource } from "../audit/source.js";
import { memoryLog } from "../testing/log.js";

const g7 = loadSchemeFile("examples/g7-trusted-partners.yaml");
const NOW = new Date("2026-06-15T12:00:00Z");

const decision = (time: string, grant: string | null = null) => ({
  action: "infer",
  decision: "allow",
  grant,
  location: "DE",
  model: "mythos-5",
  node: "n",
  organization: "bw-cyber",
  principal: "erik",
  reason: grant === null ? "partner-country" : "license",
  request_id: `r-${time}`,
  scheme: g7.digest,
  served_model: "mythos-5",
  time,
  type: "decision",
});
const admin = { type: "admin", action: "principal.put", time: "2026-06-01T00:00:00.000Z" };

function problemsOf(f: () => unknown) {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return { message: (err as Error).message, problems: (err as InvalidInputError).problems };
  }
  throw new Error("not refused");
}

describe("a report's period", () => {
  it("ends with the whole of 9999-12-31, or a date-time whose zone carries it past that year", () => {
    expect(parsePeriod(undefined, "9999-12-31", NOW)).toEqual({
      from: "1970-01-01T00:00:00.000Z",
      to: "+010000-01-01T00:00:00.000Z",
    });
    expect(parsePeriod("2026-06-01", "9999-12-31T23:00:00-05:00", NOW).to).toBe(
      "+010000-01-01T04:00:00.000Z",
    );
  });

  it("refuses a bad date naming the field once", () => {
    const r = problemsOf(() => parsePeriod("2026-06-01T00:00:00", undefined, NOW));
    expect(r.problems).toEqual([
      {
        code: "invalid_date",
        path: ["from"],
        message:
          'expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, got "2026-06-01T00:00:00"',
      },
    ]);
    expect(r.message).toBe(`from: ${r.problems[0]?.message}`);
  });

  it("refuses an empty period, blaming the bound the caller gave, with what the caller gave", () => {
    // A `from` alone, after now: `to` was not given, `from` is at fault.
    expect(problemsOf(() => parsePeriod("2030-01-01", undefined, NOW)).problems).toEqual([
      {
        code: "empty_period",
        path: ["from"],
        message:
          '"2030-01-01" (2030-01-01T00:00:00.000Z) is not before now (2026-06-15T12:00:00.000Z): the period would be empty',
      },
    ]);
    expect(problemsOf(() => parsePeriod(undefined, "1970-01-01T00:00:00Z", NOW)).problems[0]).toMatchObject({
      path: ["to"],
      message: expect.stringMatching(
        /^"1970-01-01T00:00:00Z" \(1970-01-01T00:00:00.000Z\) is not after the start/,
      ),
    });
    expect(problemsOf(() => parsePeriod("2026-06-02", "2026-06-01", NOW)).problems[0]).toMatchObject({
      path: ["to"],
      message: expect.stringMatching(
        /^"2026-06-01" \(2026-06-02T00:00:00.000Z\) is not after from "2026-06-02" .*includes that whole day\)$/,
      ),
    });
  });
});

describe("the footprint over a period", () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "clearance-period-"));
    store = await openStore({ dataDir: dir });
    // Metered per UTC day: 1000 tokens on 31 May, 10 on 1 June.
    const usage = (at: string, tokens: number) => ({
      principalId: "erik",
      organizationId: "bw-cyber",
      licenseId: "BIS-2026-0001",
      model: "mythos-5",
      inputTokens: tokens,
      outputTokens: 0,
      requests: 1,
      at,
    });
    await store.usage.add([usage("2026-05-31T10:00:00.000Z", 1000), usage("2026-06-01T10:00:00.000Z", 10)]);
  });
  afterAll(() => store.close());

  const report = (source: LogSource, period: Period) =>
    footprintReport({ store, source, scheme: g7, period, pseudonymKey: null, now: NOW });
  const refusal = async (source: LogSource, period: Period) => {
    const err = await report(source, period).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClearanceError);
    return err as ClearanceError;
  };

  it("a period ending after 9999-12-31 counts every decision", async () => {
    const r = await report(
      memoryLog([decision("2026-06-01T10:00:00.000Z")]),
      parsePeriod("2026-01-01", "9999-12-31", NOW),
    );
    expect(r.served.decisions).toBe(1);
  });

  it("a bound finer than a millisecond keeps an entry at its edge on the side it is on", async () => {
    // Entry times have milliseconds; a bound between two is not cut back to the one before it.
    const log = memoryLog([
      decision("2026-06-01T10:00:00.000Z"), // before 10:00:00.0005: not in the period
      decision("2026-06-01T10:00:00.001Z"),
      decision("2026-06-01T11:00:00.000Z"), // before 11:00:00.0005: in the period
    ]);
    const period = parsePeriod("2026-06-01T10:00:00.0005Z", "2026-06-01T11:00:00.0005+00:00", NOW);
    expect(period).toEqual({ from: "2026-06-01T10:00:00.001Z", to: "2026-06-01T11:00:00.001Z" });
    const r = await report(log, period);
    expect(r.served.decisions).toBe(2);
    // Whole milliseconds, however written, are taken as they are.
    expect(parsePeriod("2026-06-01T10:00:00.0010Z", "2026-06-01T10:00:01.5Z", NOW)).toEqual({
      from: "2026-06-01T10:00:00.001Z",
      to: "2026-06-01T10:00:01.500Z",
    });
  });

  it("says which whole UTC days the tokens count: 1 June in Berlin touches 31 May and 1 June (UTC)", async () => {
    const r = await report(
      memoryLog([decision("2026-06-01T10:00:00.000Z", "license:BIS-2026-0001")]),
      parsePeriod("2026-06-01T00:00:00+02:00", "2026-06-02T00:00:00+02:00", NOW),
    );
    expect(r.served.tokens_days).toEqual({ from: "2026-05-31", to: "2026-06-01" });
    expect(r.served.grants.find((g) => g.grant === "license:BIS-2026-0001")?.tokens).toBe(1010);
    const csv = renderFootprint(r, "csv", "grants").split("\n");
    expect(csv[0]).toBe(
      "grant,requests,tokens,tokens_from_day,tokens_to_day,quota_tokens,quota_period,quota_used,quota_remaining",
    );
    expect(csv.find((l) => l.startsWith("license:BIS-2026-0001,"))).toMatch(
      /^license:BIS-2026-0001,1,1010,2026-05-31,2026-06-01,/,
    );
    expect(csv.find((l) => l.startsWith("partner-"))).toBeUndefined(); // no partner grant was used
    const html = renderFootprint(r, "html");
    expect(html).toContain("<th>tokens (UTC days 2026-05-31 to 2026-06-01)</th>");
    expect(html).toContain("the tokens column counts the whole UTC days 2026-05-31 to 2026-06-01");
    // An hour of 1 June counts the whole of 1 June.
    const hour = await report(
      memoryLog([decision("2026-06-01T12:30:00.000Z")]),
      parsePeriod("2026-06-01T12:00:00Z", "2026-06-01T13:00:00Z", NOW),
    );
    expect(hour.served.tokens_days).toEqual({ from: "2026-06-01", to: "2026-06-01" });
  });

  it("a period without decisions names the bound to move and where the decisions are", async () => {
    const log = memoryLog([
      admin,
      decision("2026-06-01T10:00:00.000Z"),
      decision("2026-06-03T10:00:00.000Z"),
    ]);
    const later = await refusal(log, parsePeriod("2026-06-10", undefined, NOW));
    expect(later.code).toBe("empty_period");
    expect(later.problems).toEqual([
      {
        code: "empty_period",
        path: ["from"],
        message:
          "the audit log at memory has no decisions from 2026-06-10T00:00:00.000Z to 2026-06-15T12:00:00.000Z " +
          "(3 entries read; its last decision is at 2026-06-03T10:00:00.000Z)",
      },
    ]);
    expect(later.message).toBe(later.problems[0]?.message);
    const earlier = await refusal(log, parsePeriod("2026-05-01", "2026-05-31", NOW));
    expect(earlier.problems[0]).toMatchObject({
      path: ["to"],
      message: expect.stringMatching(/its first decision is at 2026-06-01T10:00:00.000Z\)$/),
    });
    const between = await refusal(log, parsePeriod("2026-06-02", "2026-06-02", NOW));
    expect(between.problems[0]?.message).toMatch(
      /the nearest decisions are at 2026-06-01T10:00:00.000Z and 2026-06-03T10:00:00.000Z\)$/,
    );
    const none = await refusal(memoryLog([admin]), parsePeriod(undefined, undefined, NOW));
    expect(none.problems[0]).toMatchObject({
      path: [],
      message: expect.stringMatching(/\(none of its 1 entries is a decision\)$/),
    });
  });
});

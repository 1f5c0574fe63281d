/**
 * The store's usage as the quota counters, the what-if and the footprint read it: one read of
 * per-license sums (`usage.byLicenseWindows`), not the per-principal and per-organization sums of
 * `totals()` and the per-day rows of `byLicenseDay()` (seconds of event loop at 10,000 licenses x
 * 90 days on SQLite). The figures are those the wider reads gave: the old computations are kept
 * here as the reference, and compared on real stores (SQLite, and PostgreSQL when one answers)
 * seeded with random usage.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { usageFacts } from "../report/footprint.js";
import { dayOf, type Period } from "../report/period.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { openStore, type Store, type UsageDelta } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { periodStart, storedUsage, type QuotaPeriod, type UsageByPeriod } from "./index.js";
import { addTokens, storedTokens } from "./tokens.js";

const MAX = Number.MAX_SAFE_INTEGER;
const NOW = new Date("2026-12-05T12:00:00Z");
// Before the quarter (from 1 October), in it, in the month (from 1 December), and after now.
const DAYS = [
  "2026-06-30",
  "2026-09-30",
  "2026-10-01",
  "2026-11-15",
  "2026-11-30",
  "2026-12-01",
  "2026-12-05",
  "2026-12-09",
];

/** storedUsage as it read the store before: totals() and the quarter's per-day rows. */
async function storedUsageBefore(store: Store, at: Date): Promise<UsageByPeriod> {
  const add = (map: Map<string, number>, key: string, n: number) =>
    map.set(key, addTokens(map.get(key) ?? 0, storedTokens(n)));
  const counters: UsageByPeriod = { month: new Map(), quarter: new Map(), total: new Map() };
  for (const [licenseId, tokens] of Object.entries((await store.usage.totals()).byLicense)) {
    add(counters.total, licenseId, tokens);
  }
  const monthStart = periodStart("month", at);
  for (const { licenseId, day, tokens } of await store.usage.byLicenseDay(periodStart("quarter", at))) {
    add(counters.quarter, licenseId, tokens);
    if (day >= monthStart) add(counters.month, licenseId, tokens);
  }
  return counters;
}

/** The footprint's tokens in the period as it read them before: the period's per-day rows. */
async function periodTokensBefore(store: Store, period: Period): Promise<Map<string, number>> {
  const licenseTokens = new Map<string, number>();
  const days = { from: dayOf(period.from), to: dayOf(new Date(Date.parse(period.to) - 1).toISOString()) };
  for (const r of await store.usage.byLicenseDay(days.from)) {
    if (r.day <= days.to) licenseTokens.set(r.licenseId, (licenseTokens.get(r.licenseId) ?? 0) + r.tokens);
  }
  return licenseTokens;
}

/** A license with no tokens in a period reads as 0 whether it has an entry or not (every reader says `?? 0`). */
const counted = (m: ReadonlyMap<string, number>, prefix: string) =>
  new Map([...m].filter(([id, n]) => id.startsWith(prefix) && n > 0));

/** Only totals(), byLicenseDay() refused: what reads them fails. */
function narrowOnly(store: Store): Store {
  const refuse = () => Promise.reject(new Error("a wide usage read"));
  const usage = { ...store.usage, totals: refuse, byLicenseDay: refuse };
  return new Proxy(store, { get: (target, key) => (key === "usage" ? usage : Reflect.get(target, key)) });
}

const LICENSES = ["A", "B", "C"];
const schemeOf = (prefix: string, periods: QuotaPeriod[]) =>
  ({
    licenses: new Map(
      LICENSES.map((l, i) => [`${prefix}${l}`, { id: `${prefix}${l}`, quotaPeriod: periods[i]! }]),
    ),
  }) as unknown as CompiledScheme;

const rowArb = fc.record({
  day: fc.constantFrom(...DAYS),
  license: fc.constantFrom<string | null>(...LICENSES, null),
  principal: fc.constantFrom("p", "q"),
  model: fc.constantFrom("m", "n"),
  input: fc.oneof({ arbitrary: fc.nat(1_000_000), weight: 9 }, { arbitrary: fc.constant(MAX), weight: 1 }),
  output: fc.nat(1_000),
});
type Row = typeof rowArb extends fc.Arbitrary<infer T> ? T : never;
const periodArb = fc
  .tuple(fc.constantFrom(...DAYS), fc.constantFrom(...DAYS), fc.integer({ min: 0, max: 23 }))
  .map(([a, b, hour]) => {
    const [from, to] = a <= b ? [a, b] : [b, a];
    // A period starting inside a day, ending inside (or at the end of) another.
    return {
      from: `${from}T${String(hour).padStart(2, "0")}:00:00.000Z`,
      to: new Date(Date.parse(`${to}T00:00:00.000Z`) + (hour + 1) * 3_600_000).toISOString(),
    };
  });
const periodsArb = fc.array(fc.constantFrom<QuotaPeriod>("total", "month", "quarter"), {
  minLength: 3,
  maxLength: 3,
});

let run = 0;
/** Each run's licenses under a prefix of its own, so that one store serves every run. */
async function seed(store: Store, rows: Row[]): Promise<string> {
  const prefix = `r${run++}-`;
  const deltas: UsageDelta[] = rows.map((r) => ({
    principalId: r.principal,
    organizationId: null,
    licenseId: r.license === null ? null : `${prefix}${r.license}`,
    model: r.model,
    inputTokens: r.input,
    outputTokens: r.output,
    requests: 1,
    at: `${r.day}T10:00:00.000Z`,
  }));
  // In two batches: rows summed within a batch and across batches.
  await store.usage.add(deltas.slice(0, deltas.length >> 1));
  await store.usage.add(deltas.slice(deltas.length >> 1));
  return prefix;
}

function suite(
  name: string,
  open: () => Promise<{ store: Store; close: () => Promise<void> }>,
  numRuns: number,
) {
  describe(`${name}: usage read per license only`, () => {
    it("seeds the counters (and the what-if) without totals() or the per-day rows", async () => {
      const { store, close } = await open();
      try {
        await store.usage.add([
          {
            principalId: "p",
            organizationId: "o",
            licenseId: "L",
            model: "m",
            inputTokens: 7,
            outputTokens: 3,
            requests: 1,
            at: "2026-12-02T00:00:00Z",
          },
        ]);
        const usage = await storedUsage(narrowOnly(store), NOW);
        expect(usage).toStrictEqual(await storedUsageBefore(store, NOW));
        expect(usage.month.get("L")).toBe(10);
      } finally {
        await close();
      }
    });

    it("reads the footprint's usage in one read, without totals() or the per-day rows", async () => {
      const { store, close } = await open();
      try {
        const prefix = await seed(store, [
          { day: "2026-11-15", license: "A", principal: "p", model: "m", input: 5, output: 0 },
          { day: "2026-12-01", license: "A", principal: "q", model: "m", input: 7, output: 1 },
        ]);
        const reads: string[] = [];
        const narrow = narrowOnly(store);
        const counting = new Proxy(narrow, {
          get: (target, key) =>
            key === "usage"
              ? {
                  ...target.usage,
                  byLicenseWindows: (w: Parameters<Store["usage"]["byLicenseWindows"]>[0]) => {
                    reads.push("byLicenseWindows");
                    return target.usage.byLicenseWindows(w);
                  },
                }
              : Reflect.get(target, key),
        });
        const period = { from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" };
        const facts = await usageFacts(
          counting,
          schemeOf(prefix, ["month", "quarter", "total"]),
          period,
          NOW,
        );
        expect(reads).toEqual(["byLicenseWindows"]);
        expect(facts.licenseTokens).toStrictEqual(new Map([[`${prefix}A`, 5]]));
        expect(facts.days).toStrictEqual({ from: "2026-11-01", to: "2026-11-30" });
        expect(facts.quotaUsed).toStrictEqual(
          new Map([
            [`${prefix}A`, 8],
            [`${prefix}B`, 0],
            [`${prefix}C`, 0],
          ]),
        );
      } finally {
        await close();
      }
    });

    it("gives the figures the wider reads gave, on random usage (property)", async () => {
      const { store, close } = await open();
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(rowArb, { maxLength: 30 }),
            periodArb,
            periodsArb,
            async (rows, period, periods) => {
              const prefix = await seed(store, rows);
              const before = await storedUsageBefore(store, NOW);
              const after = await storedUsage(store, NOW);
              expect(counted(after.total, prefix)).toStrictEqual(counted(before.total, prefix));
              // Every license with usage has a total, even of 0 tokens, as before.
              expect([...after.total.keys()].filter((id) => id.startsWith(prefix))).toStrictEqual(
                [...before.total.keys()].filter((id) => id.startsWith(prefix)),
              );
              expect(counted(after.quarter, prefix)).toStrictEqual(counted(before.quarter, prefix));
              expect(counted(after.month, prefix)).toStrictEqual(counted(before.month, prefix));

              const scheme = schemeOf(prefix, periods);
              const facts = await usageFacts(store, scheme, period, NOW);
              // The period's sum is saturated as every other sum the store gives (before, days each
              // saturated were added past 2^53, where JavaScript no longer counts exactly).
              const periodBefore = new Map(
                [...(await periodTokensBefore(store, period))].map(([id, n]) => [id, Math.min(n, MAX)]),
              );
              expect(counted(facts.licenseTokens, prefix)).toStrictEqual(counted(periodBefore, prefix));
              const quotaBefore = new Map(
                [...scheme.licenses.values()].map((l) => [l.id, before[l.quotaPeriod].get(l.id) ?? 0]),
              );
              expect(facts.quotaUsed).toStrictEqual(quotaBefore);
            },
          ),
          { numRuns },
        );
      } finally {
        await close();
      }
    });
  });
}

suite(
  "sqlite",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-usage-reads-"));
    const store = await openStore({ driver: "sqlite", dataDir: dir });
    return {
      store,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  60,
);

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "postgres" : `postgres: SKIPPED, ${skipReason}`,
  () => {
    afterAll(() => dropSchemas());
    suite(
      "postgres",
      async () => {
        const { url } = await freshSchema();
        const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
        return { store, close: () => store.close() };
      },
      25,
    );
  },
);

/**
 * The contract for usage totals (part of storeSuite): `totals()` reads a roll-up the store keeps as
 * usage is written (version 18), and must give exactly what summing every row gives; and the usage
 * journal's records dropped by prefix at a start (dropJournaled). Test-only.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import type { Store, UsageDelta } from "./index.js";

const MAX = Number.MAX_SAFE_INTEGER;

// Tokens as the Meter hands them over: mostly small, now and then at or near the 2^53 - 1 ceiling.
const tokens = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 1_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(MAX, MAX - 1, 2 ** 52) },
);

const flush = fc.array(
  fc.record({
    principal: fc.constantFrom("p1", "p2", "p3"),
    organization: fc.constantFrom(null, "o1", "o2"),
    license: fc.constantFrom(null, "l1", "l2", "l3"),
    model: fc.constantFrom("m1", "m2"),
    day: fc.constantFrom("2030-01-01", "2030-01-02", "2030-02-01"),
    inputTokens: tokens,
    outputTokens: tokens,
  }),
  { minLength: 1, maxLength: 12 },
);

/** Per key, the exact sum (BigInt) saturated at 2^53 - 1, as the store's sums are. */
function expected(deltas: readonly UsageDelta[], key: (d: UsageDelta) => string | null) {
  const sums = new Map<string, bigint>();
  for (const d of deltas) {
    const k = key(d);
    if (k === null) continue;
    sums.set(k, (sums.get(k) ?? 0n) + BigInt(d.inputTokens) + BigInt(d.outputTokens));
  }
  return Object.fromEntries([...sums].map(([k, sum]) => [k, sum > BigInt(MAX) ? MAX : Number(sum)]));
}

export function usageTotalsSuite(store: () => Store): void {
  it("dropJournaled() drops the journal records starting with a prefix, taken as text, but those kept", async () => {
    const ns = `drop-${Math.random().toString(36).slice(2)}`;
    // `%` and `_` are text here, not patterns: `${ns}:%_:` must not take `${ns}:ab:…`.
    const [a, b, c, d] = [`${ns}:%_:1`, `${ns}:%_:2`, `${ns}:%_:3`, `${ns}:ab:1`];
    await store().usage.add([], { written: [a, b, c, d, `${ns}`] });
    expect(await store().usage.dropJournaled(`${ns}:%_:`, [b])).toBe(2);
    expect(await store().usage.journaled([a, b, c, d, ns])).toEqual([b, d, ns]);
    expect(await store().usage.dropJournaled(`${ns}:`, [])).toBe(2);
    expect(await store().usage.journaled([b, d, ns])).toEqual([ns]);
    expect(await store().usage.dropJournaled(`${ns}:`, [])).toBe(0);
  });

  it("totals() equal the sums over every row, after any run of flushes (property)", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(flush, { minLength: 1, maxLength: 5 }), async (flushes) => {
        // Each run its own ids: one store for all runs, each run's keys compared alone.
        const ns = `r${run++}-`;
        const all: UsageDelta[] = [];
        for (const batch of flushes) {
          const deltas = batch.map((d) => ({
            principalId: ns + d.principal,
            organizationId: d.organization === null ? null : ns + d.organization,
            licenseId: d.license === null ? null : ns + d.license,
            model: d.model,
            inputTokens: d.inputTokens,
            outputTokens: d.outputTokens,
            requests: 1,
            at: `${d.day}T12:00:00Z`,
          }));
          await store().usage.add(deltas);
          all.push(...deltas);
        }
        const mine = (from: Record<string, number>) =>
          Object.fromEntries(Object.entries(from).filter(([k]) => k.startsWith(ns)));
        const got = await store().usage.totals();
        const want = {
          byLicense: expected(all, (d) => d.licenseId),
          byPrincipal: expected(all, (d) => d.principalId),
          byOrganization: expected(all, (d) => d.organizationId),
        };
        expect({
          byLicense: mine(got.byLicense),
          byPrincipal: mine(got.byPrincipal),
          byOrganization: mine(got.byOrganization),
        }).toStrictEqual(want);
        // And what the store sums over its rows (the per-license read) says the same.
        const rows = await store().usage.byLicenseWindows([]);
        expect(
          Object.fromEntries(
            rows.filter((r) => r.licenseId.startsWith(ns)).map((r) => [r.licenseId, r.total]),
          ),
        ).toStrictEqual(want.byLicense);
      }),
      { numRuns: 25 },
    );
  });
}

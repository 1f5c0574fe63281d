import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../audit/log.js";
import { aggregate, type EntrySource } from "./overview-data.js";

/** A log of `n` entries, one a minute from 00:00, every fifth an admin change, every seventh without a location. */
function log(n: number): { source: EntrySource; reads: bigint[] } {
  const entries = Array.from({ length: n }, (_, i) => {
    const time = new Date(Date.UTC(2026, 11, 1) + i * 60_000).toISOString();
    if (i % 5 === 4) return { v: 1, type: "admin", time };
    return {
      v: 1,
      type: "decision",
      time,
      location: i % 7 === 6 ? null : i % 2 === 0 ? "FR" : "IR",
      decision: i % 2 === 0 ? "allow" : "deny",
      model: "m5",
      served_model: i % 2 === 0 ? "m5" : null,
      reason: i % 2 === 0 ? "home-person" : "embargoed-location",
      grant: null,
    };
  });
  const bytes = entries.map((e) => new TextEncoder().encode(JSON.stringify(e)));
  const reads: bigint[] = [];
  const width = 10; // small bundles, so that a scan crosses several
  const source: EntrySource = {
    latest: async () => ({
      checkpoint: { origin: "o", size: BigInt(n), root: new Uint8Array(32), extensions: [] } as never,
    }),
    bundles: (size) => {
      const out: { index: bigint; width: number }[] = [];
      const full = Number(size) / width;
      if (Number(size) % width > 0)
        out.push({ index: BigInt(Math.floor(full)), width: Number(size) % width });
      for (let i = Math.floor(full) - 1; i >= 0; i--) out.push({ index: BigInt(i), width });
      return out;
    },
    read: async (index, w) => {
      reads.push(index);
      return bytes.slice(Number(index) * width, Number(index) * width + w);
    },
    parse: (b) => JSON.parse(new TextDecoder().decode(b)) as AuditEntry,
  };
  return { source, reads };
}

const decisionsAmong = (from: number, to: number) => {
  let n = 0;
  for (let i = from; i < to; i++) if (i % 5 !== 4) n++;
  return n;
};

describe("the overview's figures", () => {
  it("counts every decision by location when the log is within the limit", async () => {
    const { source } = log(95);
    const a = await aggregate(source, null, () => {}, 1_000);
    expect(a.partial).toBeNull();
    expect(a.decisions).toBe(decisionsAmong(0, 95));
    const located = (a.byCountry.get("FR")?.requests ?? 0) + (a.byCountry.get("IR")?.requests ?? 0);
    expect(located + a.unknown).toBe(a.decisions);
    expect(a.byCountry.get("IR")?.denials).toBe(a.byCountry.get("IR")?.requests);
  });

  it("stops at the start of the period", async () => {
    const { source } = log(95);
    const since = Date.UTC(2026, 11, 1) + 50 * 60_000; // entries 50..94
    const a = await aggregate(source, since, () => {}, 1_000);
    expect(a.partial).toBeNull();
    expect(a.decisions).toBe(decisionsAmong(50, 95));
  });

  it("reads no more than the limit, newest first, and says how far back it reached", async () => {
    const { source, reads } = log(95);
    const progress: number[][] = [];
    const a = await aggregate(source, null, (done, total) => progress.push([done, total]), 32);
    expect(a.decisions).toBe(decisionsAmong(95 - 32, 95));
    expect(a.partial).toEqual({
      entries: 32,
      since: new Date(Date.UTC(2026, 11, 1) + 63 * 60_000).toISOString(),
    });
    // The newest bundles only: the partial one (5 entries), two full ones, then 7 of the next.
    expect(reads).toEqual([9n, 8n, 7n, 6n]);
    expect(progress.at(-1)?.[1]).toBe(32);
  });

  it("stops reading once its page no longer wants it (left, or another period chosen)", async () => {
    const { source, reads } = log(95);
    const stop = new AbortController();
    // Abandoned after the first bundle: no other is read, and the result is refused, not given.
    const scan = aggregate(source, null, () => stop.abort(), 1_000, stop.signal);
    await expect(scan).rejects.toThrow(/abort/i);
    expect(reads).toEqual([9n]);
  });

  it("counts model lookups apart: not requests, denials, fallbacks nor what was served", async () => {
    // Six decisions at FR: two requests allowed, one denied, three lookups (one of them denied).
    const entries = [
      { decision: "allow", lookup: false },
      { decision: "allow" },
      { decision: "deny" },
      { decision: "allow", lookup: true },
      { decision: "fallback", lookup: true },
      { decision: "deny", lookup: true },
    ].map((d, i) => ({
      v: 1,
      type: "decision",
      time: new Date(Date.UTC(2026, 11, 1) + i * 60_000).toISOString(),
      location: "FR",
      model: "m5",
      served_model: d.decision === "deny" ? null : "m5",
      reason: d.decision === "deny" ? "no-authorization" : "home-person",
      grant: null,
      ...d,
    }));
    // And a lookup from an unknown location: a lookup, not an unknown-location request.
    entries.push({ ...entries[3]!, location: null as never, time: "2026-12-01T00:10:00.000Z" });
    const bytes = entries.map((e) => new TextEncoder().encode(JSON.stringify(e)));
    const source: EntrySource = {
      latest: async () => ({
        checkpoint: {
          origin: "o",
          size: BigInt(bytes.length),
          root: new Uint8Array(32),
          extensions: [],
        } as never,
      }),
      bundles: (size) => [{ index: 0n, width: Number(size) }],
      read: async (_i, w) => bytes.slice(0, w),
      parse: (b) => JSON.parse(new TextDecoder().decode(b)) as AuditEntry,
    };
    const a = await aggregate(source, null, () => {});
    expect(a.decisions).toBe(7);
    expect(a.lookups).toBe(4);
    expect(a.unknown).toBe(0);
    const fr = a.byCountry.get("FR");
    expect(fr).toMatchObject({ requests: 3, denials: 1, fallbacks: 0, lookups: 3 });
    expect([...(fr?.served.values() ?? [])].reduce((x, y) => x + y, 0)).toBe(3);
  });
});

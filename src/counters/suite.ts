/**
 * The contract every counters driver passes: each driver's test file calls
 * `countersSuite("<driver>", open, another)`, where `open` returns counters over fresh, empty state
 * and `another` a second gateway node's counters over the same state (the same object, for memory:
 * it has one node). Times are fixed, so windows and periods never move under a test.
 * Test-only (imports vitest): never import it from shipped code.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Counters, RateLimit } from "./index.js";

const at = (iso: string) => Date.parse(iso);
/** 10:00:00 on the last day of January 2030: the next day starts a month, not a quarter. */
const T0 = at("2030-01-31T10:00:00.000Z");
const org = (id: string, limits: RateLimit) => ({ id, limits });

export function countersSuite(
  name: string,
  open: () => Promise<Counters>,
  another: (c: Counters) => Promise<Counters>,
): void {
  describe(`counters contract: ${name}`, () => {
    const opened: Counters[] = [];
    const fresh = async () => {
      const c = await open();
      opened.push(c);
      return c;
    };
    const second = async (c: Counters) => {
      const d = await another(c);
      if (d !== c) opened.push(d);
      return d;
    };
    afterEach(async () => {
      for (const c of opened.splice(0)) await c.close();
    });

    it("counts an organization's requests in one-minute windows; over the limit nothing is counted", async () => {
      const c = await fresh();
      expect(c.unavailable).toBeNull();
      const acme = org("acme", { requestsPerMinute: 2, tokensPerMinute: null });
      const admit = (o = acme, now = T0) => c.admit({ organization: o, licenses: [], now });
      const { rate, usage } = await admit(); // and Redis' ticket, for release()
      expect({ rate, usage }).toEqual({ rate: { ok: true }, usage: {} });
      expect((await admit(acme, T0 + 1)).rate).toEqual({ ok: true });
      for (let i = 0; i < 3; i++) {
        expect((await admit(acme, T0 + 2)).rate).toEqual({
          ok: false,
          retryAfter: 60,
          limit: "2 requests per minute",
        });
      }
      expect((await admit(org("other", acme.limits), T0 + 2)).rate).toEqual({ ok: true });
      expect((await admit(acme, T0 + 45_500)).rate).toMatchObject({ ok: false, retryAfter: 15 });
      // A new minute starts at zero.
      expect((await admit(acme, T0 + 60_000)).rate).toEqual({ ok: true });
      expect((await c.admit({ organization: null, licenses: [], now: T0 })).rate).toBeNull();
    });

    it("counts tokens per minute: once the window's tokens reach the limit, requests wait", async () => {
      const c = await fresh();
      const acme = org("acme", { requestsPerMinute: 10, tokensPerMinute: 100 });
      const admit = (now: number) => c.admit({ organization: acme, licenses: [], now });
      expect((await admit(T0)).rate).toEqual({ ok: true });
      await c.add({ organization: "acme", license: null, tokens: 60, now: T0 + 1 });
      await c.add({ organization: null, license: "L", tokens: 1_000, now: T0 + 1 });
      expect((await admit(T0 + 2)).rate).toEqual({ ok: true });
      await c.add({ organization: "acme", license: null, tokens: 40, now: T0 + 3 });
      expect((await admit(T0 + 4)).rate).toEqual({
        ok: false,
        retryAfter: 60,
        limit: "100 tokens per minute",
      });
      expect((await admit(T0 + 60_000)).rate).toEqual({ ok: true });
    });

    it("takes back a request that was counted and then denied, never below zero", async () => {
      const c = await fresh();
      const one = org("acme", { requestsPerMinute: 1, tokensPerMinute: null });
      const admit = () => c.admit({ organization: one, licenses: [], now: T0 });
      await c.release("acme", T0);
      await c.release("acme", T0);
      expect((await admit()).rate).toEqual({ ok: true });
      expect((await admit()).rate).toMatchObject({ ok: false });
      await c.release("acme", T0 + 10);
      expect((await admit()).rate).toEqual({ ok: true });
      expect((await admit()).rate).toMatchObject({ ok: false });
    });

    it("counts a license's tokens per month, per quarter and in total; a new period starts at zero", async () => {
      const c = await fresh();
      const read = (now: number) =>
        Promise.all(
          (["month", "quarter", "total"] as const).map(
            async (period) => (await c.usage([{ id: "L", period }], now)).L?.tokens,
          ),
        );
      expect(await read(T0)).toEqual([0, 0, 0]);
      await c.add({ organization: null, license: "L", tokens: 10, now: T0 });
      await c.add({ organization: "acme", license: "L", tokens: 5, now: T0 + 1 });
      expect(await read(T0 + 2)).toEqual([15, 15, 15]);
      const february = at("2030-02-01T00:00:00.000Z");
      expect(await read(february)).toEqual([0, 15, 15]);
      await c.add({ organization: null, license: "L", tokens: 7, now: february + 1 });
      expect(await read(february + 2)).toEqual([7, 22, 22]);
      const april = at("2030-04-01T00:00:00.000Z");
      expect(await read(april)).toEqual([0, 0, 22]);
      const usage = await c.usage(
        [
          { id: "L", period: "total" },
          { id: "unknown", period: "month" },
        ],
        april,
      );
      expect(usage).toEqual({ L: { tokens: 22 }, unknown: { tokens: 0 } });
    });

    it("counts a fractional token count as whole tokens (rounded up); later counts still add", async () => {
      const c = await fresh();
      const acme = org("acme", { requestsPerMinute: 10, tokensPerMinute: 26 });
      await c.add({ organization: "acme", license: "L", tokens: 12.5, now: T0 });
      await c.add({ organization: "acme", license: "L", tokens: 12.01, now: T0 + 1 });
      // Not a count anyone used (past 2^53, or not finite): nothing is added, and nothing breaks.
      await c.add({ organization: "acme", license: "L", tokens: 1e21, now: T0 + 2 });
      await c.add({ organization: "acme", license: "L", tokens: NaN, now: T0 + 2 });
      expect(await c.usage([{ id: "L", period: "month" }], T0 + 3)).toEqual({ L: { tokens: 26 } });
      expect((await c.admit({ organization: acme, licenses: [], now: T0 + 4 })).rate).toMatchObject({
        ok: false,
        limit: "26 tokens per minute",
      });
      await c.add({ organization: null, license: "L", tokens: 100, now: T0 + 5 });
      expect(await c.usage([{ id: "L", period: "total" }], T0 + 6)).toEqual({ L: { tokens: 126 } });
    });

    it("stops every count at 2^53 − 1: a license used up stays used up, and later counts are still taken", async () => {
      const c = await fresh();
      const max = Number.MAX_SAFE_INTEGER;
      // 1,024 counts of 2^53 − 1 and one of 1,023 sum to 2^63 − 1, the largest integer Redis keeps
      // (which its scripts read back as −2^63), in the license's counters and the minute's window.
      for (let i = 0; i < 1_024; i++) {
        await c.add({ organization: "acme", license: "L", tokens: max, now: T0 });
      }
      await c.add({ organization: "acme", license: "L", tokens: 1_023, now: T0 });
      for (const period of ["month", "quarter", "total"] as const) {
        expect(await c.usage([{ id: "L", period }], T0 + 1)).toEqual({ L: { tokens: max } });
      }
      // A count of another license in the same minute is still taken (past 2^63 − 1 Redis refuses).
      await c.add({ organization: "acme", license: "M", tokens: 5, now: T0 });
      expect(await c.usage([{ id: "M", period: "month" }], T0 + 1)).toEqual({ M: { tokens: 5 } });
      const acme = org("acme", { requestsPerMinute: null, tokensPerMinute: max });
      expect((await c.admit({ organization: acme, licenses: [], now: T0 + 2 })).rate).toMatchObject({
        ok: false,
      });
      // Seeding at the limit leaves it there.
      await c.seed([{ license: "L", month: max, quarter: max, total: max }], T0 + 3);
      expect(await c.usage([{ id: "L", period: "total" }], T0 + 4)).toEqual({ L: { tokens: max } });
    });

    it("a time from the previous minute (a clock stepped back, a late call) leaves the current minute's count", async () => {
      const c = await fresh();
      const acme = org("acme", { requestsPerMinute: 2, tokensPerMinute: 100 });
      const M = T0 + 60_000;
      const admit = async (now: number) =>
        (await c.admit({ organization: acme, licenses: [], now })).rate?.ok;
      expect([await admit(M + 10), await admit(M + 20)]).toEqual([true, true]);
      // The previous minute had none: counted there.
      expect(await admit(M - 300)).toBe(true);
      await c.add({ organization: "acme", license: null, tokens: 5, now: M - 200 });
      await c.release("acme", M - 100);
      expect([await admit(M + 400), await admit(M + 500)]).toEqual([false, false]);
      await c.add({ organization: "acme", license: null, tokens: 100, now: M + 600 });
      await c.release("acme", M + 700);
      // Tokens over the limit now, though a request was taken back.
      expect((await c.admit({ organization: acme, licenses: [], now: M + 800 })).rate).toMatchObject({
        ok: false,
        limit: "100 tokens per minute",
      });
    });

    it("a time from the previous month (a clock stepped back) leaves the current month's count", async () => {
      const c = await fresh();
      const february = at("2030-02-01T00:00:01.000Z");
      await c.add({ organization: null, license: "L", tokens: 50_000, now: february });
      // The clock steps back two seconds: one more response is metered "in January".
      await c.add({ organization: null, license: "L", tokens: 10, now: february - 2_000 });
      const read = async (period: "month" | "quarter" | "total", now: number) =>
        (await c.usage([{ id: "L", period }], now)).L?.tokens;
      expect(await read("month", february + 5_000)).toBe(50_000);
      expect(await read("month", february - 1_500)).toBe(10);
      expect(await read("quarter", february + 5_000)).toBe(50_010);
      expect(await read("total", february + 5_000)).toBe(50_010);
    });

    it("reads the licenses' usage in the same step that counts the request", async () => {
      const c = await fresh();
      await c.add({ organization: null, license: "A", tokens: 3, now: T0 });
      await c.add({ organization: null, license: "B", tokens: 4, now: T0 });
      const admission = await c.admit({
        organization: org("acme", { requestsPerMinute: 5, tokensPerMinute: null }),
        licenses: [
          { id: "A", period: "month" },
          { id: "B", period: "total" },
          { id: "C", period: "quarter" },
        ],
        now: T0 + 1,
      });
      expect({ rate: admission.rate, usage: admission.usage }).toEqual({
        rate: { ok: true },
        usage: { A: { tokens: 3 }, B: { tokens: 4 }, C: { tokens: 0 } },
      });
    });

    it("seeding raises counters to the store's figures and never lowers one", async () => {
      const c = await fresh();
      await c.add({ organization: null, license: "kept", tokens: 50, now: T0 });
      await c.seed(
        [
          { license: "kept", month: 10, quarter: 20, total: 30 },
          { license: "new", month: 1, quarter: 2, total: 3 },
        ],
        T0,
      );
      const all = async (id: string) =>
        Promise.all(
          (["month", "quarter", "total"] as const).map(
            async (period) => (await c.usage([{ id, period }], T0 + 1))[id]?.tokens,
          ),
        );
      expect(await all("kept")).toEqual([50, 50, 50]);
      expect(await all("new")).toEqual([1, 2, 3]);
      await c.seed([{ license: "new", month: 5, quarter: 1, total: 5 }], T0);
      expect(await all("new")).toEqual([5, 2, 5]);
    });

    it("two nodes together never count more requests than the limit, however they interleave", async () => {
      const a = await fresh();
      const b = await second(a);
      const limited = org("acme", { requestsPerMinute: 15, tokensPerMinute: null });
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? a : b).admit({ organization: limited, licenses: [], now: T0 + i }),
        ),
      );
      expect(results.filter((r) => r.rate?.ok === true)).toHaveLength(15);
    });

    it("tokens one node adds are read by the other", async () => {
      const a = await fresh();
      const b = await second(a);
      await a.add({ organization: null, license: "L", tokens: 42, now: T0 });
      expect(await b.usage([{ id: "L", period: "quarter" }], T0 + 1)).toEqual({ L: { tokens: 42 } });
      await b.add({ organization: null, license: "L", tokens: 8, now: T0 + 2 });
      expect(await a.usage([{ id: "L", period: "month" }], T0 + 3)).toEqual({ L: { tokens: 50 } });
    });
  });
}

import fc from "fast-check";
import { expect, it } from "vitest";
import { MemoryCounters } from "./memory.js";
import { countersSuite } from "./suite.js";
import { windowStart } from "./windows.js";

// One node: a "second node" is the same counters.
countersSuite(
  "memory",
  () => Promise.resolve(new MemoryCounters()),
  (c) => Promise.resolve(c),
);

const M = Date.parse("2030-03-01T10:00:00.000Z");

it("memory: admits over two minutes in any order count each minute exactly, as Redis' per-minute keys do", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: -60_000, max: 59_999 }), { maxLength: 30 }),
      async (offsets) => {
        const c = new MemoryCounters();
        const limits = { requestsPerMinute: 3, tokensPerMinute: null };
        const taken = new Map<number, number>();
        const asked = new Map<number, number>();
        for (const offset of offsets) {
          const now = M + offset;
          const admission = await c.admit({ organization: { id: "acme", limits }, licenses: [], now });
          const start = windowStart(now);
          asked.set(start, (asked.get(start) ?? 0) + 1);
          if (admission.rate?.ok === true) taken.set(start, (taken.get(start) ?? 0) + 1);
        }
        for (const [start, n] of asked) expect(taken.get(start) ?? 0).toBe(Math.min(n, 3));
      },
    ),
  );
});

it("memory: a clock stepped back further than both kept minutes does not switch the rate limit off", async () => {
  const c = new MemoryCounters();
  const organization = { id: "acme", limits: { requestsPerMinute: 3, tokensPerMinute: null } };
  const ok = async (now: number) => (await c.admit({ organization, licenses: [], now })).rate?.ok === true;
  for (const now of [M, M + 60_000]) await ok(now); // two minutes kept
  const back = M - 5 * 60_000;
  let admitted = 0;
  for (let i = 0; i < 20; i++) if (await ok(back + i)) admitted++;
  expect(admitted).toBeLessThanOrEqual(3);
});

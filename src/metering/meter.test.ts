import { describe, expect, it } from "vitest";
import type { Store, UsageDelta } from "../store/index.js";
import { checkUsageDeltas } from "../store/input.js";
import { Meter, UsageSetAsideError } from "./index.js";

/** A store whose usage table records what it is given, failing while `failing` is set. */
function fakeStore() {
  const added: UsageDelta[][] = [];
  const state = { failing: false };
  /** The segments (or a batch's marker) recorded with the batches taken, as the drivers' usage_journal. */
  const recorded = new Set<string>();
  const store = {
    usage: {
      add: async (rows: UsageDelta[], journal?: { written: string[]; forget?: string[] }) => {
        if (state.failing) throw new Error("store down");
        checkUsageDeltas(rows); // what both drivers check before writing

        added.push(rows.map((r) => ({ ...r })));
        for (const s of journal?.forget ?? []) recorded.delete(s);
        for (const s of journal?.written ?? []) recorded.add(s);
      },
      journaled: async (segments: readonly string[]) => segments.filter((s) => recorded.has(s)),
    },
  } as unknown as Store;
  return { store, added, state };
}

const alice = { principalId: "alice", organizationId: "acme", licenseId: null, model: "m" };
const DAY = Date.parse("2026-12-05T00:00:00Z");

describe("Meter", () => {
  it("sums a batch's requests per day, principal, organization, license and model", async () => {
    const { store, added } = fakeStore();
    const meter = new Meter(store, () => {});
    meter.record({ ...alice, inputTokens: 3, outputTokens: 4 }, DAY + 1_000);
    meter.record({ ...alice, inputTokens: 5, outputTokens: 6 }, DAY + 2_000);
    meter.record({ ...alice, model: "other", inputTokens: 1, outputTokens: 1 }, DAY + 3_000);
    // The next UTC day is a row of its own.
    meter.record({ ...alice, inputTokens: 7, outputTokens: 8 }, DAY + 86_400_000 + 5);
    await meter.flush();
    expect(added).toEqual([
      [
        { ...alice, inputTokens: 8, outputTokens: 10, requests: 2, at: "2026-12-05T00:00:01.000Z" },
        {
          ...alice,
          model: "other",
          inputTokens: 1,
          outputTokens: 1,
          requests: 1,
          at: "2026-12-05T00:00:03.000Z",
        },
        { ...alice, inputTokens: 7, outputTokens: 8, requests: 1, at: "2026-12-06T00:00:00.005Z" },
      ],
    ]);
    await meter.flush();
    expect(added).toHaveLength(1); // nothing pending: nothing written
  });

  it("keeps a batch the store refused and adds later usage into it", async () => {
    const { store, added, state } = fakeStore();
    const errors: unknown[] = [];
    const meter = new Meter(store, (err) => errors.push(err));
    meter.record({ ...alice, inputTokens: 1, outputTokens: 2 }, DAY);
    state.failing = true;
    await meter.flush();
    expect(errors).toHaveLength(1);
    meter.record({ ...alice, inputTokens: 10, outputTokens: 20 }, DAY + 1);
    state.failing = false;
    await meter.flush();
    expect(added).toEqual([
      [{ ...alice, inputTokens: 11, outputTokens: 22, requests: 2, at: "2026-12-05T00:00:00.000Z" }],
    ]);
  });

  it("sets aside a row the store refuses as invalid, so the rest of its batch is written", async () => {
    const { store, added } = fakeStore();
    const errors: unknown[] = [];
    const meter = new Meter(store, (err) => errors.push(err));
    meter.record({ ...alice, inputTokens: 1, outputTokens: 2 }, DAY);
    meter.record({ ...alice, principalId: "", inputTokens: 3, outputTokens: 4 }, DAY);
    await meter.flush(); // the bad row set aside before the batch goes to the store
    meter.record({ ...alice, inputTokens: 5, outputTokens: 6 }, DAY + 1);
    await meter.flush();
    expect(added).toEqual([
      [{ ...alice, inputTokens: 1, outputTokens: 2, requests: 1, at: "2026-12-05T00:00:00.000Z" }],
      [{ ...alice, inputTokens: 5, outputTokens: 6, requests: 1, at: "2026-12-05T00:00:00.001Z" }],
    ]);
    expect(errors).toHaveLength(1);
    const set = errors[0] as UsageSetAsideError;
    expect(set).toBeInstanceOf(UsageSetAsideError);
    expect(set.row).toMatchObject({ principalId: "", inputTokens: 3, outputTokens: 4, requests: 1 });
    expect(set.message).toContain("expected a non-empty string");
  });

  it("records a fractional count as whole tokens, so the store takes the batch and later ones", async () => {
    const { store, added } = fakeStore();
    const errors: unknown[] = [];
    const meter = new Meter(store, (err) => errors.push(err));
    meter.record({ ...alice, inputTokens: 10.5, outputTokens: 2 }, DAY);
    meter.record({ ...alice, licenseId: "other", inputTokens: 1e21, outputTokens: 3 }, DAY);
    await meter.flush();
    meter.record({ ...alice, inputTokens: 500, outputTokens: 500 }, DAY + 1);
    await meter.flush();
    expect(errors).toEqual([]);
    expect(added).toEqual([
      [
        { ...alice, inputTokens: 11, outputTokens: 2, requests: 1, at: "2026-12-05T00:00:00.000Z" },
        {
          ...alice,
          licenseId: "other",
          inputTokens: 0,
          outputTokens: 3,
          requests: 1,
          at: "2026-12-05T00:00:00.000Z",
        },
      ],
      [{ ...alice, inputTokens: 500, outputTokens: 500, requests: 1, at: "2026-12-05T00:00:00.001Z" }],
    ]);
  });
  it("a flush that throws (its error handler failing) does not stop the flushes after it", async () => {
    const { store, added, state } = fakeStore();
    let sayings = 0;
    const meter = new Meter(store, (err) => {
      // The first refusal cannot be said (a log whose destination is gone): the flush throws.
      if (++sayings === 1) throw new Error(`not said: ${(err as Error).message}`);
    });
    meter.record({ ...alice, inputTokens: 3, outputTokens: 4 }, DAY + 1_000);
    state.failing = true;
    await expect(meter.flush()).rejects.toThrow("not said: store down");
    state.failing = false;
    // Before: every later flush was the first one's rejection, and nothing was written again.
    await meter.flush();
    expect(added).toEqual([
      [expect.objectContaining({ principalId: "alice", inputTokens: 3, outputTokens: 4 })],
    ]);
  });
});

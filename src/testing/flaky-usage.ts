/**
 * A real embedded store whose usage writes go as `state.mode` says, for the Meter's fault tests:
 * taken; committed, then an error (the client never learns it was taken); or down (its check of
 * journal segments fails too).
 */
import { openStore, type Store } from "../store/index.js";

export type UsageMode = "takes" | "fails-after-commit" | "down";

export async function flakyUsageStore(dataDir: string) {
  const real = await openStore({ dataDir });
  const state = { mode: "takes" as UsageMode };
  const usage = Object.create(real.usage) as Store["usage"];
  usage.add = async (rows, journal) => {
    if (state.mode === "down") throw new Error("store down");
    await real.usage.add(rows, journal);
    if (state.mode === "fails-after-commit") throw new Error("connection lost after the commit");
  };
  usage.journaled = async (segments) => {
    if (state.mode === "down") throw new Error("store down");
    return real.usage.journaled(segments);
  };
  return { real, state, store: Object.assign(Object.create(real) as Store, { usage }) };
}

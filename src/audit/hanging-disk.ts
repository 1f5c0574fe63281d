/**
 * A disk whose `call` never returns while on (a stuck NFS mount, a frozen disk), injected at the
 * `node:fs` modules as the fault suite's read-only disk is: `rename` of a file under `dir` (a
 * tile's), a file handle's `sync` (the log syncs only directories with it: the tiles' before the
 * checkpoint; the write-ahead file uses datasync), or `writev` (the write-ahead file's group commit,
 * the only user of the callback API's writev). Released, each held call runs for real. Test-only.
 */
import fsCallbacks from "node:fs";
import fs from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { resolve, sep } from "node:path";

export interface HangingDisk {
  on(): void;
  /** Calls held so far and not released. */
  held(): number;
  /** Runs every held call for real, and holds no more. */
  release(): void;
  restore(): void;
}

export async function hangingDisk(dir: string, call: "rename" | "sync" | "writev"): Promise<HangingDisk> {
  const root = resolve(dir);
  let on = false;
  const held: (() => void)[] = [];
  const handle = await fs.open(process.execPath, "r");
  const target = (
    call === "rename" ? fs : call === "writev" ? fsCallbacks : Object.getPrototypeOf(handle)
  ) as Record<string, unknown>;
  await handle.close();
  const real = target[call] as (...args: unknown[]) => Promise<unknown>;
  target[call] = function (this: unknown, ...args: unknown[]) {
    const hangs = on && (call !== "rename" || resolve(String(args[0])).startsWith(root + sep));
    if (!hangs) return real.apply(this, args);
    // The callback API's call returns nothing: its callback, passed along, answers when released.
    if (call === "writev") return void held.push(() => void real.apply(this, args));
    return new Promise((done, fail) => held.push(() => void real.apply(this, args).then(done, fail)));
  };
  syncBuiltinESMExports();
  return {
    on: () => void (on = true),
    held: () => held.length,
    release: () => {
      on = false;
      for (const run of held.splice(0)) run();
    },
    restore: () => {
      target[call] = real;
      syncBuiltinESMExports();
    },
  };
}

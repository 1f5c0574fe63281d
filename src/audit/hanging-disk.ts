/**
 * A disk whose `call` never returns while on (a stuck NFS mount, a frozen disk), injected at the
 * `node:fs` modules as the fault suite's read-only disk is: `rename` or `unlink` of a file under
 * `dir` (a tile's; or one `only` accepts: the restore point's beside the write-ahead file), a file
 * handle's `sync` (the log syncs only directories with it: the tiles' before the
 * checkpoint; the write-ahead file uses datasync), or `writev` (the write-ahead file's group commit,
 * the only user of the callback API's writev). Released, each held call runs for real; failed, each
 * held call returns the error given, and so does every later one until released (a disk that comes
 * back answering with errors). Test-only.
 */
import fsCallbacks from "node:fs";
import fs from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { resolve, sep } from "node:path";

export interface HangingDisk {
  on(): void;
  /** Calls held so far and not released. */
  held(): number;
  /** Runs every held call for real, and holds (or fails) no more. */
  release(): void;
  /** Every held call returns `err`, and so does every later one until release() or on(). */
  fail(err: Error): void;
  restore(): void;
}

/** A held call: run for real, or answered with an error. */
interface Held {
  readonly run: () => void;
  readonly fail: (err: Error) => void;
}

export async function hangingDisk(
  dir: string,
  call: "rename" | "unlink" | "sync" | "writev",
  only: (path: string) => boolean = (path) => path.startsWith(resolve(dir) + sep),
): Promise<HangingDisk> {
  let mode: "through" | "hold" | { readonly fail: Error } = "through";
  const held: Held[] = [];
  const handle = await fs.open(process.execPath, "r");
  const target = (
    call === "rename" || call === "unlink"
      ? fs
      : call === "writev"
        ? fsCallbacks
        : Object.getPrototypeOf(handle)
  ) as Record<string, unknown>;
  await handle.close();
  const real = target[call] as (...args: unknown[]) => Promise<unknown>;
  target[call] = function (this: unknown, ...args: unknown[]) {
    const named = call === "rename" || call === "unlink";
    const hangs = mode !== "through" && (!named || only(resolve(String(args[0]))));
    if (!hangs) return real.apply(this, args);
    // The callback API's call returns nothing: its callback, passed along, answers when released.
    if (call === "writev") {
      const callback = args[args.length - 1] as (err: Error) => void;
      const h = { run: () => void real.apply(this, args), fail: (err: Error) => callback(err) };
      return void (typeof mode === "object" ? h.fail(mode.fail) : held.push(h));
    }
    if (typeof mode === "object") return Promise.reject(mode.fail);
    return new Promise((done, fail) =>
      held.push({ run: () => void real.apply(this, args).then(done, fail), fail }),
    );
  };
  syncBuiltinESMExports();
  return {
    on: () => void (mode = "hold"),
    held: () => held.length,
    release: () => {
      mode = "through";
      for (const h of held.splice(0)) h.run();
    },
    fail: (err) => {
      mode = { fail: err };
      for (const h of held.splice(0)) h.fail(err);
    },
    restore: () => {
      target[call] = real;
      syncBuiltinESMExports();
    },
  };
}

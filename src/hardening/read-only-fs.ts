/**
 * A read-only disk under one directory, injected at the file-system calls (`node:fs/promises` and
 * its file handles) for the fault suite. A real file system cannot be made read-only while the
 * audit log holds its write-ahead file open for writing (the kernel answers EBUSY to the remount,
 * tmpfs, ext4 or a bind mount alike), and ext4's emergency read-only (after an error) is not undone
 * without unmounting, which the open file prevents. So every call that would write under the
 * directory fails as the kernel would fail it — EROFS — while reads keep working; production code is
 * unchanged. Covered: the promise API and its file handles, and the callback `write` and `writev`
 * on the descriptor of a handle opened under the directory (the write-ahead file's group commits).
 * Not covered: descriptors from `openSync` (the tiles' inner-node file, whose records are hashed
 * again from the tiles when one is missing or fails its check).
 */
import callbackFs from "node:fs";
import fs from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { resolve, sep } from "node:path";

type Fn = (...args: never[]) => unknown;

const erofs = (syscall: string, path: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`EROFS: read-only file system, ${syscall} '${path}'`), {
    code: "EROFS",
    errno: -30,
    syscall,
    path,
  });

/** True if the open flags ask for writing (a string like "r" or a number with O_WRONLY/O_RDWR). */
function writes(flags: unknown): boolean {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === "number") return (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0;
  return String(flags) !== "r" && String(flags) !== "rs" && String(flags) !== "sr";
}

export interface ReadOnlyDisk {
  /** From now on every write under the directory fails with EROFS (handles already open included). */
  readonly on: () => void;
  /** Writes work again. */
  readonly off: () => void;
  /** Write calls refused so far. */
  readonly refused: () => number;
  /** Puts the real functions back. */
  readonly restore: () => void;
}

/** Installs the injection for `dir` (inactive until `on()`). */
export async function readOnlyDisk(dir: string): Promise<ReadOnlyDisk> {
  const root = resolve(dir);
  const under = (p: unknown) => {
    const r = resolve(String(p));
    return r === root || r.startsWith(root + sep);
  };
  let active = false;
  let refused = 0;
  const refuse = (syscall: string, path: string) => {
    refused++;
    return erofs(syscall, path);
  };
  const handlePaths = new WeakMap<object, string>();
  /** Descriptors of the handles opened under the directory (until they are closed). */
  const fdPaths = new Map<number, string>();
  const real = new Map<string, Fn>();
  const patch = (target: Record<string, unknown>, name: string, wrap: (orig: Fn) => Fn, key = name) => {
    const orig = target[name] as Fn;
    real.set(key, orig);
    target[name] = wrap(orig);
  };
  const api = fs as unknown as Record<string, unknown>;

  // Path calls that write: refused under the directory.
  for (const [name, pathArgs] of [
    ["writeFile", [0]],
    ["appendFile", [0]],
    ["truncate", [0]],
    ["mkdir", [0]],
    ["rename", [0, 1]],
    ["unlink", [0]],
    ["rm", [0]],
    ["copyFile", [1]],
  ] as const) {
    patch(api, name, (orig) => (...args: never[]) => {
      const hit = pathArgs.map((i) => args[i] as unknown).find((p) => typeof p === "string" && under(p));
      if (active && hit !== undefined) return Promise.reject(refuse(name, String(hit)));
      return orig(...args);
    });
  }
  // open: refused for writing under the directory; handles opened there are remembered.
  patch(api, "open", (orig) => async (...args: never[]) => {
    const [path, flags] = args as unknown as [unknown, unknown];
    const inside = under(path);
    if (active && inside && writes(flags)) throw refuse("open", String(path));
    const fh = (await orig(...args)) as { fd: number };
    if (inside) {
      handlePaths.set(fh, String(path));
      fdPaths.set(fh.fd, String(path));
    }
    return fh;
  });
  // Descriptors of those handles, written to with the callback API: refused the same way.
  const callbackApi = callbackFs as unknown as Record<string, unknown>;
  for (const name of ["write", "writev"]) {
    patch(
      callbackApi,
      name,
      (orig) =>
        (...args: never[]) => {
          const path = fdPaths.get(args[0] as unknown as number);
          const done = args[args.length - 1] as unknown;
          if (active && path !== undefined && typeof done === "function") {
            const err = refuse(name, path);
            process.nextTick(() => (done as (e: Error) => void)(err));
            return undefined;
          }
          return orig(...args);
        },
      `fs.${name}`,
    );
  }
  // Handles already open keep their descriptor, but the disk refuses their writes too.
  const probe = await fs.open(process.execPath, "r");
  const proto = Object.getPrototypeOf(probe) as Record<string, unknown>;
  await probe.close();
  patch(
    proto,
    "close",
    (orig) =>
      function (this: { fd: number }, ...args: never[]) {
        if (handlePaths.has(this)) fdPaths.delete(this.fd);
        return orig.apply(this, args);
      },
    "handle.close",
  );
  for (const name of ["write", "writev", "writeFile", "appendFile", "truncate"]) {
    patch(
      proto,
      name,
      (orig) =>
        function (this: object, ...args: never[]) {
          const path = handlePaths.get(this);
          if (active && path !== undefined) return Promise.reject(refuse(name, path));
          return orig.apply(this, args);
        },
      `handle.${name}`,
    );
  }
  syncBuiltinESMExports();
  return {
    on: () => {
      active = true;
    },
    off: () => {
      active = false;
    },
    refused: () => refused,
    restore: () => {
      for (const [key, fn] of real) {
        if (key.startsWith("handle.")) proto[key.slice(7)] = fn;
        else if (key.startsWith("fs.")) callbackApi[key.slice(3)] = fn;
        else api[key] = fn;
      }
      syncBuiltinESMExports();
    },
  };
}

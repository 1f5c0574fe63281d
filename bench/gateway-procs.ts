/**
 * Child processes of `npm run bench:gateway`: each server under test runs in its own process so
 * that none shares an event loop with another or with the load generator. Every child is tracked
 * here and stopped at the end, also on errors and signals; every wait is bounded in time.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";

const running = new Set<ChildProcess>();

export function log(message: string): void {
  process.stderr.write(`[bench:gateway] ${message}\n`);
}

/** A compiled sibling module (dist/bench/<name>.js), next to this file; an absolute .js path as it is. */
export function sibling(name: string): string {
  if (isAbsolute(name) && name.endsWith(".js")) return name;
  return join(dirname(fileURLToPath(import.meta.url)), `${name}.js`);
}

/** The repository root: the nearest ancestor of this file (src or dist) holding the example scheme. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "examples", "g7-trusted-partners.yaml"))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** Registers a child so that `stopAll` ends it; the set forgets it once it has exited. */
export function track(proc: ChildProcess): ChildProcess {
  running.add(proc);
  proc.once("exit", () => running.delete(proc));
  return proc;
}

let dataRoot: string | undefined;

/**
 * Where the children keep their data (a Clearance's store and audit log), removed only when the
 * bench exits. Not after each child: on ext4 without a journal (this project's test machine),
 * creating a file scans past every inode deleted in the last minutes, so a finished target's
 * thousands of tile files, deleted, would slow the file creations of the targets measured after
 * it — a cost no gateway in service pays.
 */
function benchDataRoot(): string {
  if (dataRoot === undefined) {
    const root = mkdtempSync(join(tmpdir(), "clearance-bench-data-"));
    dataRoot = root;
    process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  }
  return dataRoot;
}

/**
 * Forks a compiled bench module and waits for its first IPC message, which it sends once it
 * listens. Its stderr is passed through (it only writes there on errors); stdout is dropped. The
 * child finds the directory for its data in BENCH_DATA_ROOT (see benchDataRoot; `env` may name another).
 */
export async function forkChild<T>(
  name: string,
  args: readonly string[],
  execArgv: readonly string[] = [],
  timeoutMs = 30_000,
  env?: NodeJS.ProcessEnv,
): Promise<{ proc: ChildProcess; ready: T }> {
  const proc = track(
    fork(sibling(name), [...args], {
      execArgv: [...execArgv],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      env: { ...(env ?? process.env), BENCH_DATA_ROOT: env?.BENCH_DATA_ROOT ?? benchDataRoot() },
    }),
  );
  try {
    return { proc, ready: await firstMessage<T>(proc, name, timeoutMs) };
  } catch (err) {
    await stop(proc);
    throw err;
  }
}

export function firstMessage<T>(proc: ChildProcess, name: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (err: Error | null, message?: unknown) => {
      clearTimeout(timer);
      proc.off("message", onMessage);
      proc.off("exit", onExit);
      if (err) reject(err);
      else resolve(message as T);
    };
    const onMessage = (m: unknown) => done(null, m);
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`${name} exited (${code ?? signal}) before it was ready`));
    const timer = setTimeout(() => done(new Error(`${name} not ready after ${timeoutMs} ms`)), timeoutMs);
    proc.on("message", onMessage);
    proc.once("exit", onExit);
  });
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs` (Clearance flushes metering on SIGTERM). */
export async function stop(proc: ChildProcess, graceMs = 5_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs + 2_000))]);
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => stop(p)));
}

let clockTicks: number | undefined;

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat, or one
 * of its threads' (`tid`; the main thread's is the pid); null where there is no /proc. CPU per
 * request holds up better than req/s on a busy machine.
 */
export function cpuSeconds(pid: number | undefined, tid?: number): number | null {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  if (pid === undefined || !existsSync(path)) return null;
  try {
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" })) || 100;
    const stat = readFileSync(path, "utf8");
    // After the command name (which may hold spaces): state, ppid, ... utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return null;
  }
}

/** Last resort on a signal or a crash of the bench itself: no child may outlive it. */
export function killAllNow(): void {
  for (const p of running) p.kill("SIGKILL");
}

const cleanups = new Set<() => Promise<void>>();

/**
 * Work that must happen even when the bench is interrupted (dropping a PostgreSQL schema). The
 * bench's own `finally` runs it normally; on a signal, `runCleanups` does. Returns the unregister.
 */
export function onCleanup(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs (and forgets) every registered cleanup, each bounded by `timeoutMs`; never rejects. */
export async function runCleanups(timeoutMs = 5_000): Promise<void> {
  const all = [...cleanups];
  cleanups.clear();
  await Promise.all(
    all.map((fn) =>
      Promise.race([fn().catch(() => undefined), new Promise<void>((r) => setTimeout(r, timeoutMs))]),
    ),
  );
}

/** Runs a bench's main and exits with its code (1 if it threw), stopping every child first. */
export function runBench(main: () => Promise<number>): void {
  main()
    .then(async (code) => {
      await stopAll();
      process.exit(code);
    })
    .catch(async (err: unknown) => {
      log(`failed: ${(err as Error).stack ?? String(err)}`);
      await stopAll();
      process.exit(1);
    });
}

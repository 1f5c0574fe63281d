/**
 * `serve` on the data directory, as a user meets it (a real child process): one others may write to
 * is refused before anything is made in it (before, the store's file was made there first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "clearance-one-gateway-"));
copyFileSync("examples/g7-trusted-partners.yaml", join(dir, "scheme.yaml"));
const config = join(dir, "clearance.yaml");
writeFileSync(
  config,
  [
    "scheme: scheme.yaml",
    "listen: { host: 127.0.0.1, port: 0 }",
    "providers:",
    "  demo: { type: demo }",
    "default_provider: demo",
    "monitoring: { alerts: { enabled: false } }",
    "",
  ].join("\n"),
);

const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL")));

interface Running {
  readonly child: ChildProcess;
  readonly out: () => string;
  readonly err: () => string;
  /** Resolves with the exit code (null when ended by a signal). */
  readonly exited: Promise<number | null>;
  /** The gateway's URL once it says it is up; null if it exits first. */
  readonly up: Promise<string | null>;
}

/** The CLI as a child process (from the sources, as `npx clearance` runs it). */
function cli(args: string[]): Running {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const up = new Promise<string | null>((resolve) => {
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const url = /gateway on (http:\/\/\S+)/i.exec(out)?.[1];
      if (url !== undefined) resolve(url);
    });
    void exited.then(() => resolve(null));
  });
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  return { child, out: () => out, err: () => err, exited, up };
}

const serve = (dataDir: string) => cli(["serve", "--config", config, "--data-dir", dataDir]);

const posix = process.platform !== "win32" && process.getuid !== undefined;

describe.skipIf(!posix)("serve on a data directory others may write to", () => {
  it(
    "is refused (exit 2), naming it and the chmod, with nothing made in it",
    { timeout: 120_000 },
    async () => {
      const dataDir = join(dir, "open");
      mkdirSync(dataDir);
      chmodSync(dataDir, 0o777);
      const r = serve(dataDir);
      expect(await r.exited).toBe(2);
      expect(r.err()).toBe(
        `clearance: the data directory ${dataDir} is writable by others (mode 777): run chmod 700 ${dataDir} ` +
          `(they could replace the audit signing key, the write-ahead file or the store)\n`,
      );
      // Before: the store (clearance.db, its -wal and -shm) was made there before the check.
      expect(readdirSync(dataDir)).toEqual([]);
    },
  );
});

/**
 * `clearance serve` (the gateway): SIGHUP, sent by habit or by a log rotator, never stops it, and
 * reopens the access log's file, so that a file rotated by renaming is left with every line written
 * before the signal and the new file gets those after.
 */
import { spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";

const dir = mkdtempSync(join(tmpdir(), "clearance-serve-hup-"));
copyFileSync("examples/g7-trusted-partners.yaml", join(dir, "scheme.yaml"));
// In a directory of its own, which a test moves away.
const logs = join(dir, "logs");
mkdirSync(logs);
writeFileSync(
  join(dir, "clearance.yaml"),
  [
    "scheme: scheme.yaml",
    "listen: { host: 127.0.0.1, port: 0 }",
    "providers:",
    "  demo: { type: demo }",
    "default_provider: demo",
    `monitoring: { alerts: { enabled: false }, access_log: { destination: ${JSON.stringify(join(logs, "access.log"))} } }`,
    "",
  ].join("\n"),
);
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "serve",
    "--config",
    join(dir, "clearance.yaml"),
    "--data-dir",
    join(dir, "data"),
  ],
  { stdio: ["ignore", "pipe", "pipe"] },
);
let out = "";
let err = "";
let exited: string | null = null;
/** The gateway's URL once its line is out (null if it exits first). */
const up = new Promise<string | null>((resolve) => {
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
    // The whole URL, to the space after it: a chunk may end inside it (its port cut short).
    const url = /gateway on (http:\/\/\S+) /.exec(out)?.[1];
    if (url !== undefined) resolve(url);
  });
  child.once("exit", () => resolve(null));
});
child.stderr.on("data", (c: Buffer) => (err += c.toString()));
child.once("exit", (code, signal) => (exited = `code ${code}, signal ${signal}`));
afterAll(() => void child.kill("SIGTERM"));

// However long a loaded machine takes to start a Node process: the test's time limit is the guard.
const until = (ok: () => boolean) => eventually(async () => ok(), Boolean);

/** The request ids of an access log file's lines. */
const ids = (path: string): string[] =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => (JSON.parse(l) as { request_id: string }).request_id)
    : [];

/** A request the access log records; its request id. */
const request = async (url: string): Promise<string> => {
  const res = await fetch(`${url}/v1/models`);
  await res.text();
  return res.headers.get("x-clearance-request-id") as string;
};

describe("the gateway on SIGHUP", () => {
  it(
    "reopens the access log (a rotated file keeps its lines), says scheme changes go through the admin API, and keeps serving",
    { timeout: 60_000 },
    async () => {
      const log = join(logs, "access.log");
      const url = (await up) as string;
      expect(url, err).not.toBeNull();
      const first = await request(url);
      await until(() => ids(log).includes(first));
      // As logrotate without copytruncate: rename, a request meanwhile (to the renamed file), signal.
      renameSync(log, `${log}.1`);
      const second = await request(url);
      child.kill("SIGHUP");
      await until(() => err.includes("SIGHUP") || exited !== null);
      expect(exited).toBeNull();
      expect(err).toMatch(/SIGHUP: access log .*access\.log reopened; .*admin API/);
      const third = await request(url);
      // Before: the third went on into access.log.1 and access.log was never made again.
      await until(() => ids(log).includes(third) || exited !== null);
      expect(ids(log)).toEqual([third]);
      expect(ids(`${log}.1`)).toEqual([first, second]);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    },
  );

  // Before: the file's open failed after the reopen had resolved, so SIGHUP said "reopened".
  it(
    "says the access log could not be reopened when its file cannot be opened",
    { timeout: 60_000 },
    async () => {
      const url = (await up) as string;
      expect(url, err).not.toBeNull();
      const before = err;
      renameSync(logs, `${logs}.old`);
      child.kill("SIGHUP");
      await until(() => err.slice(before.length).includes("SIGHUP") || exited !== null);
      expect(exited).toBeNull();
      const said = err.slice(before.length);
      expect(said).toMatch(/SIGHUP: the access log could not be reopened: ENOENT/);
      expect(said).not.toMatch(/access log .* reopened;/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    },
  );
});

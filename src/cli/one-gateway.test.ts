/**
 * One gateway per embedded store, as a user meets it (real child processes on one data directory):
 * a second `serve` (or `demo`) is refused at start, naming the data directory and the gateway holding
 * it, while the first keeps serving (a demo refused has made nothing there); the CLI's own verbs on the store go on working beside it; and a
 * gateway killed with SIGKILL leaves nothing that refuses the next start. Before, the second started,
 * both drained the store's outbox into their own copy of the log, and the second soon failed with
 * LogBehindError. Also `serve` on a data directory others may write to: refused before anything is
 * made in it (before, the store's file was made there first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
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
      // The whole URL: a chunk may end inside it (its port cut short).
      const url = /gateway on (http:\/\/\S+) /.exec(out)?.[1];
      if (url !== undefined) resolve(url);
    });
    void exited.then(() => resolve(null));
  });
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  return { child, out: () => out, err: () => err, exited, up };
}

/**
 * The exit code of a start that should be refused; its URL should it start serving instead (as
 * before), so that the test fails at once rather than at its time limit.
 */
const refusal = (r: Running): Promise<number | string | null> =>
  Promise.race([
    r.exited,
    r.up.then((url): Promise<number | string | null> => (url === null ? r.exited : Promise.resolve(url))),
  ]);

const serve = (dataDir: string) => cli(["serve", "--config", config, "--data-dir", dataDir]);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("two gateways on one data directory", () => {
  const dataDir = join(dir, "data");
  let first: Running;

  it(
    "a second serve is refused at start (exit 1), naming the data directory and the first; the first keeps serving",
    { timeout: 120_000 },
    async () => {
      first = serve(dataDir);
      const url = await first.up;
      expect(url, first.err()).not.toBeNull();

      const second = serve(dataDir);
      expect(await refusal(second)).toBe(1);
      expect(second.out()).not.toMatch(/gateway on/);
      expect(second.err()).toMatch(
        new RegExp(
          `^clearance: another gateway \\(pid ${first.child.pid} on ${escape(hostname())}, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\) ` +
            `is running on the data directory ${escape(dataDir)}: only one gateway may serve an embedded \\(SQLite\\) store and its audit log\\. ` +
            `Stop that one first, or, for several gateways on one store, use the postgres store driver \\(each node with its own data directory\\) \\(data_dir_in_use\\)\n$`,
        ),
      );

      expect(first.child.exitCode).toBeNull();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const models = await fetch(`${url}/v1/models`);
      await models.text();
      expect(models.status).toBe(401); // served: no key given
    },
  );

  it(
    "the demo on that data directory is refused too (exit 1), with nothing made there",
    { timeout: 120_000 },
    async () => {
      const before = readdirSync(dataDir).sort();
      const demo = cli(["demo", "--data-dir", dataDir, "--port", "0"]);
      expect(await refusal(demo)).toBe(1);
      expect(demo.err()).toMatch(
        new RegExp(
          `another gateway \\(pid ${first.child.pid} .*\\) is running on the data directory ${escape(dataDir)}`,
        ),
      );
      expect(demo.out()).not.toContain("curl");
      // Before: its admin token (admin-token) was made first, and left behind.
      expect(readdirSync(dataDir).sort()).toEqual(before);
      expect(first.child.exitCode).toBeNull();
    },
  );

  it("the CLI's verbs on the store work while the gateway runs", { timeout: 120_000 }, async () => {
    const file = join(dir, "zoe.json");
    writeFileSync(
      file,
      JSON.stringify({ id: "zoe", citizenships: [{ country: "NZ" }], assurance: "attested" }),
    );
    const add = cli(["principals", "add", "--file", file, "--data-dir", dataDir]);
    expect(await add.exited, add.err()).toBe(0);
    expect(add.out()).toBe("saved principal zoe (new)\n");
    const key = cli(["keys", "create", "--principal", "zoe", "--label", "t", "--data-dir", dataDir]);
    expect(await key.exited, key.err()).toBe(0);
    expect(key.out()).toMatch(/^clr_/);
    expect(first.child.exitCode).toBeNull();
  });

  it(
    "once the first is killed (SIGKILL: no clean stop), a gateway started next serves",
    { timeout: 120_000 },
    async () => {
      first.child.kill("SIGKILL");
      expect(await first.exited).toBeNull();
      const next = serve(dataDir);
      const url = await next.up;
      expect(url, next.err()).not.toBeNull();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      next.child.kill("SIGTERM");
      expect(await next.exited, next.err()).toBe(0);
      // Stopped cleanly, it lets the directory go as well.
      const again = serve(dataDir);
      expect(await again.up, again.err()).not.toBeNull();
      again.child.kill("SIGTERM");
      expect(await again.exited, again.err()).toBe(0);
    },
  );
});

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

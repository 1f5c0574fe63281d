/**
 * `serve` and `demo` (`npm start`) that cannot start, as a user meets them (a real child process):
 * a port already taken, a bad principal file for the demo, a demo admin token too short to keep the
 * admin API closed, a `location.mmdb` that is a FIFO or a device. A clear message and an exit, never a
 * stack trace (exit 70) or a process left running after its error.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "clearance-start-"));
const children: ChildProcess[] = [];
// One that failed to end (the defect these tests are about) is not left running.
afterAll(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL")));

/** `umask`: the child's, set by a shell before it becomes the CLI. */
function cli(args: string[], umask?: string) {
  const argv = [process.execPath, "--import", "tsx", "src/cli/main.ts", ...args];
  const child =
    umask === undefined
      ? spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("/bin/sh", ["-c", `umask ${umask} && exec "$@"`, "sh", ...argv], {
          stdio: ["ignore", "pipe", "pipe"],
        });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, out, err })),
  );
}

let taken: Server;
let port: number;
beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  port = (taken.address() as AddressInfo).port;
});
afterAll(() => void taken.close());

const inUse = () =>
  new RegExp(
    `^clearance: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use \\(another gateway or program holds it\\): stop it, or choose another --port \\(EADDRINUSE\\)$`,
    "m",
  );

describe("a port already taken", () => {
  it("serve --scheme: said, exit 1", { timeout: 60_000 }, async () => {
    const r = await cli(["serve", "--scheme", "examples/g7-trusted-partners.yaml", "--port", String(port)]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(inUse());
    expect(r.err).not.toMatch(/unexpected error|\n\s+at /);
  });

  it("demo on a fresh data directory: said, exit 1, no lock file left", { timeout: 60_000 }, async () => {
    const dataDir = join(dir, "fresh");
    const r = await cli(["demo", "--data-dir", dataDir, "--port", String(port)]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(inUse());
    expect(r.err).not.toMatch(/unexpected error|\n\s+at /);
    expect(r.out).not.toContain("curl");
    // The lock the demo took for the gateway goes with the failed start, as a refused demo's does:
    // before, it was only let go, and gateway.lock stayed.
    expect(readdirSync(dataDir)).not.toContain("gateway.lock");
  });
});

describe("the demo's principals", () => {
  it(
    "a file that is not JSON: named with its line, exit 2, nothing started or made",
    { timeout: 60_000 },
    async () => {
      const principals = join(dir, "bad-json");
      mkdirSync(principals);
      writeFileSync(join(principals, "a.json"), '{"id": "x",\n');
      const dataDir = join(dir, "never");
      const r = await cli(["demo", "--data-dir", dataDir, "--port", "0", "--principals", principals]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(new RegExp(`^${join(principals, "a.json")}:2:1: principal is not valid JSON: `));
      expect(existsSync(dataDir)).toBe(false);
    },
  );

  it("a directory that is not there: named, exit 2", { timeout: 60_000 }, async () => {
    const r = await cli([
      "demo",
      "--data-dir",
      join(dir, "never2"),
      "--port",
      "0",
      "--principals",
      join(dir, "nope"),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^--principals: cannot read the principals directory: ENOENT/);
  });

  it("a failure once the gateway is up: said, and the process ends", { timeout: 60_000 }, async () => {
    // A principal of its own but none of the demo's: the demo's keys cannot be made.
    const principals = join(dir, "others");
    mkdirSync(principals);
    writeFileSync(join(principals, "x.json"), JSON.stringify({ id: "x" }));
    const r = await cli([
      "demo",
      "--data-dir",
      join(dir, "others-data"),
      "--port",
      "0",
      "--principals",
      principals,
    ]);
    expect(r.err).toMatch(/^clearance: no principal with id "alice" \(unknown-principal\)$/m);
    expect(r.code).toBe(1);
  });
});

describe("the demo's admin-token file", () => {
  it(
    "a token shorter than CLEARANCE_ADMIN_TOKEN's minimum: named, exit 2, nothing started or made",
    { timeout: 60_000 },
    async () => {
      const dataDir = join(dir, "short-token");
      mkdirSync(dataDir);
      const file = join(dataDir, "admin-token");
      const cases: [string, string][] = [
        ["admin\n", "5 characters"],
        [
          `${"a".repeat(20)} ${"b".repeat(20)}\n`,
          "a space, a line break or a character outside printable ASCII",
        ],
      ];
      for (const [token, said] of cases) {
        writeFileSync(file, token);
        const r = await cli(["demo", "--data-dir", dataDir, "--port", "0"]);
        expect(r).toEqual({
          code: 2,
          out: "",
          err:
            `clearance: ${file} holds ${said}; the admin token needs at least 32 printable ones, on one ` +
            "line: remove the file for the demo to make one, or write one (e.g. openssl rand -base64 32)\n",
        });
        // Nothing made: before, the data directory's lock file (gateway.lock) was left.
        expect(readdirSync(dataDir)).toEqual(["admin-token"]);
      }
    },
  );
});

describe("the demo's secret files' modes", () => {
  // Read whatever their mode: a token file copied with the umask's 0644 let every user of the
  // machine be the demo's admin. Refused as the audit signing key is, naming the chmod.
  it.skipIf(process.platform === "win32")(
    "an admin token or keys file others may read: named with the chmod, exit 2, nothing started",
    { timeout: 60_000 },
    async () => {
      const dataDir = join(dir, "open-token");
      mkdirSync(dataDir, { mode: 0o700 });
      const file = join(dataDir, "admin-token");
      writeFileSync(file, `${"t".repeat(32)}\n`, { mode: 0o644 });
      const r = await cli(["demo", "--data-dir", dataDir, "--port", "0"]);
      expect(r).toEqual({
        code: 2,
        out: "",
        err: `clearance: the demo's admin token ${file} is readable or writable by others (mode 644): run chmod 600 ${file}\n`,
      });
      expect(readdirSync(dataDir)).toEqual(["admin-token"]);

      chmodSync(file, 0o600);
      const keys = join(dataDir, "demo-keys.json");
      writeFileSync(keys, "{}\n", { mode: 0o640 });
      const k = await cli(["demo", "--data-dir", dataDir, "--port", "0"]);
      expect(k).toEqual({
        code: 2,
        out: "",
        err: `clearance: the demo's keys ${keys} is readable or writable by others (mode 640): run chmod 600 ${keys}\n`,
      });
      expect(readdirSync(dataDir).sort()).toEqual(["admin-token", "demo-keys.json"]);
    },
  );
});

describe("the demo's admin token, made", () => {
  // Whatever the umask: a umask of 000 must not leave the new token for every user to read.
  it.skipIf(process.platform === "win32")(
    "is its user's alone (0600, in a 0700 directory), even under umask 000",
    { timeout: 60_000 },
    async () => {
      const dataDir = join(dir, "umask-000");
      // The port is taken: the token is made before the gateway starts, and nothing is left running.
      const r = await cli(["demo", "--data-dir", dataDir, "--port", String(port)], "000");
      expect(r.code).toBe(1);
      expect(r.err).toMatch(inUse());
      expect((statSync(join(dataDir, "admin-token")).mode & 0o777).toString(8)).toBe("600");
      expect((statSync(dataDir).mode & 0o777).toString(8)).toBe("700");
    },
  );
});

describe.skipIf(process.platform === "win32")("the demo's secret files, made exclusively", () => {
  // A symbolic link to nothing, planted where the token or keys will be: the file was looked for
  // (not there, as the link leads nowhere), then written through the link wherever it pointed.
  it(
    "a link to nothing at admin-token: named, exit 2, nothing written through it",
    { timeout: 60_000 },
    async () => {
      const dataDir = join(dir, "planted-token");
      mkdirSync(dataDir, { mode: 0o700 });
      const target = join(dir, "planted-token-target");
      const file = join(dataDir, "admin-token");
      symlinkSync(target, file);
      // The port is taken: the old code wrote the token, then stopped there (exit 1).
      const r = await cli(["demo", "--data-dir", dataDir, "--port", String(port)]);
      expect(r).toEqual({
        code: 2,
        out: "",
        err:
          `clearance: the demo's admin token ${file} cannot be read (it is a symbolic link to ${target}, ` +
          "which is not there): remove it for the demo to make one\n",
      });
      expect(existsSync(target)).toBe(false);
      expect(lstatSync(file).isSymbolicLink()).toBe(true);
    },
  );

  it(
    "a link to nothing at demo-keys.json: named, exit 2, nothing written through it",
    { timeout: 60_000 },
    async () => {
      const dataDir = join(dir, "planted-keys");
      mkdirSync(dataDir, { mode: 0o700 });
      const target = join(dir, "planted-keys-target");
      const keys = join(dataDir, "demo-keys.json");
      symlinkSync(target, keys);
      const r = await cli(["demo", "--data-dir", dataDir, "--port", String(port)]);
      expect(r).toEqual({
        code: 2,
        out: "",
        err:
          `clearance: the demo's keys ${keys} cannot be read (it is a symbolic link to ${target}, ` +
          "which is not there): remove it for the demo to make new ones\n",
      });
      expect(existsSync(target)).toBe(false);
      expect(existsSync(join(dataDir, "admin-token"))).toBe(false);
    },
  );
});

describe.skipIf(process.platform === "win32")("the demo's data directory, others may write to", () => {
  // Checked by the gateway only once it started: by then the demo had read or made its admin token
  // in a directory where others could have put theirs.
  it(
    "is refused as the gateway refuses it, before the admin token is made in it",
    { timeout: 60_000 },
    async () => {
      const dataDir = join(dir, "open-dir");
      mkdirSync(dataDir);
      chmodSync(dataDir, 0o777);
      const r = await cli(["demo", "--data-dir", dataDir, "--port", "0"]);
      expect(r).toEqual({
        code: 2,
        out: "",
        err:
          `clearance: the data directory ${dataDir} is writable by others (mode 777): run chmod 700 ${dataDir} ` +
          "(they could replace the audit signing key, the write-ahead file or the store)\n",
      });
      expect(readdirSync(dataDir)).toEqual([]);
    },
  );
});

describe("the demo's keys file", () => {
  it("one that is not the demo's keys: named, exit 2, nothing made", { timeout: 60_000 }, async () => {
    const dataDir = join(dir, "bad-keys");
    mkdirSync(dataDir);
    const file = join(dataDir, "demo-keys.json");
    writeFileSync(file, '{"alice": "clr_abc_def",\n');
    const r = await cli(["demo", "--data-dir", dataDir, "--port", "0"]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(
      new RegExp(
        `^clearance: ${file} is not the demo's keys \\(not JSON: .*\\): remove it for the demo to make new ones\n$`,
      ),
    );
    // Nothing started or made: before, the data directory's lock file (gateway.lock) was left.
    expect(readdirSync(dataDir)).toEqual(["demo-keys.json"]);
  });
});

describe.skipIf(process.platform === "win32")("a location.mmdb that is no database file", () => {
  const serve = (name: string, mmdb: string) => {
    const config = join(dir, `${name}.yaml`);
    writeFileSync(
      config,
      [
        `scheme: ${join(process.cwd(), "examples/g7-trusted-partners.yaml")}`,
        `data_dir: ${join(dir, `${name}-data`)}`,
        "providers:",
        "  demo: { type: demo }",
        "default_provider: demo",
        "models:",
        "  mythos-5: { provider: demo, upstream_model: mythos-5 }",
        "location:",
        `  mmdb: ${mmdb}`,
        "",
      ].join("\n"),
    );
    return { config, run: cli(["serve", "--config", config, "--port", "0"]) };
  };

  it("a FIFO: refused at its line (exit 2), not waited on for ever", { timeout: 60_000 }, async () => {
    const fifo = join(dir, "country.fifo");
    execFileSync("mkfifo", [fifo]);
    const { config, run } = serve("fifo", fifo);
    expect(await run).toEqual({
      code: 2,
      out: "",
      err: `${config}:9:9: location.mmdb: cannot use mmdb file "${fifo}": it is not a regular file (a pipe, a socket or a device?)\n`,
    });
  });

  it("/dev/zero: refused as no regular file, not read", { timeout: 60_000 }, async () => {
    const { config, run } = serve("zero", "/dev/zero");
    expect(await run).toEqual({
      code: 2,
      out: "",
      err: `${config}:9:9: location.mmdb: cannot use mmdb file "/dev/zero": it is not a regular file (a pipe, a socket or a device?)\n`,
    });
  });
});

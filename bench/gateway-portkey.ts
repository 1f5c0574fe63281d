/**
 * The Portkey gateway (`@portkey-ai/gateway` from npm) for `npm run bench:gateway`: installed on
 * demand into a cache folder outside the repository, then started in its own process.
 *
 * `@hono/node-server` is pinned to 1.13.5 with npm overrides: with newer versions Portkey's streamed
 * responses fail. Install scripts are skipped: the package's only one is `patch-package`, and the
 * published package ships no patches. Portkey is sent loopback traffic only, on 127.0.0.1.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { request } from "undici";
import { firstMessage, log, sibling, stop, track } from "./gateway-procs.js";

const DIR = join(tmpdir(), "clearance-bench-portkey");
const PACKAGE = "@portkey-ai/gateway";
const HONO_NODE_SERVER = "1.13.5";

export interface Portkey {
  readonly url: string;
  readonly version: string;
  /** Where it actually listens, as reported from inside the process. */
  readonly listening: unknown;
  readonly pid: number | undefined;
  close(): Promise<void>;
}

const versionOf = (file: string): string | undefined =>
  existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version : undefined;

/** npm's run-script variables (npm_config_local_prefix above all) would point the install at the repo. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_(config_local_prefix|package_|lifecycle_|command)/.test(k)) env[k] = v;
  }
  return env;
}

/** Installs unless a usable install is already cached; returns the path of Portkey's package.json. */
async function install(): Promise<string> {
  const pkgJson = join(DIR, "node_modules", PACKAGE, "package.json");
  const honoJson = join(DIR, "node_modules", "@hono", "node-server", "package.json");
  if (existsSync(pkgJson) && versionOf(honoJson) === HONO_NODE_SERVER) return pkgJson;
  log(`installing ${PACKAGE} into ${DIR} (npm, up to 5 minutes)`);
  mkdirSync(DIR, { recursive: true });
  const manifest = {
    name: "clearance-bench-portkey",
    private: true,
    dependencies: { [PACKAGE]: "^1" },
    overrides: { "@hono/node-server": HONO_NODE_SERVER },
  };
  writeFileSync(join(DIR, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  await promisify(execFile)(
    npm,
    ["install", "--prefix", DIR, "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
    { cwd: DIR, env: cleanEnv(), timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
  );
  if (versionOf(honoJson) !== HONO_NODE_SERVER) {
    throw new Error(`@hono/node-server is ${versionOf(honoJson)}, not ${HONO_NODE_SERVER}, after install`);
  }
  return pkgJson;
}

/** A port free right now on loopback (Portkey takes a port number, not 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startPortkey(): Promise<Portkey> {
  const pkgJson = await install();
  const pkg = JSON.parse(readFileSync(pkgJson, "utf8")) as { version: string; bin?: unknown; main?: string };
  const bin = typeof pkg.bin === "string" ? pkg.bin : Object.values((pkg.bin ?? {}) as object)[0];
  const entry = join(dirname(pkgJson), String(bin ?? pkg.main));
  const port = await freePort();
  const proc = track(
    spawn(
      process.execPath,
      ["--import", pathToFileURL(sibling("gateway-loopback")).href, entry, `--port=${port}`, "--headless"],
      { cwd: DIR, env: cleanEnv(), stdio: ["ignore", "ignore", "pipe", "ipc"] },
    ),
  );
  let stderr = "";
  proc.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-2_000);
  });
  try {
    const { listening } = await firstMessage<{ listening: unknown }>(proc, "portkey", 60_000);
    const url = `http://127.0.0.1:${port}`;
    // It prints its banner after a one-second spinner; wait until it answers (at most ~30 s).
    for (let i = 0; ; i++) {
      const ok = await request(`${url}/`)
        .then(async (r) => (await r.body.text(), r.statusCode === 200))
        .catch(() => false);
      if (ok) break;
      if (i >= 150) throw new Error("portkey did not answer GET / within 30 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    return { url, version: pkg.version, listening, pid: proc.pid, close: () => stop(proc) };
  } catch (err) {
    await stop(proc);
    throw new Error(`${(err as Error).message}${stderr ? `; stderr: ${stderr.trim()}` : ""}`);
  }
}

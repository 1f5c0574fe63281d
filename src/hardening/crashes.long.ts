/**
 * Crashes (`npm run test:crashes`): `kill -9` of a gateway under load at random moments, again and
 * again (CLEARANCE_CRASHES, default 20), each followed by a restart and, against the log:
 * `clearance audit verify` with its state file (the checkpoint never goes backwards) and an
 * independent verifier in Python (src/hardening/independent-verify.py: signature, entry bundles,
 * RFC 6962 root); every request answered as allowed or denied has its entry (by request id), and
 * every admin change acknowledged to a caller is in the store and in the log. The same with two
 * nodes over one PostgreSQL, killing the node that integrates the shared log (the one up longest).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey, verifierKeyFromPrivateKey } from "../audit/note.js";
import { parsePrincipal } from "../policy/index.js";
import { openStore } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason as pgSkip } from "../testing/postgres.js";
import { write } from "./tally.js";
import { acknowledged, send, type Kind } from "./traffic.js";

const run = promisify(execFile);
/** The built CLI (npm run test:crashes builds it): a process starts in a fraction of tsx's time. */
const CLI = "dist/src/cli/main.js";
const CRASHES = Number(process.env.CLEARANCE_CRASHES ?? 20);
const TOKEN = "crash-admin-token-0123456789abcdefghij";
const ORIGIN = "crash.hardening/audit";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const children = new Set<ChildProcess>();
afterAll(() => children.forEach((c) => c.kill("SIGKILL")));

interface Node {
  readonly child: ChildProcess;
  readonly url: string;
  readonly dataDir: string;
  readonly startedAt: number;
}

function start(configFile: string, dataDir: string, env: NodeJS.ProcessEnv): Promise<Node> {
  const child = spawn(
    process.execPath,
    [CLI, "serve", "--config", configFile, "--data-dir", dataDir, "--port", "0"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env, CLEARANCE_ADMIN_TOKEN: TOKEN } },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  let stdout = "";
  return new Promise((ok, fail) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      stdout += c.toString();
      // The whole URL, to the space after it: a chunk may end inside it (its port cut short), and
      // a line of stderr come between its pieces (`out` holds both).
      const m = /gateway on (http:\/\/\S+) /.exec(stdout);
      if (m) ok({ child, url: m[1]!, dataDir, startedAt: Date.now() });
    });
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    child.once("exit", (code) => fail(new Error(`gateway exited (${code}): ${out.slice(-2000)}`)));
  });
}

async function kill(node: Node): Promise<void> {
  const exited = new Promise((r) => node.child.once("exit", r));
  node.child.kill("SIGKILL");
  await exited;
}

/** What the clients were told: request ids answered with a decision, and admin changes acknowledged. */
interface Acks {
  readonly requests: string[];
  readonly principals: string[];
  sent: number;
}

/** Traffic against `urls` until `stop()`: decisions of every kind, and principals created. */
function load(urls: () => string[], keys: ReadonlyMap<string, string>, acks: Acks) {
  let running = true;
  const kinds: Kind[] = ["allow", "deny", "fallback", "open"];
  let n = 0;
  const loop = async (i: number) => {
    for (let j = i; running; j++) {
      const list = urls();
      const url = list[j % list.length] as string;
      const o = await send(url, keys, kinds[j % kinds.length] as Kind, { timeoutMs: 5_000 });
      acks.sent++;
      if (acknowledged(o)) acks.requests.push(o.id as string);
      if (o.status === 0) await sleep(20);
    }
  };
  const admin = async () => {
    while (running) {
      const list = urls();
      const id = `crash-p-${process.pid}-${++n}`;
      const res = await fetch(`${list[n % list.length]}/admin/v1/principals`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ id, citizenships: [{ country: "US" }] }),
      }).catch(() => null);
      acks.sent++;
      if (res?.status === 201) acks.principals.push(id);
      else await sleep(20);
    }
  };
  const all = [...[0, 1, 2, 3, 4, 5].map(loop), admin()];
  return async () => {
    running = false;
    await Promise.all(all);
  };
}

interface Verified {
  readonly size: number;
}

/**
 * Against a running node: the CLI verifier (with the state file: the checkpoint extends the one
 * verified before), the Python verifier over the node's tiles, every acknowledged request and
 * admin change in the log, every acknowledged principal in the store.
 */
async function verify(
  node: Node,
  vkey: string,
  stateFile: string,
  acks: Acks,
  keys: ReadonlyMap<string, string>,
): Promise<Verified> {
  // A fresh checkpoint covering everything recovered: one more request, then a checkpoint round.
  await send(node.url, keys, "allow");
  await sleep(400);
  const cli = await run(
    process.execPath,
    [CLI, "audit", "verify", `${node.url}/audit`, "--key", vkey, "--state", stateFile, "--json"],
    { maxBuffer: 1 << 24 },
  ).catch((err: { stdout?: string; stderr?: string }) => ({
    stdout: err.stdout ?? "",
    stderr: err.stderr ?? "",
  }));
  const cliResult = JSON.parse(cli.stdout.trim().split("\n").at(-1) ?? "{}") as {
    ok?: boolean;
    error?: unknown;
  };
  expect(cliResult.ok, `clearance audit verify: ${cli.stdout} ${cli.stderr}`).toBe(true);
  const py = await run(
    "python3",
    ["src/hardening/independent-verify.py", join(node.dataDir, "audit"), vkey],
    {
      maxBuffer: 1 << 26,
    },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  const independent = JSON.parse(py.stdout) as {
    ok: boolean;
    error?: string;
    size: number;
    request_ids: string[];
    admin_objects: string[];
  };
  expect(independent.ok, `independent verifier: ${independent.error}`).toBe(true);
  const logged = new Set(independent.request_ids);
  const missing = acks.requests.filter((id) => !logged.has(id));
  expect(missing, "answered requests missing from the log").toEqual([]);
  const objects = new Set(independent.admin_objects);
  expect(
    acks.principals.filter((id) => !objects.has(`principal:${id}`)),
    "acknowledged changes missing from the log",
  ).toEqual([]);
  const stored = new Set<string>();
  for (let cursor: string | null = ""; cursor !== null;) {
    const res = await fetch(`${node.url}/admin/v1/principals?limit=500${cursor ? `&cursor=${cursor}` : ""}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const page = (await res.json()) as { data: { id: string }[]; next_cursor: string | null };
    for (const p of page.data) stored.add(p.id);
    cursor = page.next_cursor;
  }
  expect(
    acks.principals.filter((id) => !stored.has(id)),
    "acknowledged principals missing from the store",
  ).toEqual([]);
  return { size: independent.size };
}

function principals(): { id: string; json: unknown }[] {
  return readdirSync("examples/principals")
    .filter((f) => f.endsWith(".json"))
    .map((f) => {
      const json = JSON.parse(readFileSync(join("examples/principals", f), "utf8")) as { id: string };
      return { id: json.id, json };
    });
}

function config(dir: string, extra: string): string {
  const file = join(dir, "clearance.yaml");
  writeFileSync(
    file,
    `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\nproviders: { demo: { type: demo } }\n` +
      `default_provider: demo\nlocation: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }\n${extra}`,
  );
  return file;
}

describe("kill -9 under load", () => {
  it(`one embedded gateway, ${CRASHES} times`, { timeout: 1_800_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-crashes-"));
    const dataDir = join(dir, "data");
    const file = config(dir, `audit: { origin: ${ORIGIN}, checkpoint_ms: 100 }\n`);
    const store = await openStore({ dataDir });
    const keys = new Map<string, string>();
    for (const p of principals()) {
      await store.principals.put(parsePrincipal(p.json));
      keys.set(p.id, (await store.keys.create(p.id)).key);
    }
    await store.close();
    const acks: Acks = { requests: [], principals: [], sent: 0 };
    const stateFile = join(dir, "verify-state.json");
    let node = await start(file, dataDir, {});
    const vkey = readFileSync(join(dataDir, "audit.vkey"), "utf8").trim();
    const sizes: number[] = [];
    const started = Date.now();
    for (let i = 0; i < CRASHES; i++) {
      const stop = load(() => [node.url], keys, acks);
      await sleep(200 + Math.floor(Math.random() * 1300)); // a random moment
      await kill(node);
      await stop();
      node = await start(file, dataDir, {});
      sizes.push((await verify(node, vkey, stateFile, acks, keys)).size);
    }
    await kill(node);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeGreaterThanOrEqual(sizes[i - 1] as number);
    const line = {
      suite: "crashes",
      setup: "embedded",
      kills: CRASHES,
      requests: acks.sent,
      acknowledged_requests: acks.requests.length,
      acknowledged_changes: acks.principals.length,
      entries_lost: 0,
      final_log_size: sizes.at(-1),
      seconds: Math.round((Date.now() - started) / 1000),
    };
    write(line);
    console.log(
      `crashes embedded: ${CRASHES} kill -9, ${acks.sent} requests, ${acks.requests.length} answered decisions and ${acks.principals.length} acknowledged admin changes, ` +
        `0 missing; log ${sizes[0]} → ${sizes.at(-1)} entries, verified by clearance audit verify and the independent verifier after every restart; ${line.seconds} s`,
    );
  });

  describe.skipIf(pgSkip !== undefined)("two nodes over PostgreSQL", () => {
    afterAll(() => dropSchemas());
    it(`kills the integrator of the shared log, ${CRASHES} times`, { timeout: 1_800_000 }, async () => {
      const { url } = await freshSchema();
      const dir = mkdtempSync(join(tmpdir(), "clearance-crashes-pg-"));
      const AUDIT_KEY = generateKey(ORIGIN).privateKey;
      const vkey = verifierKeyFromPrivateKey(AUDIT_KEY);
      const env = { DATABASE_URL: url, AUDIT_KEY };
      const files = ["a", "b"].map((n) =>
        config(
          mkdtempSync(join(dir, `${n}-`)),
          `store: { driver: postgres }\naudit: { origin: ${ORIGIN}, node: node-${n}, key_env: AUDIT_KEY, checkpoint_ms: 100 }\nrefresh_ms: 100\n`,
        ),
      );
      const dataDirs = ["a", "b"].map((n) => join(dir, `data-${n}`));
      const nodes: Node[] = [await start(files[0]!, dataDirs[0]!, env)];
      nodes.push(await start(files[1]!, dataDirs[1]!, env));
      const keys = new Map<string, string>();
      for (const p of principals()) {
        const post = (path: string, body: unknown) =>
          fetch(`${nodes[0]!.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          }).then((r) => r.json() as Promise<{ key: string }>);
        await post("/admin/v1/principals", p.json);
        keys.set(p.id, (await post("/admin/v1/keys", { principal: p.id })).key);
      }
      const acks: Acks = { requests: [], principals: [], sent: 0 };
      const stateFile = join(dir, "verify-state.json");
      const sizes: number[] = [];
      const started = Date.now();
      for (let i = 0; i < CRASHES; i++) {
        const stop = load(() => nodes.map((n) => n.url), keys, acks);
        await sleep(300 + Math.floor(Math.random() * 1200));
        // The node up longest holds the integrator's seat (it took it first and keeps it).
        const victim = nodes[0]!.startedAt <= nodes[1]!.startedAt ? 0 : 1;
        await kill(nodes[victim]!);
        const survivor = nodes[1 - victim]!;
        nodes[victim] = survivor; // traffic goes to the survivor until the restart
        await stop();
        const restarted = await start(files[victim]!, dataDirs[victim]!, env);
        nodes[victim] = restarted;
        sizes.push((await verify(survivor, vkey, stateFile, acks, keys)).size);
        sizes.push((await verify(restarted, vkey, stateFile, acks, keys)).size);
      }
      for (const n of nodes) await kill(n);
      write({
        suite: "crashes",
        setup: "two nodes, PostgreSQL",
        kills: CRASHES,
        requests: acks.sent,
        acknowledged_requests: acks.requests.length,
        acknowledged_changes: acks.principals.length,
        entries_lost: 0,
        final_log_size: sizes.at(-1),
        seconds: Math.round((Date.now() - started) / 1000),
      });
      console.log(
        `crashes two PostgreSQL nodes: ${CRASHES} kill -9 of the integrator, ${acks.sent} requests, ${acks.requests.length} answered decisions and ${acks.principals.length} acknowledged admin changes, ` +
          `0 missing; shared log ${sizes[0]} → ${sizes.at(-1)} entries, both nodes verified after every restart; ${Math.round((Date.now() - started) / 1000)} s`,
      );
    });
  });
});

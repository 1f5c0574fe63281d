/**
 * Two gateway processes over one PostgreSQL write one audit log. Under load, the integrator (the
 * node started first) is killed with SIGKILL; the other node takes over signing, and
 * `clearance audit verify` — run before the kill against node A and after it against node B, with
 * one state file — passes over the whole history. Every answered request from either node is in the
 * log. Skipped without PostgreSQL.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parsePrincipal } from "../policy/index.js";
import { openStore } from "../store/index.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { writeKeyPair } from "./index.js";

if (skipReason !== undefined) console.warn(`src/audit/takeover.test.ts: SKIPPED, ${skipReason}`);

const ORIGIN = "takeover.test/audit";
const dir = mkdtempSync(join(tmpdir(), "clearance-takeover-"));
const keyFile = join(dir, "audit.key");
const children: ChildProcess[] = [];
afterAll(async () => {
  children.forEach((c) => c.kill("SIGKILL"));
  await dropSchemas();
});

const run = promisify(execFile);
const cli = (...args: string[]) =>
  [process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args]] as const;

function start(
  name: string,
  databaseUrl: string,
  key = keyFile,
): Promise<{ child: ChildProcess; url: string }> {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\n` +
      `data_dir: ${JSON.stringify(join(dir, name))}\nstore: { driver: postgres }\n` +
      `providers: { demo: { type: demo } }\ndefault_provider: demo\n` +
      `location: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }\n` +
      `audit: { origin: ${ORIGIN}, key_file: ${JSON.stringify(key)}, node: ${name}, checkpoint_ms: 100 }\n`,
  );
  const [node, args] = cli("serve", "--config", config, "--port", "0");
  const child = spawn(node, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DATABASE_URL: databaseUrl },
  });
  children.push(child);
  let out = "";
  return new Promise((done, fail) => {
    const take = (c: Buffer) => {
      out += c.toString();
      const m = /gateway on (http:\/\/\S+)/.exec(out);
      if (m) done({ child, url: m[1]! });
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.once("exit", (code) => fail(new Error(`${name} exited (${code}): ${out}`)));
  });
}

async function verify(url: string, state: string) {
  const [node, args] = cli(
    "audit",
    "verify",
    `${url}/audit`,
    "--key",
    `@${keyFile.replace(/\.key$/, ".vkey")}`,
    "--origin",
    ORIGIN,
    "--state",
    state,
    "--json",
  );
  const { stdout } = await run(node, args);
  return JSON.parse(stdout) as { ok: boolean; size: string; previous?: { size: string } };
}

describe.skipIf(skipReason !== undefined)("integrator takeover", () => {
  it(
    "a node with another signing key refuses to start, says why, and exits",
    { timeout: 60_000 },
    async () => {
      const { url: databaseUrl } = await freshSchema();
      const theirs = join(dir, "theirs.key");
      writeKeyPair(theirs, ORIGIN);
      const first = await start("first", databaseUrl, theirs);
      const [node, args] = cli("serve", "--config", join(dir, "second.yaml"), "--port", "0");
      writeFileSync(
        join(dir, "second.yaml"),
        readFileSync(join(dir, "first.yaml"), "utf8")
          .replaceAll(theirs, join(dir, "second.key"))
          .replaceAll("first", "second"),
      );
      writeKeyPair(join(dir, "second.key"), ORIGIN);
      const failed = await run(node, args, { env: { ...process.env, DATABASE_URL: databaseUrl } }).then(
        () => null,
        (err: { code: number; stderr: string }) => err,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toMatch(
        /^clearance: this database's audit log is takeover\.test\/audit, signed by .*every node must use the same origin and signing key/,
      );
      first.child.kill("SIGKILL");
    },
  );

  it(
    "kill -9 of the integrator under load: the other node signs on, and the whole history verifies",
    { timeout: 90_000 },
    async () => {
      const { url: databaseUrl, schema } = await freshSchema();
      writeKeyPair(keyFile, ORIGIN);
      const store = await openStore({ driver: "postgres", dataDir: "(unused)", url: databaseUrl });
      const keys = new Map<string, string>();
      for (const file of ["us-engineer.json", "cn-ca-engineer.json"]) {
        const p = parsePrincipal(JSON.parse(readFileSync(join("examples/principals", file), "utf8")));
        await store.principals.put(p);
        keys.set(p.id, (await store.keys.create(p.id)).key);
      }
      await store.close();

      const a = await start("node-a", databaseUrl);
      const b = await start("node-b", databaseUrl);
      const answered: string[] = [];
      let running = true;
      const load = async (url: string, principal: string, country: string) => {
        while (running) {
          try {
            const res = await fetch(`${url}/v1/chat/completions`, {
              method: "POST",
              headers: {
                authorization: `Bearer ${keys.get(principal)}`,
                "content-type": "application/json",
                "x-test-country": country,
              },
              body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
            });
            await res.text();
            if (res.status === 200 || res.status === 403)
              answered.push(res.headers.get("x-clearance-request-id")!);
          } catch {
            return; // the node is gone
          }
        }
      };
      const loads = [a.url, b.url].flatMap((url) => [
        load(url, "alice", "US"),
        load(url, "feng", "IR"),
        load(url, "alice", "US"),
      ]);
      // Under load for a while (counted in answers, not guessed from a time), A having signed some.
      const WAIT = { timeout: 60_000, interval: 50 };
      const signed = async (url: string) =>
        Number((await (await fetch(`${url}/audit/checkpoint`)).text()).split("\n")[1]);
      await vi.waitFor(() => expect(answered.length, "requests answered").toBeGreaterThanOrEqual(30), WAIT);
      await vi.waitFor(
        async () => expect(await signed(a.url), "node A's checkpoint").toBeGreaterThan(0),
        WAIT,
      );
      const state = join(dir, "verify-state.json");
      const first = await verify(a.url, state);
      expect(first.ok).toBe(true);

      a.child.kill("SIGKILL");
      // The load goes on on B (A's loaders stop at their next request): 30 more answered.
      const atKill = answered.length;
      await vi.waitFor(
        () => expect(answered.length, "requests answered since the kill").toBeGreaterThanOrEqual(atKill + 30),
        WAIT,
      );
      running = false;
      await Promise.all(loads);

      // Node B signs from now on: wait for its checkpoint to cover everything committed.
      const total = async () =>
        Number(
          (await adminPool().query<{ n: string }>(`SELECT size::text AS n FROM ${schema}.audit_head`)).rows[0]
            ?.n,
        );
      const committed = await total();
      await vi.waitFor(
        async () => expect(await signed(b.url), "node B's checkpoint").toBeGreaterThanOrEqual(committed),
        WAIT,
      );
      const second = await verify(b.url, state);
      expect(second.ok).toBe(true);
      expect(Number(second.size)).toBe(committed);
      expect(second.previous?.size).toBe(first.size);

      const signers = await adminPool().query<{ node: string }>(
        `SELECT node, max(size) FROM ${schema}.audit_checkpoints GROUP BY node ORDER BY max(size)`,
      );
      expect(signers.rows.map((r) => r.node)).toEqual(["node-a", "node-b"]);
      const logged = new Set(
        (await adminPool().query<{ entry: Buffer }>(`SELECT entry FROM ${schema}.audit_entries`)).rows.map(
          (r) => (JSON.parse(r.entry.toString()) as { request_id?: string }).request_id,
        ),
      );
      expect(answered.length).toBeGreaterThan(50);
      expect(answered.filter((id) => !logged.has(id))).toEqual([]);
    },
  );
});

/**
 * Crash test: kill -9 the gateway under load, restart it on the same data directory. Every request
 * that got a response has its entry, the log verifies, and the new checkpoint is consistent with
 * the last one published before the crash.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parsePrincipal } from "../policy/index.js";
import { openStore } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { openCheckpoint } from "./checkpoint.js";
import { parseVerifierKey } from "./note.js";
import { directorySource } from "./source.js";
import { decodeBundle, tilePath } from "./tiles.js";
import { verifyLog } from "./verify.js";

const ORIGIN = "crash.test/audit";
const dir = mkdtempSync(join(tmpdir(), "clearance-crash-"));
const dataDir = join(dir, "data");
const configFile = join(dir, "clearance.yaml");
const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill("SIGKILL")));

function start(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "serve", "--config", configFile, "--port", "0"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let out = "";
  return new Promise((resolvePromise, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /gateway on (http:\/\/\S+)/.exec(out);
      if (m) resolvePromise({ child, url: m[1]! });
    });
    child.once("exit", (code) => reject(new Error(`gateway exited (${code}): ${out}`)));
  });
}

describe("crash safety", () => {
  it(
    "kill -9 under load loses no answered request and keeps the history consistent",
    { timeout: 60_000 },
    async () => {
      const scheme = resolve("examples/g7-trusted-partners.yaml");
      writeFileSync(
        configFile,
        `scheme: ${JSON.stringify(scheme)}\ndata_dir: ${JSON.stringify(dataDir)}\nproviders: { demo: { type: demo } }\n` +
          `default_provider: demo\nlocation: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }\n` +
          `audit: { origin: ${ORIGIN}, checkpoint_ms: 100 }\n`,
      );
      const store = await openStore({ dataDir });
      const keys = new Map<string, string>();
      for (const file of ["us-engineer.json", "cn-ca-engineer.json"]) {
        const p = parsePrincipal(JSON.parse(readFileSync(join("examples/principals", file), "utf8")));
        await store.principals.put(p);
        keys.set(p.id, (await store.keys.create(p.id)).key);
      }
      await store.close();

      const { child, url } = await start();
      const answered: string[] = [];
      let lastSeen = "";
      let running = true;
      const loop = async (principal: string, country: string) => {
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
            await res.text(); // a response counts once it was received whole
            answered.push(res.headers.get("x-clearance-request-id")!);
          } catch {
            return; // the gateway is gone
          }
        }
      };
      const watch = async () => {
        while (running) {
          const res = await fetch(`${url}/audit/checkpoint`).catch(() => null);
          if (res?.ok) lastSeen = await res.text();
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const loops = [
        ...Array.from({ length: 6 }, () => loop("alice", "US")),
        ...Array.from({ length: 6 }, () => loop("feng", "IR")),
        watch(),
      ];
      // Killed once enough answers are in (not after a fixed time: a loaded machine answers slowly).
      await eventually(
        async () => answered.length,
        (n) => n > 100,
      );
      // Restarted once it is gone: its data directory is the next gateway's only then.
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      running = false;
      await Promise.all(loops);
      await gone;
      expect(answered.length).toBeGreaterThan(100);
      expect(lastSeen).not.toBe("");

      const restarted = await start();
      const verifierKey = readFileSync(join(dataDir, "audit.vkey"), "utf8").trim();
      const before = openCheckpoint(lastSeen, parseVerifierKey(verifierKey), ORIGIN).checkpoint;
      restarted.child.kill("SIGTERM");
      await new Promise((r) => restarted.child.once("exit", r));

      const result = await verifyLog(directorySource(join(dataDir, "audit")), {
        verifierKey,
        origin: ORIGIN,
        state: { size: before.size, root: before.root },
      });
      expect(result.checkpoint.size).toBeGreaterThanOrEqual(before.size);
      expect(result.previous?.size).toBe(before.size);

      const logged = new Set<string>();
      const size = result.checkpoint.size;
      for (let i = 0n; i * 256n < size; i++) {
        const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
        const bundle = readFileSync(join(dataDir, "audit", tilePath({ level: "entries", index: i, width })));
        for (const e of decodeBundle(bundle, width))
          logged.add((JSON.parse(e.toString()) as { request_id: string }).request_id);
      }
      expect(answered.filter((id) => !logged.has(id))).toEqual([]);
      expect(readdirSync(join(dataDir, "audit")).includes("checkpoint")).toBe(true);
    },
  );
});

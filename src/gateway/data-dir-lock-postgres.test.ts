/**
 * One gateway per data directory over a PostgreSQL store too: each node rebuilds its copy of the
 * shared audit log (`<data_dir>/audit`) at start, so a second node on the directory (even with its
 * own `audit.node`) would delete the first's under it, whose tile writes then fail. The second is
 * refused as `data_dir_in_use` at start, naming the first, before it changes or makes anything (its
 * usage journal's lock is taken after the data directory's); the first's copy is as it was, and it
 * serves and writes tiles on. Before, the second started.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey } from "../audit/note.js";
import { parseConfig } from "../config/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { discard } from "../testing/gateway.js";
import { startGateway, type RunningGateway } from "./server.js";

const root = mkdtempSync(join(tmpdir(), "clearance-lock-pg-"));
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (skipReason === undefined) await dropSchemas();
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Every file under `dir` with its contents. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[path] = readFileSync(path, "base64");
    }
  return out;
}

if (skipReason !== undefined) console.warn(`data directory lock on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("two nodes of one PostgreSQL store on one data directory", () => {
  it("the second (another audit.node) is refused at start, naming the first; the first's copy of the log is untouched and grows", async () => {
    const { url } = await freshSchema();
    const dataDir = join(root, "shared");
    const AUDIT_KEY = generateKey("clearance.local/audit").privateKey;
    const start = (node: string) =>
      startGateway(
        parseConfig(
          `scheme: g7-trusted-partners.yaml
store: { driver: postgres }
listen: { host: 127.0.0.1, port: 0 }
providers: { demo: { type: demo } }
default_provider: demo
audit: { node: ${node}, key_env: AUDIT_KEY }
monitoring: { alerts: { enabled: false } }
`,
          join("examples", `${node}.yaml`),
          { DATABASE_URL: url, CLEARANCE_ADMIN_TOKEN: "lock-test-admin-token-0123456789abcdef", AUDIT_KEY },
        ),
        { dataDir, log: () => {}, accessLog: discard() },
      );
    const first = await start("node-a");
    let second: RunningGateway | undefined;
    try {
      await first.audit.log.append(Buffer.from('{"type":"test"}'));
      await first.audit.log.publish();
      const mirror = join(dataDir, "audit");
      const before = files(mirror);
      expect(Object.keys(before).some((f) => f.includes("tile"))).toBe(true);
      const journals = join(dataDir, "usage-journal");
      const journalsBefore = readdirSync(journals).sort();

      const refused = start("node-b").then((g) => {
        second = g; // before: it started, and rebuilt the copy of the log under the first
        return g;
      });
      await expect(refused).rejects.toMatchObject({
        kind: "conflict",
        code: "data_dir_in_use",
        message: expect.stringMatching(
          new RegExp(
            `^another gateway \\(pid ${process.pid} on ${escape(hostname())}, started [^)]+\\) is running on the data directory ${escape(dataDir)}: ` +
              "each node of a PostgreSQL store needs a data directory of its own: its copy of the audit log",
          ),
        ) as unknown,
      });
      expect(files(mirror)).toEqual(before);
      // Nothing made: before, its journal's lock (usage-journal/node-node-b.lock), taken first, was left.
      expect(readdirSync(journals).sort()).toEqual(journalsBefore);

      // The first writes tiles on, and serves them.
      const size = await first.audit.log.append(Buffer.from('{"type":"test"}'));
      await first.audit.log.publish();
      const checkpoint = await fetch(`${first.url}/audit/checkpoint`);
      expect(checkpoint.status).toBe(200);
      expect((await checkpoint.text()).split("\n")[1]).toBe(String(size + 1n));
      expect(Object.keys(files(mirror)).length).toBeGreaterThan(Object.keys(before).length);
    } finally {
      await second?.close();
      await first.close();
    }
    // Let go at its stop: the other node starts there.
    const next = await start("node-b");
    await next.close();
  }, 60_000);
});

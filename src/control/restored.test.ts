/**
 * A store restored from a backup older than the audit log: the log proves changes (a revoked key)
 * the store no longer holds. The node refuses to serve from it, at start-up and on a reload.
 * Real SQLite files, a real backup (SQLite's online backup API) and real gateways.
 */
import { copyFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { AuditLog } from "../audit/log.js";
import { parseConfig } from "../config/index.js";
import { startGateway } from "../gateway/server.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { chat, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, discard, startTestGateway, type TestGateway } from "../testing/gateway.js";

/** A copy of the live store, taken while the gateway runs (as a backup job would). */
async function backUp(dataDir: string): Promise<string> {
  const copy = join(mkdtempSync(join(tmpdir(), "clearance-backup-")), DB_FILE);
  const db = new Database(join(dataDir, DB_FILE), { readonly: true });
  await db.backup(copy);
  db.close();
  return copy;
}

/** Revokes alice's key and waits until the revocation is in force and in the audit log. */
async function revokeAlice(t: TestGateway): Promise<number> {
  const [key] = await t.gateway.store.keys.list("alice");
  await t.gateway.store.keys.revoke(key!.id, "admin");
  await t.gateway.snapshot.refresh(); // reloads, then drains the change into the log
  expect((await chat(t.url, t.keys.get("alice")!, "US")).status).toBe(401);
  return (t.gateway.audit.log as AuditLog).mark;
}

describe("a store older than its audit log (restored from a backup)", () => {
  it("is refused at start-up, naming both change numbers and the way out", async () => {
    const t = await startTestGateway();
    const backup = await backUp(t.dataDir);
    const logged = await revokeAlice(t);
    const latest = logged - 1; // the backup's latest change: all but the revocation
    await t.gateway.close();
    await t.gateway.store.close();
    // The operator restores last night's backup and starts the gateway again.
    for (const f of ["-wal", "-shm"]) expect(existsSync(join(t.dataDir, DB_FILE + f))).toBe(false);
    copyFileSync(backup, join(t.dataDir, DB_FILE));
    const config = parseConfig(
      `scheme: g7-trusted-partners.yaml
listen: { host: 127.0.0.1, port: 0 }
providers: { demo: { type: demo } }
default_provider: demo
models: { mythos-5: { provider: demo } }
location: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }
monitoring: { alerts: { enabled: false } }
`,
      join("examples", "test-clearance.yaml"),
      { CLEARANCE_ADMIN_TOKEN: ADMIN_TOKEN },
    );
    const started = startGateway(config, { dataDir: t.dataDir, log: () => {}, accessLog: discard() });
    await expect(started).rejects.toMatchObject({
      code: "store_behind_log",
      message: expect.stringMatching(
        new RegExp(`latest change is ${latest}.*audit log holds changes up to ${logged}.*restore`),
      ) as unknown,
    });
  });

  it("is refused on a reload: the state before stays, then ages into policy_unconfirmed; /readyz says why", async () => {
    const t = await startTestGateway({ extra: "freshness_ms: 300" });
    const backup = await backUp(t.dataDir);
    const logged = await revokeAlice(t);
    // Restored under the running gateway, through SQLite (as `sqlite3 clearance.db .restore` does).
    const old = new Database(backup, { readonly: true });
    await old.backup(join(t.dataDir, DB_FILE));
    old.close();
    await t.gateway.snapshot.refresh();
    expect(t.gateway.snapshot.lastFailure).toMatchObject({ code: "store_behind_log" });
    expect(t.gateway.snapshot.lastFailure?.message).toContain(`up to ${logged}`);
    // The revocation the log proves stays in force.
    expect((await chat(t.url, t.keys.get("alice")!, "US")).status).toBe(401);
    // And, unconfirmed past freshness_ms, controlled models are refused.
    const ready = await eventually(
      () => fetch(`${t.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
      (r) => r.status === 503,
      200,
    );
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reload: object }).reload).toMatchObject({ code: "store_behind_log" });
    const refused = await chat(t.url, t.keys.get("benoit")!, "US");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("x-clearance-reason")).toBe("policy_unconfirmed");
    await t.gateway.close();
    await t.gateway.store.close();
  });
});

/**
 * A store restored from a backup older than the audit log: the log proves changes (a revoked key)
 * the store no longer holds. The node refuses to serve from it, at start-up and on a reload. And
 * the reverse: an audit log older than its store, which lost entries it had proven.
 * Real SQLite files, a real backup (SQLite's online backup API) and real gateways.
 */
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { OutboxDrainer } from "../audit/index.js";
import type { AuditLog } from "../audit/log.js";
import { parseConfig } from "../config/index.js";
import { startGateway, type RunningGateway } from "../gateway/server.js";
import { openStore, type Store } from "../store/index.js";
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

/** The audit log's files (audit.wal, its restore point, audit/), as a backup of the stopped node holds them. */
const logFiles = (dataDir: string) =>
  readdirSync(dataDir).filter((f) => f.startsWith("audit") && !/\.v?key$/.test(f));

function backUpLog(dataDir: string): string {
  const copy = mkdtempSync(join(tmpdir(), "clearance-log-backup-"));
  for (const f of logFiles(dataDir)) cpSync(join(dataDir, f), join(copy, f), { recursive: true });
  return copy;
}

/** The log's files replaced by the backup's. */
function restoreLog(dataDir: string, backup: string): void {
  for (const f of logFiles(dataDir)) rmSync(join(dataDir, f), { recursive: true });
  for (const f of logFiles(backup)) cpSync(join(backup, f), join(dataDir, f), { recursive: true });
}

/** The gateway started again on `dataDir` (as an operator would, with the store it finds there). */
function startAgain(dataDir: string, log: (line: string) => void = () => {}): Promise<RunningGateway> {
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
  return startGateway(config, { dataDir, log, accessLog: discard() });
}

async function stop(t: TestGateway | RunningGateway): Promise<void> {
  const g = "gateway" in t ? t.gateway : t;
  await g.close();
  await g.store.close();
}

/** Revokes benoit's key on the store as it is now (the CLI, or the admin API), without a gateway reload. */
async function revokeBenoit(store: Store): Promise<void> {
  const [key] = await store.keys.list("benoit");
  await store.keys.revoke(key!.id, "admin");
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
    await stop(t);
    // The operator restores last night's backup and starts the gateway again.
    for (const f of ["-wal", "-shm"]) expect(existsSync(join(t.dataDir, DB_FILE + f))).toBe(false);
    copyFileSync(backup, join(t.dataDir, DB_FILE));
    await expect(startAgain(t.dataDir)).rejects.toMatchObject({
      code: "store_behind_log",
      message: expect.stringMatching(
        new RegExp(`changes only up to ${latest}.*audit log holds changes up to ${logged}.*restore`, "i"),
      ) as unknown,
    });
  });

  it("is refused at start-up once it has numbered a new change as the log's latest; the change is kept, not dropped", async () => {
    const t = await startTestGateway();
    const backup = await backUp(t.dataDir);
    const logged = await revokeAlice(t);
    await stop(t);
    copyFileSync(backup, join(t.dataDir, DB_FILE));
    // With no gateway running, benoit's key is revoked on the restored store: its change number is
    // the one the log holds for alice's revocation.
    const cli = await openStore({ dataDir: t.dataDir });
    await revokeBenoit(cli);
    expect((await cli.outbox.list(0, 10)).map((r) => [r.id, r.action])).toEqual([[logged, "key.revoke"]]);
    await cli.close();
    await expect(startAgain(t.dataDir)).rejects.toMatchObject({
      code: "store_behind_log",
      message: expect.stringMatching(
        new RegExp(`change ${logged} is not the change the audit log holds under ${logged}.*restore`, "i"),
      ) as unknown,
    });
    // Benoit's revocation waits in the outbox, neither logged nor deleted.
    const after = await openStore({ dataDir: t.dataDir });
    expect((await after.outbox.list(0, 10)).map((r) => r.object.id)).toEqual([
      (await after.keys.list("benoit"))[0]!.id,
    ]);
    await after.close();
  });

  it("starts as usual with a change a crash left in the outbox after logging it, and skips it", async () => {
    const t = await startTestGateway();
    const [key] = await t.gateway.store.keys.list("alice");
    await t.gateway.store.keys.revoke(key!.id, "admin");
    const logged = (await t.gateway.store.outbox.list(0, 10)).at(-1)!.id;
    // The store as a crash would leave it: alice's revocation committed, not yet drained.
    const leftover = await backUp(t.dataDir);
    await t.gateway.snapshot.refresh(); // drained into the log now
    await stop(t);
    copyFileSync(leftover, join(t.dataDir, DB_FILE));
    const g = await startAgain(t.dataDir);
    expect(await g.store.outbox.list(0, 10)).toEqual([]);
    expect((g.audit.log as AuditLog).mark).toBe(logged); // not logged twice
    expect((await g.store.outbox.position(logged)).drained).toMatchObject({ change: logged });
    expect((await chat(g.url, t.keys.get("alice")!, "US")).status).toBe(401);
    await stop(g);
  });

  it("a store from before its position was recorded starts as before, and is given the log's", async () => {
    const t = await startTestGateway();
    const logged = await revokeAlice(t);
    await stop(t);
    const db = new Database(join(t.dataDir, DB_FILE));
    // The store as release 11 left it: without the position (11), nor anything later (12 on).
    db.exec(
      "DROP TABLE audit_drained; ALTER TABLE screening_lists DROP COLUMN rescreen_due; " +
        "DROP INDEX alerts_due_heads; DROP INDEX alerts_pending_by_subject; " +
        "ALTER TABLE alerts DROP COLUMN delivery_held; " +
        "CREATE INDEX alerts_due ON alerts (delivery_state, next_delivery_at); " +
        "DROP INDEX principals_by_organization; DROP INDEX principals_by_id_folded; " +
        "DROP INDEX principals_by_name_folded; ALTER TABLE principals DROP COLUMN organization_id; " +
        "ALTER TABLE principals DROP COLUMN id_folded; ALTER TABLE principals DROP COLUMN name_folded; " +
        "DROP INDEX api_keys_by_principal_id; DROP INDEX api_keys_live; DROP INDEX api_keys_revoked; " +
        "DROP INDEX usage_daily_by_organization; DROP INDEX usage_daily_by_license; " +
        "DROP INDEX alerts_by_rank; DROP INDEX alerts_by_severity; ALTER TABLE alerts DROP COLUMN severity_rank; " +
        "DROP TRIGGER usage_totals_insert; DROP TRIGGER usage_totals_update; " +
        "DROP TRIGGER usage_totals_rekey; DROP TRIGGER usage_totals_delete; DROP TABLE usage_totals; " +
        "DROP TABLE usage_journal; " +
        "DELETE FROM schema_migrations WHERE version >= 11",
    );
    db.close();
    const g = await startAgain(t.dataDir);
    expect((await g.store.outbox.position(logged)).drained).toMatchObject({ change: logged });
    expect((await chat(g.url, t.keys.get("alice")!, "US")).status).toBe(401);
    await stop(g);
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
    );
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reload: object }).reload).toMatchObject({ code: "store_behind_log" });
    const refused = await chat(t.url, t.keys.get("benoit")!, "US");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("x-clearance-reason")).toBe("policy_unconfirmed");
    await stop(t);
  });

  it("is refused while running once it has numbered a new change as the log's latest (its version level with the snapshot's)", async () => {
    const t = await startTestGateway({ extra: "freshness_ms: 300" });
    const backup = await backUp(t.dataDir);
    const logged = await revokeAlice(t);
    const old = new Database(backup, { readonly: true });
    await old.backup(join(t.dataDir, DB_FILE));
    old.close();
    await revokeBenoit(t.gateway.store);
    expect(await t.gateway.store.version()).toBe(t.gateway.snapshot.current.version);
    await t.gateway.snapshot.refresh();
    expect(t.gateway.snapshot.lastFailure).toMatchObject({ code: "store_behind_log" });
    expect(t.gateway.snapshot.lastFailure?.message).toContain(`change ${logged} is not the change`);
    // Not served from: unconfirmed past freshness_ms, controlled models are refused, benoit's too.
    const refused = await eventually(
      () => chat(t.url, t.keys.get("benoit")!, "US"),
      (r) => r.status === 503,
    );
    expect(refused.headers.get("x-clearance-reason")).toBe("policy_unconfirmed");
    expect((await chat(t.url, t.keys.get("alice")!, "US")).status).not.toBe(200);
    // Benoit's revocation is neither logged nor dropped: it waits in the outbox.
    expect((t.gateway.audit.log as AuditLog).mark).toBe(logged);
    expect((await t.gateway.store.outbox.list(0, 10)).map((r) => [r.id, r.action])).toEqual([
      [logged, "key.revoke"],
    ]);
    // Closing drains the outbox a last time: refused too, nothing logged — and the steps after the
    // drain still run (the store is closed, not left open by the failure).
    await expect(t.gateway.close()).rejects.toThrow(`a change numbered ${logged} that is not the change`);
    await expect(t.gateway.store.version()).rejects.toThrow("the store is closed");
  });
});

describe("an audit log older than its store (restored from a backup, or replaced)", () => {
  /** Revokes benoit's key on a running gateway and waits until it is in the audit log. */
  async function revokeBenoitLogged(g: RunningGateway): Promise<number> {
    await revokeBenoit(g.store);
    await g.snapshot.refresh();
    await g.audit.drainer.drain();
    return (g.audit.drainer as OutboxDrainer).change;
  }

  it("is refused at start-up, naming both positions and the way out; the store is left as it was", async () => {
    const t = await startTestGateway();
    const older = await revokeAlice(t);
    await stop(t);
    const backup = backUpLog(t.dataDir);
    const g = await startAgain(t.dataDir);
    const drained = await revokeBenoitLogged(g);
    expect(drained).toBeGreaterThan(older);
    await stop(g);
    // The operator restores last night's audit log beside today's store.
    restoreLog(t.dataDir, backup);
    await expect(startAgain(t.dataDir)).rejects.toMatchObject({
      code: "log_behind_store",
      message: expect.stringMatching(
        new RegExp(
          `up to change ${drained}.*only up to ${older}.*same date as the store.*new, empty log`,
          "i",
        ),
      ) as unknown,
    });
    const store = await openStore({ dataDir: t.dataDir });
    expect((await store.outbox.position(drained)).drained).toMatchObject({ change: drained });
    await store.close();
  });

  it("is refused on a poll when the store put under a running node has drained past its log", async () => {
    const t = await startTestGateway();
    const older = await revokeAlice(t);
    const oldStore = await backUp(t.dataDir);
    await stop(t);
    const oldLog = backUpLog(t.dataDir);
    const g = await startAgain(t.dataDir);
    const drained = await revokeBenoitLogged(g);
    await stop(g);
    const newStore = await backUp(t.dataDir);
    // Last night's store and log together: a pair of the same date, served from as usual.
    copyFileSync(oldStore, join(t.dataDir, DB_FILE));
    restoreLog(t.dataDir, oldLog);
    const running = await startAgain(t.dataDir);
    expect((running.audit.log as AuditLog).mark).toBe(older);
    // Today's store is put back under it, through SQLite: the log lacks what that store drained.
    const db = new Database(newStore, { readonly: true });
    await db.backup(join(t.dataDir, DB_FILE));
    db.close();
    await running.snapshot.refresh();
    expect(running.snapshot.lastFailure).toMatchObject({ code: "log_behind_store" });
    expect(running.snapshot.lastFailure?.message).toContain(`up to change ${drained}`);
    // A change made meanwhile (the admin API drains it at once) is not logged past the gap — which
    // would bring the log's number level with the store's again — nor dropped: it waits in the outbox.
    const [key] = await running.store.keys.list("chloe");
    await running.store.keys.revoke(key!.id, "admin");
    const refused = `has drained admin changes into the audit log up to change ${drained}, but the audit log`;
    await expect(running.audit.drainer.drain()).rejects.toThrow(refused);
    expect((running.audit.drainer as OutboxDrainer).change).toBe(older);
    expect((await running.store.outbox.list(0, 10)).map((r) => [r.id, r.action])).toEqual([
      [drained + 1, "key.revoke"],
    ]);
    await expect(running.close()).rejects.toThrow(refused);
  });

  it("a new, empty log started on purpose (the old one moved aside) is accepted, and after a restart too", async () => {
    const t = await startTestGateway();
    await revokeAlice(t);
    await stop(t);
    // The store and the signing key, without the log, as moving the log aside leaves them (in a new
    // directory: this process remembers the directories it made, and would not make them again).
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-new-log-"));
    for (const f of readdirSync(t.dataDir).filter((f) => !logFiles(t.dataDir).includes(f)))
      cpSync(join(t.dataDir, f), join(dataDir, f), { recursive: true });
    const said: string[] = [];
    const g = await startAgain(dataDir, (line) => said.push(line));
    // Said: a log moved aside by mistake looks the same, and the store's record of the old one goes.
    expect(said.join("\n")).toMatch(/audit log is new \(empty\), but the store had drained admin change \d+/);
    // The store's position set back to the new log's (none), so a log with decisions and no admin
    // change yet is not taken for an older one at the next start.
    expect((await g.store.outbox.position(0)).drained).toMatchObject({ change: 0 });
    expect((await chat(g.url, t.keys.get("alice")!, "US")).status).toBe(401);
    expect((await chat(g.url, t.keys.get("benoit")!, "US")).status).toBe(200); // a decision logged
    await stop(g);
    const again = await startAgain(dataDir);
    expect((again.audit.log as AuditLog).size).toBeGreaterThan(0n);
    await stop(again);
  });
});

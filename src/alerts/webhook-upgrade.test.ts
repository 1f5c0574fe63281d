/**
 * A rolling upgrade to migration 13: a node of the release before it delivers a subject's alert
 * without letting the subject's next one (held) go. The deliverer gives such a subject its head
 * again — at start, and on a later round — so its held alerts reach the receiver, in order.
 */
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { deliveredAt } from "../store/alerts.js";
import { openStore, type Store } from "../store/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { eventually } from "../testing/admin.js";
import { WebhookDeliverer } from "./webhook.js";

let dataDir: string;
let store: Store;
let receiver: Server;
let url: string;
/** The summaries the receiver was posted, in order. */
const got: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "clearance-webhook-upgrade-"));
  store = await openStore({ dataDir });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push((JSON.parse(body) as { alert: { summary: string } }).alert.summary);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  receiver.closeAllConnections();
  receiver.close();
  await store.close();
});

const raise = (summary: string, subject: string, at: number) =>
  store.alerts.raise(
    {
      dedupeKey: summary,
      detector: "embargoed-attempt",
      severity: "high",
      subject: { kind: "principal", id: subject },
      summary,
      evidence: { audit_indexes: [], details: {} },
      raisedAt: new Date(at).toISOString(),
      deliver: true,
    },
    "detector:embargoed-attempt",
  );

/** A node of the old release claims the subject's head and delivers it: its write, its columns only. */
async function deliveredByOldRelease(): Promise<string> {
  const [head] = await store.alerts.due(
    new Date().toISOString(),
    new Date(Date.now() + 60_000).toISOString(),
    1,
  );
  const a = deliveredAt(head!, new Date().toISOString());
  const old = new Database(join(dataDir, DB_FILE));
  try {
    old
      .prepare(
        "UPDATE alerts SET state = ?, delivery_state = ?, next_delivery_at = ?, response_state = ?, document = ? WHERE id = ?",
      )
      .run(a.state, a.delivery.state, a.delivery.next_at, null, JSON.stringify(a), a.id);
  } finally {
    old.close();
  }
  return a.summary;
}

it("delivers a subject's held alerts after a node of the release before migration 13 delivered its head", async () => {
  const t = Date.now() - 10_000;
  for (let i = 1; i <= 3; i++) await raise(`p-${i}`, "p", t + i);
  // Before this node starts: p-1 delivered by the old node, p-2 and p-3 held behind nothing.
  expect(await deliveredByOldRelease()).toBe("p-1");
  const failures: unknown[] = [];
  // While paused this node claims nothing (the old node's turn): no race with its rounds.
  let paused = false;
  const alerts = {
    ...store.alerts,
    due: (...args: Parameters<Store["alerts"]["due"]>) =>
      paused ? Promise.resolve([]) : store.alerts.due(...args),
  };
  const deliverer = new WebhookDeliverer({
    url,
    secret: "whsec-test",
    timeoutMs: 2_000,
    retryMs: 100,
    maxRetryMs: 100,
    store: alerts,
    onFailure: (err) => failures.push(err),
    // No polling: kicks stand in for it.
    pollMs: 3_600_000,
    restoreMs: 200,
  });
  /** Kicks (for the poll) until `n` alerts have been delivered: bounded by the test, not a count of kicks. */
  const kickUntil = (n: number) =>
    eventually(
      async () => {
        deliverer.kick();
        return [...got];
      },
      (delivered) => delivered.length >= n,
    );
  try {
    // At start.
    deliverer.start();
    await kickUntil(2);
    expect(got).toEqual(["p-2", "p-3"]);
    // While running: q-1 delivered by the old node, q-2 and q-3 go on a later round.
    paused = true;
    for (let i = 1; i <= 3; i++) await raise(`q-${i}`, "q", t + 10 + i);
    expect(await deliveredByOldRelease()).toBe("q-1");
    paused = false;
    await kickUntil(4);
    expect(got).toEqual(["p-2", "p-3", "q-2", "q-3"]);
    await eventually(
      async () => (await store.alerts.list()).filter((a) => a.delivery.state === "delivered").length,
      (n) => n === 6,
    );
    expect(failures).toEqual([]);
  } finally {
    await deliverer.close();
  }
});

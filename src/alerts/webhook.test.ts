/**
 * Webhook delivery against a receiver that answers and then trickles its body: only the status is
 * read, so such a receiver has its alert delivered and holds up no other (it used to hold the round,
 * and every alert after it, for as long as it trickled).
 */
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { WebhookDeliverer } from "./webhook.js";

let store: Store;
let receiver: Server;
let url: string;
const trickling = new Set<NodeJS.Timeout>();
const got: string[] = [];

beforeAll(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-webhook-")) });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const summary = (JSON.parse(body) as { alert: { summary: string } }).alert.summary;
      got.push(summary);
      if (summary !== "slow-1") return void res.writeHead(204).end();
      // 200 at once, then a byte every 100 ms: never idle long enough for a per-chunk timeout.
      res.writeHead(200, { "content-type": "text/plain" });
      const timer = setInterval(() => res.write("."), 100);
      trickling.add(timer);
      res.on("close", () => clearInterval(timer));
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  for (const t of trickling) clearInterval(t);
  receiver.closeAllConnections();
  receiver.close();
  await store.close();
});

const raise = async (key: string) =>
  (
    await store.alerts.raise(
      {
        dedupeKey: key,
        detector: "key-sharing",
        severity: "high",
        subject: { kind: "key", id: key },
        summary: key,
        evidence: { audit_indexes: [], details: {} },
        raisedAt: new Date().toISOString(),
        deliver: true,
      },
      "detector:key-sharing",
    )
  ).alert.id;

it("a receiver trickling its answer's body holds up no other alert", async () => {
  const failures: unknown[] = [];
  const deliverer = new WebhookDeliverer({
    url,
    secret: "whsec-test",
    timeoutMs: 300,
    retryMs: 60_000,
    maxRetryMs: 60_000,
    store: store.alerts,
    onFailure: (err) => failures.push(err),
    pollMs: 50,
  });
  const slow = await raise("slow-1");
  deliverer.start();
  expect(
    await eventually(
      async () => got.length,
      (n) => n > 0,
    ),
  ).toBe(1);
  // Raised while the slow receiver is still sending its answer: delivered all the same.
  const next = await raise("next-1");
  deliverer.kick();
  const delivered = await eventually(
    async () => (await store.alerts.get(next))?.delivery.state,
    (s) => s === "delivered",
  );
  expect(delivered).toBe("delivered");
  // The slow receiver answered 200: its alert is delivered too, once.
  expect((await store.alerts.get(slow))?.delivery).toMatchObject({ state: "delivered", attempts: 1 });
  expect(got).toEqual(["slow-1", "next-1"]);
  expect(failures).toEqual([]);
  await deliverer.close();
});

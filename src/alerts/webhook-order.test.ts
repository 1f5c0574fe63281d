/**
 * Webhook delivery order: a receiver gets one subject's alerts in the order they were raised, each
 * after the one before it was delivered, also when the first of them failed and waits for its retry
 * (they were posted 50 at a time side by side, a later alert ahead of an earlier one being retried).
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
/** What the receiver was posted, in order: each alert's summary, and whether it was taken. */
const got: string[] = [];

beforeAll(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-webhook-order-")) });
  let refused = false;
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const summary = (JSON.parse(body) as { alert: { summary: string } }).alert.summary;
      // The first post of p-1 is refused (the receiver restarting): it is retried later.
      const refuse = summary === "p-1" && !refused;
      refused ||= refuse;
      got.push(`${summary}${refuse ? " refused" : ""}`);
      res.writeHead(refuse ? 503 : 204).end();
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

const raise = async (summary: string, subject: string, at: number) =>
  (
    await store.alerts.raise(
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
    )
  ).alert.id;

it("posts one subject's alerts in the order raised, a later one after an earlier one's retry", async () => {
  const t = Date.now() - 10_000;
  // p's four alerts, q's one: raised before the deliverer starts, so all are due in its first round.
  for (let i = 1; i <= 4; i++) await raise(`p-${i}`, "p", t + i);
  await raise("q-1", "q", t + 5);
  const failures: unknown[] = [];
  const deliverer = new WebhookDeliverer({
    url,
    secret: "whsec-test",
    timeoutMs: 2_000,
    retryMs: 100,
    maxRetryMs: 100,
    store: store.alerts,
    onFailure: (err) => failures.push(err),
    // No polling: a delivery lets its subject's next alert through at once, a kick stands in for the poll.
    pollMs: 3_600_000,
  });
  try {
    deliverer.start();
    // The poll's part (the retry is due 100 ms after the refusal) is played by kicks.
    await eventually(
      async () => {
        deliverer.kick();
        return [...got];
      },
      (delivered) => delivered.length >= 6,
    );
    await eventually(
      async () => (await store.alerts.list()).filter((a) => a.delivery.state === "delivered").length,
      (n) => n === 5,
    );
    const ofP = got.filter((g) => g.startsWith("p-"));
    expect(ofP).toEqual(["p-1 refused", "p-1", "p-2", "p-3", "p-4"]);
    expect(got).toContain("q-1");
    expect(failures).toHaveLength(1);
    for (const a of await store.alerts.list()) expect(a.delivery.state).toBe("delivered");
  } finally {
    await deliverer.close();
  }
});

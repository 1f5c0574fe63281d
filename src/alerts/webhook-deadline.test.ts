/**
 * Webhook delivery against a receiver that answers only "102 Processing", over a real socket: each
 * attempt ends at its deadline (undici's headers timeout alone restarts on every 1xx, so such a
 * receiver held the round for ever), close() aborts a delivery in flight, and a gateway whose
 * receiver does this still shuts down (it waited for the round before flushing anything else).
 */
import { mkdtempSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { startTestGateway } from "../testing/gateway.js";
import type { AlertRecord } from "../store/alerts.js";
import { WebhookDeliverer } from "./webhook.js";

let receiver: Server;
let url: string;
const sockets = new Set<Socket>();
let requests = 0;

beforeAll(async () => {
  // Reads the request, then sends "102 Processing" every 50 ms and never a final status.
  receiver = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("data", () => requests++);
    const timer = setInterval(() => socket.write("HTTP/1.1 102 Processing\r\n\r\n"), 50);
    socket.on("close", () => {
      clearInterval(timer);
      sockets.delete(socket);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => receiver.close(r));
});

let store: Store;
let deliverer: WebhookDeliverer | undefined;
const failures: { err: unknown; alert: AlertRecord | undefined }[] = [];
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-webhook-1xx-")) });
  failures.length = 0;
  requests = 0;
});
afterEach(async () => {
  if (deliverer !== undefined) await settles(deliverer.close());
  deliverer = undefined;
  await store.close();
});

const newAlert = (key: string) => ({
  dedupeKey: key,
  detector: "denied-party",
  severity: "critical" as const,
  subject: { kind: "principal" as const, id: "p" },
  summary: key,
  evidence: { audit_indexes: [], details: {} },
  raisedAt: new Date().toISOString(),
  deliver: true,
});

const open = (timeoutMs: number) =>
  new WebhookDeliverer({
    url,
    secret: "whsec-test-0123456789-0123456789-0123",
    timeoutMs,
    retryMs: 600_000,
    maxRetryMs: 600_000,
    store: store.alerts,
    onFailure: (err, alert) => failures.push({ err, alert }),
    pollMs: 50,
  });

/** Resolves to what finished first: the promise ("done"), or a generous bound ("hung"). */
const settles = (p: Promise<unknown>) =>
  Promise.race([p.then(() => "done"), new Promise((r) => setTimeout(() => r("hung"), 20_000).unref())]);

it("a receiver answering only 1xx fails the attempt at its deadline; the alert waits for a retry", async () => {
  const { alert } = await store.alerts.raise(newAlert("processing"), "detector:denied-party");
  deliverer = open(300);
  deliverer.start();
  const delivery = await eventually(
    async () => (await store.alerts.get(alert.id))?.delivery,
    (d) => d?.last_error !== null,
  );
  expect(delivery).toMatchObject({
    state: "pending",
    attempts: 1,
    last_error: expect.stringMatching(/did not answer within 300 ms/) as unknown,
  });
  expect(failures.map((f) => f.alert?.id)).toEqual([alert.id]);
});

it("close() aborts a delivery in flight: it returns, and the alert is due again at once", async () => {
  const { alert } = await store.alerts.raise(newAlert("closing"), "detector:denied-party");
  deliverer = open(600_000); // the deadline is far off: only close() can end the attempt
  deliverer.start();
  await eventually(
    async () => requests,
    (n) => n > 0,
  );
  expect(await settles(deliverer.close())).toBe("done");
  const delivery = (await store.alerts.get(alert.id))?.delivery;
  expect(delivery).toMatchObject({
    state: "pending",
    attempts: 1,
    last_error: expect.stringMatching(/interrupted/) as unknown,
  });
  expect(Date.parse(delivery?.next_at as string)).toBeLessThanOrEqual(Date.now());
  // Not the receiver's failure: not counted as one.
  expect(failures).toEqual([]);
});

it("a gateway whose webhook receiver answers only 1xx still shuts down", async () => {
  const t = await startTestGateway({
    monitoring: `{ alerts: { webhook: { url: "${url}", timeout_ms: 600000 } } }`,
    env: { CLEARANCE_WEBHOOK_SECRET: "whsec-test-0123456789-0123456789-0123" },
  });
  // Raised into the store: the gateway's deliverer finds it on its next poll.
  await t.gateway.store.alerts.raise(newAlert("shutdown"), "detector:denied-party");
  await eventually(
    async () => requests,
    (n) => n > 0,
  );
  expect(await settles(t.gateway.close())).toBe("done");
});

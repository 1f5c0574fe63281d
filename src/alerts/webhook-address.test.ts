/**
 * The alert webhook's address guard at delivery: a URL whose name resolves to a link-local address
 * (cloud metadata, 169.254.169.254) is not connected to unless monitoring.alerts.webhook.
 * allow_link_local; the delivery fails with the reason (counted, retried), and the receiver sees
 * nothing. A stand-in resolver plays DNS; the receiver is real, on 127.0.0.1.
 */
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Resolve } from "../identity/outbound.js";
import type { AlertRecord } from "../store/alerts.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { WebhookDeliverer } from "./webhook.js";

let store: Store;
let receiver: Server;
let port: number;
/** The summaries the receiver was posted. */
const got: string[] = [];

/** DNS as the test has it: metadata.test answers a public-looking loopback and the metadata address. */
const resolve: Resolve = (hostname, _options, callback) => {
  const answers: Record<string, string[]> = {
    "hooks.test": ["127.0.0.1"],
    "metadata.test": ["127.0.0.1", "169.254.169.254"],
    "metadata6.test": ["127.0.0.1", "fe80::a9fe:a9fe"],
    "alibaba.test": ["127.0.0.1", "100.100.100.200"],
    "nat64.test": ["127.0.0.1", "64:ff9b:1::a9fe:a9fe"],
  };
  const found = answers[hostname];
  if (found === undefined)
    return callback(Object.assign(new Error(`${hostname}: ENOTFOUND`), { code: "ENOTFOUND" }), []);
  callback(
    null,
    found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
  );
};

beforeAll(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-webhook-address-")) });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push((JSON.parse(body) as { alert: { summary: string } }).alert.summary);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  port = (receiver.address() as AddressInfo).port;
});
afterAll(async () => {
  receiver.closeAllConnections();
  receiver.close();
  await store.close();
});

/** One alert raised and one delivery tried to `url`: the alert's delivery after it, and the failures. */
async function deliver(summary: string, url: string, allowLinkLocal = false) {
  const { alert } = await store.alerts.raise(
    {
      dedupeKey: summary,
      detector: "embargoed-attempt",
      severity: "high",
      subject: { kind: "principal", id: summary },
      summary,
      evidence: { audit_indexes: [], details: {} },
      raisedAt: new Date(Date.now() - 1_000).toISOString(),
      deliver: true,
    },
    "detector:embargoed-attempt",
  );
  const failures: { err: unknown; alert: AlertRecord | undefined }[] = [];
  const deliverer = new WebhookDeliverer({
    url,
    secret: "whsec-test",
    timeoutMs: 2_000,
    retryMs: 3_600_000,
    maxRetryMs: 3_600_000,
    store: store.alerts,
    onFailure: (err, a) => failures.push({ err, alert: a }),
    pollMs: 3_600_000,
    allowLinkLocal,
    resolve,
  });
  try {
    deliverer.start();
    const delivery = await eventually(
      async () => (await store.alerts.get(alert.id))?.delivery,
      (d) => d?.state === "delivered" || d?.last_error !== null,
    );
    return { delivery, failures };
  } finally {
    await deliverer.close();
  }
}

it("refuses a name resolving to a link-local address (any of its answers), counted as a failed delivery", async () => {
  for (const [name, address] of [
    ["metadata.test", "169.254.169.254"],
    ["metadata6.test", "fe80::a9fe:a9fe"],
    // Before the fix: both taken (Alibaba Cloud's metadata, and link-local through local-use NAT64).
    ["alibaba.test", "100.100.100.200"],
    ["nat64.test", "64:ff9b:1::a9fe:a9fe (169.254.169.254)"],
  ] as const) {
    const { delivery, failures } = await deliver(`to ${name}`, `http://${name}:${port}/hook`);
    const reason = `${name} resolves to ${address}, a link-local or cloud metadata address: refused unless monitoring.alerts.webhook.allow_link_local is true`;
    expect(delivery).toMatchObject({ state: "pending", attempts: 1, last_error: reason });
    expect(failures).toEqual([
      {
        err: expect.objectContaining({ message: reason }) as unknown,
        alert: expect.objectContaining({ summary: `to ${name}` }) as unknown,
      },
    ]);
  }
  expect(got).toEqual([]);
});

it("refuses a link-local address in the URL itself without connecting", async () => {
  const { delivery, failures } = await deliver("literal", "http://169.254.169.254/latest/meta-data/");
  expect(delivery?.last_error).toBe(
    "http://169.254.169.254/latest/meta-data/ names 169.254.169.254, a link-local or cloud metadata address: refused unless monitoring.alerts.webhook.allow_link_local is true",
  );
  expect(failures).toHaveLength(1);
});

it("delivers to a name resolving elsewhere, and to a link-local one when allowed", async () => {
  expect((await deliver("ordinary", `http://hooks.test:${port}/hook`)).delivery?.state).toBe("delivered");
  // Allowed: the guard stands aside (the connection takes the first answer, the receiver's).
  const allowed = await deliver("allowed", `http://metadata.test:${port}/hook`, true);
  expect(allowed).toMatchObject({ delivery: { state: "delivered" }, failures: [] });
  expect(got).toEqual(["ordinary", "allowed"]);
});

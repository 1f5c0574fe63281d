/**
 * Key sharing by networks sees the client address the locator believes: X-Forwarded-For counts
 * only from a trusted proxy, so a client cannot make many networks look like one (or one many).
 */
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const MONITORING = `{ alerts: { impossible_travel: { enabled: false }, volume_spike: { enabled: false }, key_sharing: { max_networks: 8 } } }`;

function chat(url: string, key: string, localAddress: string, forwardedFor?: string): Promise<number> {
  return new Promise((done, fail) => {
    const u = new URL(`${url}/v1/chat/completions`);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        localAddress,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${key}`,
          ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
      },
    );
    req.on("error", fail);
    req.end(JSON.stringify({ model: "mythos-4", messages: [{ role: "user", content: "hi" }] }));
  });
}

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.gateway.close();
  t = undefined;
});

/** The key-sharing alerts, once one is stored (sightings reach the detectors after each response). */
const sharingAlerts = (t: TestGateway) =>
  eventually(
    async () => (await t.gateway.store.alerts.list({ detector: "key-sharing" })).map((a) => a.summary),
    (a) => a.length > 0,
  );

describe("key sharing by networks", () => {
  it("ten networks reaching the gateway directly are ten, whatever X-Forwarded-For they forge", async () => {
    t = await startTestGateway({ monitoring: MONITORING, location: "{}" });
    const key = t.keys.get("alice") as string;
    for (let i = 1; i <= 10; i++) expect(await chat(t.url, key, `127.0.${i}.1`, "198.51.100.7")).toBe(200);
    const alerts = await sharingAlerts(t);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain("9 networks");
  });

  it("behind a trusted proxy, the address it forwards is the client's", async () => {
    t = await startTestGateway({ monitoring: MONITORING, location: "{ trusted_proxies: [127.0.0.1/32] }" });
    const key = t.keys.get("alice") as string;
    // A forged hop left of the client's own address is ignored: the proxy vouches only for its peer.
    for (let i = 1; i <= 10; i++)
      expect(await chat(t.url, key, "127.0.0.1", `10.9.9.9, 192.0.${i}.7`)).toBe(200);
    const alerts = await sharingAlerts(t);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain("9 networks");
  });
});

describe("the access log's client", () => {
  it("is the client the locator believes, found once; the peer is the proxy", async () => {
    const lines: Record<string, unknown>[] = [];
    t = await startTestGateway({
      location: "{ trusted_proxies: [127.0.0.1/32] }",
      accessLog: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    });
    const key = t.keys.get("alice") as string;
    expect(await chat(t.url, key, "127.0.0.1", "10.9.9.9, 192.0.2.7")).toBe(200);
    // Refused before it is located: the client is still told, by the same rules.
    expect(await chat(t.url, "sk-wrong", "127.0.0.1", "192.0.2.8")).toBe(401);
    // From a peer that is not a trusted proxy, a forged header counts for nothing.
    expect(await chat(t.url, key, "127.0.0.2", "192.0.2.9")).toBe(200);
    const seen = await eventually(
      () => Promise.resolve(lines.filter((l) => l.path === "/v1/chat/completions")),
      (l) => l.length === 3,
    );
    expect(seen.map((l) => [l.status, l.client, l.peer])).toEqual([
      [200, "192.0.2.7", "127.0.0.1"],
      [401, "192.0.2.8", "127.0.0.1"],
      [200, "127.0.0.2", "127.0.0.2"],
    ]);
  });
});

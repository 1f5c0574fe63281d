/**
 * Alerts end to end, on a running gateway: an impossible journey raises an alert whose response
 * revokes the key (an admin act by the detector, with the alert as its reason, in the audit log);
 * the webhook receiver is down at first and still gets the alert, signed, as checked by an
 * independent HMAC implementation (Python's hmac, or openssl); the admin API and the CLI list,
 * acknowledge and resolve it, each step audited.
 */
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createServer as netServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEntries, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { run } from "../cli/program.js";
import type { Io } from "../cli/io.js";
import type { AlertRecord } from "../store/alerts.js";
import { SIGNATURE_HEADER, sign, verifySignature } from "./webhook.js";

const SECRET = "whsec-test-0123456789-0123456789-0123";
let t: TestGateway;
let hookPort: number;
let receiver: Server | null = null;
const received: { body: string; signature: string }[] = [];

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = netServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  hookPort = await freePort(); // nobody listens there yet: the receiver is down
  t = await startTestGateway({
    monitoring: `{ alerts: { impossible_travel: { response: suspend }, webhook: { url: "http://127.0.0.1:${hookPort}/hook", retry_ms: 50, max_retry_ms: 200 } } }`,
    env: { CLEARANCE_WEBHOOK_SECRET: SECRET },
  });
});
afterAll(async () => {
  await t.gateway.close();
  receiver?.close();
});

const chat = (key: string, country: string) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
      "x-test-country": country,
    },
    body: JSON.stringify({ model: "mythos-4", messages: [{ role: "user", content: "hi" }] }),
  });

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  process.env.CLEARANCE_TOKEN = ADMIN_TOKEN;
  try {
    const code = await run([...args, "--url", t.url], io);
    return { code, out, err };
  } finally {
    delete process.env.CLEARANCE_TOKEN;
  }
}

/** The signature checked by a program nobody here wrote: Python's hmac, else openssl. */
function independentlyVerified(body: string, header: string): boolean | "skipped" {
  const [t, v1] = header.split(",").map((p) => p.split("=")[1]) as [string, string];
  const py = spawnSync(
    "python3",
    [
      "-c",
      "import hmac,hashlib,sys; b=sys.stdin.buffer.read(); m=hmac.new(sys.argv[1].encode(), sys.argv[2].encode()+b'.'+b, hashlib.sha256).hexdigest(); sys.exit(0 if hmac.compare_digest(m, sys.argv[3]) else 1)",
      SECRET,
      t,
      v1,
    ],
    { input: body },
  );
  if (py.error === undefined) return py.status === 0;
  const ossl = spawnSync("openssl", ["dgst", "-sha256", "-hmac", SECRET, "-r"], { input: `${t}.${body}` });
  if (ossl.error !== undefined) return "skipped";
  return ossl.stdout.toString().split(" ")[0] === v1;
}

describe("alerts that act", () => {
  let alert: AlertRecord;

  it("an impossible journey raises an alert, and its response revokes the key", async () => {
    const key = t.keys.get("alice") as string;
    expect((await chat(key, "US")).status).toBe(200);
    expect((await chat(key, "AU")).status).toBe(200);
    const list = await eventually(
      () => t.gateway.store.alerts.list({ detector: "impossible-travel" }),
      (l) => l.length > 0 && l[0]?.response !== null,
    );
    expect(list).toHaveLength(1);
    alert = list[0] as AlertRecord;
    expect(alert).toMatchObject({
      severity: "high",
      subject: { kind: "principal", id: "alice" },
      state: "open",
      response: { action: "suspend" },
    });
    expect(alert.evidence.audit_indexes).toHaveLength(2);
    expect(alert.response?.result).toMatch(/^key \w+ revoked$/);
    // Access stopped, and the audit log says why: the detector revoked the key for this alert.
    const after = await eventually(
      async () => (await chat(key, "US")).status,
      (s) => s === 401,
    );
    expect(after).toBe(401);
    const entries = await eventually(
      () => auditEntries(t),
      (e) => e.some((x) => x.action === "key.revoke"),
    );
    expect(entries.find((x) => x.action === "key.revoke")).toMatchObject({
      actor: "detector:impossible-travel",
      details: { alert: alert.id, detector: "impossible-travel" },
    });
    expect(entries.find((x) => x.action === "alert.raise")).toMatchObject({
      actor: "detector:impossible-travel",
      object: { kind: "alert", id: alert.id },
    });
    // The decisions the evidence names are in the log, at those indexes.
    const decisions = alert.evidence.audit_indexes.map((i) => entries[Number(i)]);
    expect(decisions.map((d) => (d as Record<string, unknown>).type)).toEqual(["decision", "decision"]);
  });

  it("a webhook receiver that was down gets the alert once up, signed (checked independently)", async () => {
    // A few failed attempts meanwhile (counted, not guessed from a time): still pending.
    const failing = await eventually(
      async () => (await t.gateway.store.alerts.get(alert.id))?.delivery,
      (d) => (d?.attempts ?? 0) >= 2,
    );
    expect(failing?.attempts, "delivery attempts").toBeGreaterThanOrEqual(2);
    expect(failing?.state).toBe("pending");
    expect(failing?.last_error).not.toBeNull();
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ body, signature: String(req.headers[SIGNATURE_HEADER]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver?.listen(hookPort, "127.0.0.1", resolve));
    const delivered = await eventually(
      async () => (await t.gateway.store.alerts.get(alert.id))?.delivery,
      (d) => d?.state === "delivered",
    );
    expect(delivered?.state).toBe("delivered");
    expect(delivered?.attempts).toBeGreaterThan(1);
    const got = received.find((r) => r.body.includes(alert.id));
    expect(got).toBeDefined();
    const { body, signature } = got as { body: string; signature: string };
    expect((JSON.parse(body) as { alert: { id: string } }).alert.id).toBe(alert.id);
    const independent = independentlyVerified(body, signature);
    if (independent === "skipped")
      console.warn("independent HMAC check skipped: neither python3 nor openssl found");
    else expect(independent).toBe(true);
    const now = Math.floor(Date.now() / 1000);
    expect(verifySignature(SECRET, body, signature, now)).toBe(true);
    // Tampered, re-signed with another key, or too old: refused.
    expect(verifySignature(SECRET, body.replace("alice", "alicf"), signature, now)).toBe(false);
    expect(verifySignature("other", body, signature, now)).toBe(false);
    expect(verifySignature(SECRET, body, sign(SECRET, body, now - 3600), now)).toBe(false);
  });

  it("the CLI lists, shows, acknowledges and resolves it; each step is audited", async () => {
    const list = await cli(["remote", "alerts", "list", "--state", "open"]);
    expect(list.code).toBe(0);
    expect(list.out).toContain(alert.id);
    expect(list.out).toContain("impossible-travel");
    const show = await cli(["remote", "alerts", "show", alert.id]);
    expect(show.out).toMatch(/response\s+suspend: key \w+ revoked/);
    expect(await cli(["remote", "alerts", "ack", alert.id, "--note", "calling the partner"])).toMatchObject({
      code: 0,
      out: `alert ${alert.id} is acknowledged\n`,
    });
    expect((await cli(["remote", "alerts", "resolve", alert.id, "--note", "key rotated"])).out).toBe(
      `alert ${alert.id} is resolved\n`,
    );
    const again = await cli(["remote", "alerts", "resolve", alert.id]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/resolved/);
    expect((await cli(["remote", "alerts", "list", "--state", "open"])).out).not.toContain(alert.id);
    const entries = await auditEntries(t);
    const steps = entries.filter((e) => (e.object as { id?: string } | undefined)?.id === alert.id);
    expect(steps.map((e) => [e.action, e.actor])).toEqual([
      ["alert.raise", "detector:impossible-travel"],
      ["alert.respond", "detector:impossible-travel"],
      ["alert.acknowledge", "admin"],
      ["alert.resolve", "admin"],
    ]);
  });

  it("the admin API describes the alert routes in its OpenAPI document", async () => {
    const doc = (await (await fetch(`${t.url}/admin/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/admin/v1/alerts",
        "/admin/v1/alerts/{id}",
        "/admin/v1/alerts/{id}/acknowledge",
        "/admin/v1/alerts/{id}/resolve",
      ]),
    );
  });
});

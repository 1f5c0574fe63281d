/** The gateway and its audit log: every decision is an entry before it is acted on; fail closed. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../audit/checkpoint.js";
import { leafHash, verifyInclusion } from "../audit/merkle.js";
import { parseVerifierKey } from "../audit/note.js";
import { decodeBundle } from "../audit/tiles.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ extra: "audit: { origin: test.example/audit, checkpoint_ms: 50 }" });
});
afterAll(() => t.gateway.close());

const ask = (principal: string, country: string, content = "a secret prompt") =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(principal)}`,
      "content-type": "application/json",
      "x-test-country": country,
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content }] }),
  });

async function entries(): Promise<Record<string, unknown>[]> {
  await t.gateway.audit.log.publish();
  const size = t.gateway.audit.log.published!.size;
  const out: Record<string, unknown>[] = [];
  for (let i = 0n; i * 256n < size; i++) {
    const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
    const path = `tile/entries/${String(i).padStart(3, "0")}${width === 256 ? "" : `.p/${width}`}`;
    const res = await fetch(`${t.url}/audit/${path}`);
    expect(res.status, path).toBe(200);
    out.push(
      ...decodeBundle(Buffer.from(await res.arrayBuffer()), width).map(
        (e) => JSON.parse(e.toString()) as Record<string, unknown>,
      ),
    );
  }
  return out;
}

describe("the gateway's audit log", () => {
  it("records allow, fallback and deny decisions, without prompt content", async () => {
    const ids: string[] = [];
    for (const [p, c] of [
      ["alice", "US"],
      ["devi", "IN"],
      ["feng", "IR"],
    ] as const) {
      const res = await ask(p, c);
      ids.push(res.headers.get("x-clearance-request-id")!);
    }
    const logged = await entries();
    const byId = new Map(logged.map((e) => [e.request_id, e]));
    expect(byId.get(ids[0])).toMatchObject({
      type: "decision",
      principal: "alice",
      decision: "allow",
      reason: "home-person",
      model: "mythos-5",
      served_model: "mythos-5",
      location: "US",
      action: "infer",
    });
    expect(byId.get(ids[1])).toMatchObject({
      decision: "fallback",
      reason: "no-authorization",
      served_model: "mythos-4",
    });
    expect(byId.get(ids[2])).toMatchObject({
      decision: "deny",
      reason: "embargoed-location",
      served_model: null,
      grant: null,
    });
    expect(byId.get(ids[0])?.scheme).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(logged)).not.toContain("a secret prompt");
    expect(JSON.stringify(logged)).not.toContain("clr_");
  });

  it("publishes a signed checkpoint and proofs that verify against it", async () => {
    await ask("benoit", "FR");
    await t.gateway.audit.log.publish();
    const text = await (await fetch(`${t.url}/audit/checkpoint`)).text();
    const { checkpoint } = openCheckpoint(
      text,
      parseVerifierKey(t.gateway.audit.verifierKey),
      "test.example/audit",
    );
    const logged = await entries();
    const index = BigInt(logged.length - 1);
    const res = await fetch(`${t.url}/audit/proof/inclusion?index=${index}&size=${checkpoint.size}`);
    const { proof } = (await res.json()) as { proof: string[] };
    const raw = Buffer.from(JSON.stringify(logged.at(-1)));
    // Entries are canonical JSON: re-encoding a parsed entry gives the same bytes and leaf hash.
    verifyInclusion(
      leafHash(raw),
      index,
      checkpoint.size,
      proof.map((p) => Buffer.from(p, "base64")),
      checkpoint.root,
    );
    expect((await fetch(`${t.url}/audit/proof/inclusion?index=1&size=99999999`)).status).toBe(400);
    expect((await fetch(`${t.url}/audit/proof/inclusion?index=-1&size=2`)).status).toBe(400);
    expect((await fetch(`${t.url}/audit/tile/0/../../audit.key`)).status).toBe(404);
    // Full tiles never change; a partial one and the checkpoint do.
    const size = checkpoint.size;
    const partial = await fetch(`${t.url}/audit/tile/entries/000.p/${size % 256n}`);
    expect(partial.headers.get("cache-control")).toBe("no-cache");
    expect((await fetch(`${t.url}/audit/checkpoint`)).headers.get("cache-control")).toBe("no-cache");
  });

  it("admin changes are logged with who made them", async () => {
    const res = await fetch(`${t.url}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ principal: "chloe", label: "audit-test" }),
    });
    const { id } = (await res.json()) as { id: string };
    const admin = (await entries()).filter((e) => e.type === "admin");
    expect(admin.at(-1)).toMatchObject({
      actor: "admin",
      action: "key.create",
      object: { kind: "key", id },
    });
    expect(JSON.stringify(admin)).not.toMatch(/"hash"|clr_/);
  });

  it("when the log cannot take an entry, requests are refused with 503", async () => {
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    await t.gateway.audit.log.close();
    const res = await ask("alice", "US");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("audit_unavailable");
    // Not ready: a load balancer stops sending it requests; still alive for the liveness probe.
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reasons: string[] }).reasons).toEqual([
      "the audit log cannot take entries",
    ]);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});

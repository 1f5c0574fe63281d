/**
 * A request whose body is still arriving when the policy changes: a key revoked, a partner
 * suspended, a license suspended after its head came but before its body was whole. The body may
 * take up to the request timeout (60 s) to arrive; the request is decided on what is in force once
 * it is whole, never on what was when its head came. Real sockets, a body trickled in two parts with
 * the change in between, in both wire formats, streamed and not; partner tokens from a real OpenID
 * provider on loopback.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";
import { trickle } from "../testing/trickle.js";

let t: TestGateway;
let idp: TestIdp;

beforeAll(async () => {
  idp = await startTestIdp({ people: { "de-anna": { nationality: ["DE"], acr: "urn:eidas:loa:high" } } });
  t = await startTestGateway({
    models: "  mythos-5: { provider: demo }\n  mythos-4: { provider: demo }",
    extra: `identity:
  providers:
    - partner: g7-fvey
      id: de-gov
      name: German federal eID
      issuer: ${idp.issuer}
      audiences: [${AUDIENCE}]
      claims: { citizenships: nationality }
      assurance: { acr: { "urn:eidas:loa:high": attested } }
      max_assurance: attested
`,
  });
}, 30_000);

afterAll(async () => {
  await t?.gateway.close();
  await idp?.close();
});

type Wire = "openai" | "anthropic";

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly decision: string | undefined;
  readonly served: string | undefined;
}

/**
 * Sends a request's head and half its body, waits until the gateway has taken the head, runs
 * `meanwhile` (the change), then sends the rest.
 */
async function trickled(
  wire: Wire,
  stream: boolean,
  credential: string,
  headers: Record<string, string>,
  model: string,
  meanwhile: () => Promise<void>,
): Promise<Answer> {
  const body =
    wire === "openai"
      ? { model, stream, messages: [{ role: "user", content: "hello there" }] }
      : { model, stream, max_tokens: 16, messages: [{ role: "user", content: "hello there" }] };
  const credentials: Record<string, string> =
    wire === "openai"
      ? { authorization: `Bearer ${credential}` }
      : { "x-api-key": credential, "anthropic-version": "2023-06-01" };
  const path = wire === "openai" ? "/v1/chat/completions" : "/v1/messages";
  const res = await trickle(t, path, { ...credentials, ...headers }, JSON.stringify(body), meanwhile);
  let code: string | undefined;
  if (res.status >= 400) {
    const error = (JSON.parse(res.body) as { error: { code?: string; type?: string } }).error;
    code = wire === "openai" ? error.code : (res.headers["x-clearance-reason"] as string);
  }
  const decision = res.headers["x-clearance-decision"] as string | undefined;
  const served = res.headers["x-clearance-served-model"] as string | undefined;
  return { status: res.status, code, decision, served };
}

const CASES: readonly [Wire, boolean][] = [
  ["openai", false],
  ["openai", true],
  ["anthropic", false],
  ["anthropic", true],
];

describe.each(CASES)("a body still arriving (%s, stream %s)", (wire, stream) => {
  it("is refused when its API key was revoked meanwhile (was: served on the key's old standing)", async () => {
    const { key, record } = await t.gateway.store.keys.create("alice", "slow body");
    await t.gateway.snapshot.refresh();
    const us = { "x-test-country": "US" };
    // Served when nothing changes.
    expect(await trickled(wire, stream, key, us, "mythos-5", async () => {})).toMatchObject({ status: 200 });
    const revoked = await trickled(wire, stream, key, us, "mythos-5", async () => {
      await asAdmin(t, "POST", `/admin/v1/keys/${record.id}/revoke`, {});
    });
    expect(revoked).toMatchObject({ status: 401, code: "invalid_api_key" });
  });

  it("is refused when the partner of its token was suspended meanwhile (was: served, the token accepted)", async () => {
    const token = await idp.token("de-anna");
    const de = { "x-test-country": "DE" };
    // An open model: served to anyone authenticated, so only the token's acceptance stands between.
    expect(await trickled(wire, stream, token, de, "mythos-4", async () => {})).toMatchObject({
      status: 200,
    });
    try {
      const suspended = await trickled(wire, stream, token, de, "mythos-4", async () => {
        await asAdmin(t, "POST", "/admin/v1/partners/g7-fvey/status", {
          status: "suspended",
          reason: "review",
        });
      });
      expect(suspended).toMatchObject({ status: 401, code: "partner-not-active" });
    } finally {
      await asAdmin(t, "POST", "/admin/v1/partners/g7-fvey/status", { status: "active", reason: "cleared" });
    }
  });

  it("is not served on the license it rested on when that was suspended meanwhile", async () => {
    const headers = { "x-test-country": "DE", "x-clearance-purpose": "cyber-defense" };
    const erik = t.keys.get("erik")!;
    expect(await trickled(wire, stream, erik, headers, "mythos-5", async () => {})).toMatchObject({
      status: 200,
      decision: "allow",
    });
    const store = t.gateway.store;
    const set = async (status: string) => {
      const license = await store.records.get<{ status: string }>("license", "BIS-2026-0001");
      const document = { ...(license!.document as object), status };
      await store.records.put("license", "BIS-2026-0001", document, license!.revision, {
        actor: "test",
        action: `license.${status}`,
      });
      await t.gateway.snapshot.refresh();
    };
    try {
      const denied = await trickled(wire, stream, erik, headers, "mythos-5", () => set("suspended"));
      // Not on the license: the fallback model (open) is what the example scheme serves instead.
      expect(denied).toMatchObject({ decision: "fallback", served: "mythos-4" });
    } finally {
      await set("approved");
    }
  });
});

describe("the refusal before the body", () => {
  it.each(["openai", "anthropic"] as const)(
    "stays: a revoked key is refused while its body has not come (%s)",
    async (wire) => {
      const { key, record } = await t.gateway.store.keys.create("alice", "refused early");
      await asAdmin(t, "POST", `/admin/v1/keys/${record.id}/revoke`, {});
      const url = new URL(t.url);
      const req = request({
        host: url.hostname,
        port: url.port,
        path: wire === "openai" ? "/v1/chat/completions" : "/v1/messages",
        method: "POST",
        agent: false,
        headers: {
          ...(wire === "openai" ? { authorization: `Bearer ${key}` } : { "x-api-key": key }),
          "content-type": "application/json",
          "content-length": 1000,
          "x-test-country": "US",
        },
      });
      const status = new Promise<number>((resolve, reject) => {
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
      });
      // A part of the body, and never the rest.
      req.write('{"model":"mythos-5",');
      expect(await status).toBe(401);
      req.destroy();
    },
  );
});

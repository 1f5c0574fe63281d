/**
 * Where the gateway fetches a partner's keys from: https only (plain http to loopback only where
 * identity.allow_http_loopback allows it, as demos and tests do), never an address inside the
 * gateway's network, whether the URL was registered or named by the partner's own discovery
 * document, checked on the addresses a name resolves to; and a partner's person reading its provider
 * sees that the keys could not be fetched, not the internal URL or what answered there.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.js";
import { asAdmin, call, createIdentity, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { KeySet } from "./keys.js";
import { addressRefusal, urlRefusal } from "./outbound.js";
import { providerInputSchema } from "./schema.js";

let internal: Server;
let internalBase: string;
const internalHits: string[] = [];
let tcp: TcpServer;
let tcpPort: number;
let tcpConnections = 0;
let idp: Server;
let idpBase: string;
/** Discovery documents the partner's IdP serves, by provider id: each names a jwks_uri. */
const named = new Map<string, string>();
let gw: TestGateway;

const listen = async (s: Server | TcpServer) => {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  // A service inside the gateway's network that partners must not reach.
  internal = createHttpServer((req, res) => {
    internalHits.push(req.url ?? "");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [] }));
  });
  internalBase = `http://127.0.0.1:${await listen(internal)}`;
  tcp = createTcpServer((socket) => {
    tcpConnections += 1;
    socket.destroy();
  });
  tcpPort = await listen(tcp);
  // The partner's own IdP: its discovery document names whatever jwks_uri it likes.
  idp = createHttpServer((req, res) => {
    const id = (req.url ?? "").split("/")[1]!;
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ issuer: `${idpBase}/${id}`, jwks_uri: named.get(id) }));
  });
  idpBase = `http://127.0.0.1:${await listen(idp)}`;
  gw = await startTestGateway({ extra: "identity:\n  key_fetch_cooldown_ms: 50\n" });
}, 30_000);
afterAll(async () => {
  await gw?.gateway.close();
  for (const s of [internal, idp]) s.closeAllConnections();
  for (const s of [internal, idp, tcp]) await new Promise((r) => s.close(r));
});

const provider = (over: Record<string, unknown>) =>
  providerInputSchema.parse({ id: "p", issuer: "https://idp.example", audiences: ["a"], ...over });

async function fetched(keys: KeySet): Promise<string | null> {
  await keys.refresh();
  return keys.lastError;
}

describe("provider URLs", () => {
  it("issuer and jwks_uri must be https (or http to loopback), naming the field", () => {
    for (const [field, url] of [
      ["issuer", "http://10.0.0.5"],
      ["issuer", "urn:x:y"],
      ["issuer", "javascript:alert(1)"],
      ["issuer", "ftp://idp.example/"],
      ["jwks_uri", "http://169.254.169.254/latest/meta-data/"],
      ["jwks_uri", "file:///etc/passwd"],
    ]) {
      const r = providerInputSchema.safeParse({
        id: "x",
        issuer: "https://idp.example",
        audiences: ["a"],
        [field!]: url,
      });
      expect(r.success, url).toBe(false);
      expect(r.error?.issues[0]?.path, url).toEqual([field]);
      expect(r.error?.issues[0]?.message, url).toMatch(/https/);
    }
    expect(provider({ issuer: "http://127.0.0.1:8080/realm" }).issuer).toBe("http://127.0.0.1:8080/realm");
    expect(provider({ jwks_uri: "http://[::1]:8080/jwks" }).jwks_uri).toBe("http://[::1]:8080/jwks");
  });
});

describe("key fetches", () => {
  it("plain http, even to loopback, is not fetched unless allow_http_loopback is on", async () => {
    const keys = new KeySet(provider({ jwks_uri: `${internalBase}/off` }), {
      fetchTimeoutMs: 2000,
      cooldownMs: 0,
      allowHttpLoopback: false,
    });
    expect(await fetched(keys)).toMatch(/plain http .*identity\.allow_http_loopback/);
    expect(internalHits).not.toContain("/off");
  });

  it("a name resolving to an internal address is refused before connecting (checked after DNS)", async () => {
    const keys = new KeySet(provider({ jwks_uri: `https://localhost:${tcpPort}/jwks` }), {
      fetchTimeoutMs: 2000,
      cooldownMs: 0,
      allowHttpLoopback: false,
    });
    expect(await fetched(keys)).toMatch(/localhost resolves to .*(127\.0\.0\.1|::1).*internal/);
    expect(tcpConnections).toBe(0);
  });

  it("an internal address literal is refused, https or not", async () => {
    for (const uri of ["https://10.1.2.3/jwks", "https://[fd00:ec2::254]/jwks", "https://169.254.169.254/"]) {
      const keys = new KeySet(provider({ jwks_uri: uri }), {
        fetchTimeoutMs: 2000,
        cooldownMs: 0,
        allowHttpLoopback: true,
      });
      expect(await fetched(keys), uri).toMatch(/internal address/);
    }
  });

  it("a partner's discovery document cannot send the gateway to an internal address", async () => {
    named.set("disc", "http://169.254.169.254/latest/meta-data/");
    const keys = new KeySet(provider({ issuer: `${idpBase}/disc` }), {
      fetchTimeoutMs: 2000,
      cooldownMs: 0,
      allowHttpLoopback: true,
    });
    expect(await fetched(keys)).toMatch(/discovery document's jwks_uri .*refused/);
    expect(keys.fetchedAt).toBeNull();
  });

  it("with allow_http_loopback, a discovered jwks_uri reaches loopback only at the registered origin", async () => {
    // The operator registered a loopback IdP; the partner's document names another loopback service.
    named.set("probe", `${internalBase}/secret-json`);
    const keys = new KeySet(provider({ issuer: `${idpBase}/probe` }), {
      fetchTimeoutMs: 2000,
      cooldownMs: 0,
      allowHttpLoopback: true,
    });
    expect(await fetched(keys)).toMatch(/discovery document's jwks_uri .*refused.*plain http/);
    expect(internalHits).not.toContain("/secret-json");
  });
});

/** [address (as DNS answers or a URL writes it), refused, refused with allow_http_loopback] */
function expectRefusals(rows: readonly (readonly [string, boolean, boolean])[]): void {
  for (const [address, refused, refusedWithLoopback] of rows) {
    expect(addressRefusal(address, false) !== null, address).toBe(refused);
    expect(addressRefusal(address, true) !== null, `${address} (loopback allowed)`).toBe(refusedWithLoopback);
    if (refused) expect(urlRefusal(`https://[${address}]/jwks`, false), address).toMatch(/internal address/);
    else expect(urlRefusal(`https://[${address}]/jwks`, false), address).toBeNull();
  }
}

describe("IPv6 addresses carrying an IPv4 address", () => {
  it("NAT64 and 6to4 are checked as the IPv4 address they carry; local-use NAT64 and Teredo are refused", () => {
    expectRefusals([
      ["64:ff9b::7f00:1", true, true], // 127.0.0.1 through a NAT64 gateway: its loopback, not ours
      ["64:ff9b::127.0.0.1", true, true],
      ["64:ff9b::a9fe:a9fe", true, true], // 169.254.169.254, cloud metadata
      ["64:ff9b::a00:5", true, true], // 10.0.0.5
      ["64:ff9b::808:808", false, false], // 8.8.8.8: DNS64's answer for an IPv4-only IdP
      ["64:ff9b:1::a00:5", true, true], // local-use NAT64: the operator's own translation domain
      ["64:ff9b:1::808:808", true, true],
      ["2002:7f00:1::1", true, true], // 6to4: the site behind 127.0.0.1
      ["2002:c0a8:101::1", true, true], // 192.168.1.1
      ["2002:808:808::1", false, false],
      ["2001:0:4136:e378:8000:63bf:3fff:fdd2", true, true], // Teredo
      ["::ffff:7f00:1", true, false], // IPv4-mapped: this machine's loopback
      ["::ffff:a00:5", true, true],
      ["::ffff:808:808", false, false],
      ["2606:4700:4700::1111", false, false],
    ]);
  });

  it("IPv4-compatible and IPv4-translated addresses are checked as the IPv4 address they carry", () => {
    expectRefusals([
      ["::127.0.0.1", true, true], // tunnelled to 127.0.0.1: not this machine's ::1
      ["::7f00:1", true, true],
      ["::10.0.0.1", true, true],
      ["::a9fe:a9fe", true, true], // 169.254.169.254
      ["::8.8.8.8", false, false],
      ["::", true, true], // unspecified (in ::/96 as 0.0.0.0)
      ["::1", true, false], // loopback (in ::/96 as 0.0.0.1)
      ["::ffff:0:127.0.0.1", true, true], // SIIT (RFC 2765)
      ["::ffff:0:a00:1", true, true], // 10.0.0.1
      ["::ffff:0:c0a8:101", true, true], // 192.168.1.1
      ["::ffff:0:808:808", false, false],
    ]);
  });
});

describe("plain http is refused where it is registered unless allow_http_loopback is on", () => {
  it("the config's bootstrap list, naming the provider's field", () => {
    const config = (allow: string) => `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
identity:${allow}
  providers:
    - { partner: g7-fvey, id: x, issuer: "http://127.0.0.1:8080", audiences: [a] }
`;
    expect(() => parseConfig(config(""), join("examples", "idp.yaml"), {})).toThrow(
      /idp\.yaml:6:\d+: identity\.providers\[0\]\.issuer: plain http .*identity\.allow_http_loopback/,
    );
    expect(() =>
      parseConfig(config("\n  allow_http_loopback: true"), join("examples", "idp.yaml"), {}),
    ).not.toThrow();
  });

  it("the admin API, on a gateway where it is off", async () => {
    const off = await startTestGateway({ extra: "identity: { allow_http_loopback: false }\n" });
    try {
      const r = await call(off, ADMIN_TOKEN, "POST", "/admin/v1/partners/g7-fvey/identity-providers", {
        id: "plain",
        issuer: "https://plain.example",
        jwks_uri: "http://127.0.0.1:8080/jwks",
        audiences: ["a"],
      });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toMatch(/"path":"jwks_uri","message":"plain http/);
    } finally {
      await off.gateway.close();
    }
  });
});

describe("what a partner's person reads of its provider's keys", () => {
  it("a generic error, not the internal URL or its answer; an administrator sees the detail", async () => {
    named.set("leak", `${internalBase}/admin/forbidden`.replace("127.0.0.1", "169.254.169.254"));
    await asAdmin(
      gw,
      "POST",
      "/admin/v1/partners/g7-fvey/identity-providers",
      { id: "leak", issuer: `${idpBase}/leak`, audiences: ["a"] },
      201,
    );
    const path = "/admin/v1/partners/g7-fvey/identity-providers/leak";
    // The provider's key set is fetched in the background: asked until its failure is recorded.
    const admin = await eventually(
      () => call(gw, ADMIN_TOKEN, "GET", path),
      (r) => Boolean(r.body.keys?.last_error),
    );
    expect(admin.body.keys.last_error).toMatch(/169\.254\.169\.254/);
    const partner = await call(
      gw,
      await createIdentity(gw, "fvey-reader", ["partner"], "g7-fvey"),
      "GET",
      path,
    );
    expect(partner.status).toBe(200);
    expect(partner.body.keys).toEqual({
      kids: [],
      fetched_at: null,
      last_error: "the provider's keys could not be fetched; ask the gateway's operator for the detail",
      usable: false,
    });
  });
});

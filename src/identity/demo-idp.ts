/**
 * The demo's partner identity provider (`npm start`): a stand-in for a partner government's eID
 * service on loopback, with OIDC discovery, a JWKS and a token endpoint that signs ES256 tokens for
 * two demo people. A demo, not an identity provider: anyone who can reach it gets a token.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import type { ControlState } from "../control/state.js";
import type { Store } from "../store/index.js";
import { addProvider, PROVIDERS } from "./registry.js";
import { providerInputSchema, type ProviderRecord } from "./schema.js";

export const DEMO_AUDIENCE = "clearance-demo";
export const DEMO_PROVIDER_ID = "demo-partner-eid";

/** Who the demo IdP vouches for: a German citizen, and a Brazilian (outside the G7 partner's reach). */
export const DEMO_PEOPLE: Readonly<Record<string, Record<string, unknown>>> = {
  anna: { name: "Anna Schmidt", nationality: ["DE"], acr: "urn:demo:loa:high" },
  bruno: { name: "Bruno Costa", nationality: ["BR"], acr: "urn:demo:loa:high" },
};

export interface DemoIdp {
  readonly issuer: string;
  close(): Promise<void>;
}

export async function startDemoIdp(host = "127.0.0.1"): Promise<DemoIdp> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "demo-1", alg: "ES256", use: "sig" };
  let issuer = "";
  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", issuer);
    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return json(200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        token_endpoint: `${issuer}/token`,
        id_token_signing_alg_values_supported: ["ES256"],
      });
    }
    if (req.method === "GET" && url.pathname === "/jwks") return json(200, { keys: [jwk] });
    if (req.method === "POST" && url.pathname === "/token") {
      let body = "";
      req.on("data", (c: Buffer) => {
        if (body.length < 1024) body += c.toString();
      });
      req.on("end", () => {
        const subject = new URLSearchParams(body).get("subject") ?? url.searchParams.get("subject") ?? "";
        const person = DEMO_PEOPLE[subject];
        if (person === undefined) {
          return json(400, {
            error: "invalid_request",
            error_description: `subject: one of ${Object.keys(DEMO_PEOPLE).join(", ")}`,
          });
        }
        void sign(privateKey, issuer, subject, person).then((token) =>
          json(200, { access_token: token, token_type: "Bearer", expires_in: 600 }),
        );
      });
      return;
    }
    json(404, { error: "not_found" });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  issuer = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sign(key: CryptoKey, issuer: string, subject: string, person: Record<string, unknown>) {
  return new SignJWT({ ...person })
    .setProtectedHeader({ alg: "ES256", kid: "demo-1", typ: "at+jwt" })
    .setIssuer(issuer)
    .setAudience(DEMO_AUDIENCE)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key);
}

/** Registers (or points at this run's address) the demo IdP as the G7 partner's provider. */
export async function registerDemoIdp(store: Store, state: ControlState, issuer: string): Promise<void> {
  const input = providerInputSchema.parse({
    id: DEMO_PROVIDER_ID,
    name: "Partner government eID (demo)",
    issuer,
    audiences: [DEMO_AUDIENCE],
    claims: { citizenships: "nationality", display_name: "name" },
    assurance: { acr: { "urn:demo:loa:high": "attested" } },
    max_assurance: "attested",
  });
  const existing = await store.records.get<ProviderRecord>(PROVIDERS, DEMO_PROVIDER_ID);
  if (existing === undefined || existing.document.removed !== null) {
    // The demo IdP listens on loopback over plain http (the demo turns identity.allow_http_loopback on).
    await addProvider(store, state, "g7-fvey", input, "demo", new Date().toISOString(), true);
  } else if (existing.document.issuer !== issuer) {
    await store.records.put(
      PROVIDERS,
      DEMO_PROVIDER_ID,
      { ...existing.document, issuer },
      existing.revision,
      {
        actor: "demo",
        action: "identity-provider.update",
        details: { partner: existing.document.partner, changed: ["issuer"], issuer },
      },
    );
  }
}

/**
 * A real OpenID provider for tests (panva's oidc-provider) on a loopback port: its own discovery
 * document and JWKS, and JWT access tokens from the client-credentials grant. Each client stands for
 * one person of the partner: its id is the token's subject, its `person` metadata the extra claims.
 * `rotate` switches to a new signing key (the old one still published), as a provider rotates.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import Provider from "oidc-provider";

export const AUDIENCE = "urn:clearance:gateway";
const SECRET = "client-secret-for-tests-0123456789abcdef";

export type SigningAlg = "RS256" | "ES256" | "EdDSA" | "PS256";

export interface TestIdp {
  readonly issuer: string;
  /** An access token (a JWT) for a client (the person's subject). */
  token(client: string): Promise<string>;
  /** A new signing key (the previous one stays published). */
  rotate(alg?: SigningAlg): Promise<string>;
  /** Requests to the JWKS endpoint so far. */
  readonly jwksRequests: number;
  /** The discovery document answers 503 while set (its endpoint down; the rest still answers). */
  discoveryDown: boolean;
  close(): Promise<void>;
}

export interface TestIdpOptions {
  /** Client id → the person's extra claims. */
  readonly people: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly alg?: SigningAlg;
  readonly audience?: string;
  /**
   * A public client for the console's sign-in (authorization code with PKCE, no secret): people log
   * in at the provider's own (development) login page with their client id as the login name.
   */
  readonly console?: { readonly clientId: string; readonly redirectUri: string };
}

export async function signingKey(alg: SigningAlg, kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}),
  });
  return { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
}

export async function startTestIdp(options: TestIdpOptions): Promise<TestIdp> {
  let provider: Provider | undefined;
  let jwksRequests = 0;
  let discoveryDown = false;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith("/jwks")) jwksRequests += 1;
    if (discoveryDown && req.url?.startsWith("/.well-known/openid-configuration")) {
      res.writeHead(503).end();
      return;
    }
    if (provider === undefined) {
      res.writeHead(503).end();
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const audience = options.audience ?? AUDIENCE;
  let keys: JWK[] = [];
  let generation = 0;

  const build = (alg: SigningAlg) =>
    new Provider(issuer, {
      jwks: { keys: keys as never },
      clients: [
        ...Object.entries(options.people).map(([id, person]) => ({
          client_id: id,
          client_secret: SECRET,
          grant_types: ["client_credentials"],
          redirect_uris: [],
          response_types: [],
          // The provider's default (RS256) needs an RSA key; this one may hold only EC or OKP keys.
          id_token_signed_response_alg: alg,
          person,
        })),
        ...(options.console === undefined
          ? []
          : [
              {
                client_id: options.console.clientId,
                token_endpoint_auth_method: "none",
                grant_types: ["authorization_code"],
                response_types: ["code"],
                redirect_uris: [options.console.redirectUri],
                id_token_signed_response_alg: alg,
              },
            ]),
      ],
      // The login name is the person: the same facts as its client's tokens carry.
      findAccount: (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: () => ({ sub, ...(options.people[sub] ?? {}) }),
      }),
      claims: { openid: ["sub"], profile: ["name"] },
      conformIdTokenClaims: false,
      extraClientMetadata: { properties: ["person"] },
      features: {
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => audience,
          getResourceServerInfo: () => ({
            scope: "api",
            audience,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg } },
          }),
        },
      },
      ttl: { ClientCredentials: 600 },
      extraTokenClaims: (ctx: { oidc: { client?: { person?: object } } }) => ({
        ...(ctx.oidc.client?.person ?? {}),
      }),
    });

  const rotate = async (alg: SigningAlg = options.alg ?? "RS256"): Promise<string> => {
    generation += 1;
    const kid = `key-${generation}`;
    // The new key first: oidc-provider signs with the first key of the algorithm.
    keys = [await signingKey(alg, kid), ...keys];
    provider = build(alg);
    return kid;
  };
  await rotate(options.alg ?? "RS256");

  return {
    issuer,
    get jwksRequests() {
      return jwksRequests;
    },
    get discoveryDown() {
      return discoveryDown;
    },
    set discoveryDown(down: boolean) {
      discoveryDown = down;
    },
    rotate,
    async token(client) {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${client}:${SECRET}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: "grant_type=client_credentials&scope=api",
      });
      const body = (await res.json()) as { access_token?: string };
      if (body.access_token === undefined) throw new Error(`no token for ${client}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

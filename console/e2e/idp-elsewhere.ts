/**
 * An OpenID provider (panva's oidc-provider) whose token endpoint is on another origin than its
 * issuer, as Google's and Cognito's are: the issuer is http://127.0.0.1:<port>, and its discovery
 * document names https://localhost:<other port>/token — a TLS server (a certificate made for the
 * test by openssl, which the browser is told to accept) in front of the same provider. Plain http
 * would not do: the console follows a discovery document's URLs to plain http only at the issuer's
 * own origin. Without openssl, `OPENSSL` is null and the tests using this skip.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Provider from "oidc-provider";
import { signingKey } from "../../src/testing/oidc.js";

function findOpenssl(): string | null {
  try {
    return execFileSync("sh", ["-c", "command -v openssl"], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

export const OPENSSL = findOpenssl();

export interface IdpElsewhere {
  readonly issuer: string;
  /** Where the discovery document says codes are redeemed: another origin than the issuer's. */
  readonly tokenEndpoint: string;
  /** Token requests that reached the provider through the other origin. */
  readonly tokenRequests: number;
  close(): Promise<void>;
}

/** Passes a request on to a server on a loopback port, as it came (its Host header too). */
export function forward(req: IncomingMessage, res: ServerResponse, port: number): void {
  const upstream = request(
    { host: "127.0.0.1", port, path: req.url, method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", () => res.writeHead(502).end());
  req.pipe(upstream);
}

const listen = (server: Server, host: string) =>
  new Promise<number>((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );

export async function startIdpElsewhere(options: {
  readonly clientId: string;
  readonly redirectUri: string;
  /** Login name → the person's claims. */
  readonly people: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}): Promise<IdpElsewhere> {
  const dir = mkdtempSync(join(tmpdir(), "clearance-idp-tls-"));
  execFileSync(
    OPENSSL as string,
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2"],
      ...["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
    ],
    { stdio: "ignore" },
  );

  // The issuer and the token origin, in front of the provider itself (on a port of its own).
  const front = createServer();
  const tls = createTlsServer({
    key: readFileSync(join(dir, "key.pem")),
    cert: readFileSync(join(dir, "cert.pem")),
  });
  const issuer = `http://127.0.0.1:${await listen(front, "127.0.0.1")}`;
  const tokenEndpoint = `https://localhost:${await listen(tls, "127.0.0.1")}/token`;

  const provider = new Provider(issuer, {
    jwks: { keys: [(await signingKey("ES256", "key-1")) as never] },
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: [options.redirectUri],
        id_token_signed_response_alg: "ES256",
      },
    ],
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({ sub, ...(options.people[sub] ?? {}) }),
    }),
    claims: { openid: ["sub"], profile: ["name"] },
    conformIdTokenClaims: false,
  });
  const inner = createServer(provider.callback());
  const innerPort = await listen(inner, "127.0.0.1");

  front.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== "/.well-known/openid-configuration") return forward(req, res, innerPort);
    // The provider's own document (asked with the issuer's Host: it writes its URLs from it),
    // naming the token endpoint on the other origin.
    const asked = request(
      { host: "127.0.0.1", port: innerPort, path: req.url, headers: { host: req.headers.host } },
      (answer) => {
        let text = "";
        answer.setEncoding("utf8");
        answer.on("data", (c: string) => (text += c));
        answer.on("end", () => {
          const doc = JSON.parse(text) as Record<string, unknown>;
          const body = JSON.stringify({ ...doc, token_endpoint: tokenEndpoint });
          res.writeHead(200, {
            "content-type": "application/json",
            "access-control-allow-origin": "*",
            "content-length": Buffer.byteLength(body),
          });
          res.end(body);
        });
      },
    );
    asked.on("error", () => res.writeHead(502).end());
    asked.end();
  });
  let tokenRequests = 0;
  tls.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/token" && req.method === "POST") tokenRequests += 1;
    forward(req, res, innerPort);
  });

  return {
    issuer,
    tokenEndpoint,
    get tokenRequests() {
      return tokenRequests;
    },
    async close() {
      for (const s of [front, tls, inner]) {
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
    },
  };
}

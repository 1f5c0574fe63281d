/**
 * The console's CSP and partner sign-in: connect-src holds each sign-in provider's issuer and the
 * token endpoint its discovery document names (on another host at Google and Cognito), by the
 * console's own rule for such URLs, and nothing else; the documents are read by the gateway once
 * per issuer and age, not per page load; an origin that could end a directive is never written.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../testing/oidc.js";
import { CONTENT_SECURITY_POLICY, consolePolicy, serveConsole } from "./static.js";
import { SignInOrigins, cspOrigin, discoveryUrl, signInOrigins } from "./sign-in-origins.js";

const connectSrc = (policy: string) =>
  policy
    .split("; ")
    .find((d) => d.startsWith("connect-src "))
    ?.split(" ")
    .slice(1);

/** Google's discovery document (abridged): the token endpoint is not on the issuer's host. */
const GOOGLE = {
  issuer: "https://accounts.google.com",
  authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth",
  token_endpoint: "https://oauth2.googleapis.com/token",
  jwks_uri: "https://www.googleapis.com/oauth2/v3/certs",
};
/** Cognito's: the issuer is the user pool's, the endpoints the pool's own domain. */
const COGNITO_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123";
const COGNITO = {
  issuer: COGNITO_ISSUER,
  authorization_endpoint: "https://login.partner.example/oauth2/authorize",
  token_endpoint: "https://login.partner.example/oauth2/token",
  jwks_uri: `${COGNITO_ISSUER}/.well-known/jwks.json`,
};

describe("the console's CSP for partner sign-in", () => {
  it("connect-src: 'self', the issuers and the token endpoints on other hosts; nothing else", () => {
    expect(signInOrigins(GOOGLE.issuer, GOOGLE, false)).toEqual([
      "https://accounts.google.com",
      "https://oauth2.googleapis.com",
    ]);
    expect(signInOrigins(COGNITO_ISSUER, COGNITO, false)).toEqual([
      "https://cognito-idp.eu-west-1.amazonaws.com",
      "https://login.partner.example",
    ]);
    const policy = consolePolicy([
      ...signInOrigins(GOOGLE.issuer, GOOGLE, false),
      ...signInOrigins(COGNITO_ISSUER, COGNITO, false),
    ]);
    expect(connectSrc(policy)).toEqual([
      "'self'",
      "https://accounts.google.com",
      "https://oauth2.googleapis.com",
      "https://cognito-idp.eu-west-1.amazonaws.com",
      "https://login.partner.example",
    ]);
    // The key set is the admin API's to fetch, not the browser's: not opened.
    expect(policy).not.toContain("www.googleapis.com");
    // Every other directive as before.
    expect(policy.replace(/connect-src [^;]*/, "connect-src 'self'")).toBe(CONTENT_SECURITY_POLICY);
    expect(consolePolicy([])).toBe(CONTENT_SECURITY_POLICY);
  });

  it("a token endpoint the console would refuse, or another issuer's document, adds nothing", () => {
    const issuerOnly = ["https://accounts.google.com"];
    // Plain http, data:, no URL, or no token endpoint at all.
    for (const token_endpoint of ["http://oauth2.example/token", "data:text/plain,x", "token", undefined]) {
      expect(signInOrigins(GOOGLE.issuer, { ...GOOGLE, token_endpoint }, false)).toEqual(issuerOnly);
    }
    // The document is not the issuer's own (Discovery 1.0, 4.3).
    expect(signInOrigins(GOOGLE.issuer, { ...GOOGLE, issuer: "https://evil.example" }, false)).toEqual(
      issuerOnly,
    );
    // Not read (yet): the issuer's origin only, as before.
    expect(signInOrigins(GOOGLE.issuer, null, false)).toEqual(issuerOnly);
    // Plain http on loopback: only where allowed, and only at the issuer's own origin.
    const local = { issuer: "http://127.0.0.1:5000", token_endpoint: "http://127.0.0.1:5000/token" };
    expect(signInOrigins(local.issuer, local, true)).toEqual(["http://127.0.0.1:5000"]);
    const elsewhere = { ...local, token_endpoint: "http://127.0.0.1:6000/token" };
    expect(signInOrigins(local.issuer, elsewhere, true)).toEqual(["http://127.0.0.1:5000"]);
  });

  it("an origin that could end a directive or the policy is never written", () => {
    // A URL's origin lets these through in a host name.
    for (const host of ["x;sandbox.example", "x,y.example", "ex*ample.com"]) {
      expect(cspOrigin(`https://${host}/token`)).toBeNull();
      const doc = { ...GOOGLE, token_endpoint: `https://${host}/token` };
      expect(signInOrigins(GOOGLE.issuer, doc, false)).toEqual(["https://accounts.google.com"]);
      expect(consolePolicy([`https://${host}`])).toBe(CONTENT_SECURITY_POLICY);
    }
    expect(cspOrigin("https://Login.Example:8443/a?b#c")).toBe("https://login.example:8443");
    expect(cspOrigin("http://[::1]:8080/")).toBe("http://[::1]:8080");
    expect(cspOrigin("ftp://files.example")).toBeNull();
  });
});

describe("reading the sign-in providers' discovery documents", () => {
  const docs = new Map<string, unknown>([
    [discoveryUrl(GOOGLE.issuer), GOOGLE],
    [discoveryUrl(COGNITO_ISSUER), COGNITO],
  ]);

  it("once per issuer and age, not per page load; a page waits for a first read, other files do not", async () => {
    let now = 0;
    const asked: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const origins = new SignInOrigins(() => [{ issuer: GOOGLE.issuer }, { issuer: GOOGLE.issuer }], {
      allowHttpLoopback: false,
      maxAgeMs: 1_000,
      now: () => now,
      fetchJson: async (url) => {
        asked.push(url);
        await gate;
        return docs.get(url);
      },
    });
    // An asset while the first read runs: what is known now, without waiting.
    expect(await origins.origins(false)).toEqual(["https://accounts.google.com"]);
    const page = origins.origins(true);
    release();
    expect(await page).toEqual(["https://accounts.google.com", "https://oauth2.googleapis.com"]);
    for (let i = 0; i < 20; i++) await origins.origins(true);
    expect(asked).toEqual([discoveryUrl(GOOGLE.issuer)]);
    // Due again: read again, while the last document serves.
    now = 1_000;
    expect(await origins.origins(true)).toEqual([
      "https://accounts.google.com",
      "https://oauth2.googleapis.com",
    ]);
    expect(asked).toHaveLength(2);
  });

  it("a failed read keeps the last document, is retried after a while; a provider no longer listed is forgotten", async () => {
    let now = 0;
    let up = true;
    let listed = [{ issuer: COGNITO_ISSUER }];
    const origins = new SignInOrigins(() => listed, {
      allowHttpLoopback: false,
      maxAgeMs: 1_000,
      retryMs: 100,
      now: () => now,
      fetchJson: async (url) => {
        if (!up) throw new Error("down");
        return docs.get(url);
      },
    });
    const both = ["https://cognito-idp.eu-west-1.amazonaws.com", "https://login.partner.example"];
    expect(await origins.origins(true)).toEqual(both);
    up = false;
    now = 1_000;
    expect(await origins.origins(true)).toEqual(both);
    expect(origins.fetches).toBe(2);
    now = 1_050;
    await origins.origins(true);
    expect(origins.fetches).toBe(2);
    now = 1_100;
    await origins.origins(true);
    expect(origins.fetches).toBe(3);
    listed = [];
    expect(await origins.origins(true)).toEqual([]);
  });

  it("an internal address is not fetched (the key fetch's guard); the issuer's origin stays", async () => {
    const origins = new SignInOrigins(() => [{ issuer: "https://169.254.169.254" }], {
      allowHttpLoopback: false,
    });
    expect(await origins.origins(true)).toEqual(["https://169.254.169.254"]);
    expect(origins.fetches).toBe(1);
  });
});

describe("with a real OpenID provider (oidc-provider)", () => {
  let idp: TestIdp;
  let server: Server;
  let url: string;
  let origins: SignInOrigins;
  beforeAll(async () => {
    idp = await startTestIdp({
      people: {},
      console: { clientId: "clearance-console", redirectUri: "http://127.0.0.1/console/" },
    });
    origins = new SignInOrigins(() => [{ issuer: idp.issuer }], { allowHttpLoopback: true });
    const dir = mkdtempSync(join(tmpdir(), "clearance-console-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>Clearance</title>");
    server = createServer((req, res) => {
      void serveConsole(dir, req, res, "/console/", origins).catch(() => res.writeHead(500).end());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await idp.close();
  });

  it("the first page waits for its discovery document, read through the guard; later ones do not read it", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/console/`);
      expect(await res.text()).toContain("<title>Clearance</title>");
      // oidc-provider serves its token endpoint at the issuer: the issuer's origin, once.
      expect(connectSrc(res.headers.get("content-security-policy") ?? "")).toEqual(["'self'", idp.issuer]);
    }
    expect(origins.fetches).toBe(1);
  });
});

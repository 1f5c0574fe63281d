/**
 * The rules for a provider's URLs that the admin schema, the gateway's key fetch and the console's
 * sign-in share: which hosts are loopback (one table for all three), and which endpoints a partner's
 * discovery document may send the console's sign-in to.
 */
import { describe, expect, it } from "vitest";
import { urlRefusal } from "./outbound.js";
import { discoveredUrlProblem, isLoopbackHost } from "./provider-urls.js";
import { providerInputSchema } from "./schema.js";

/** [host as written in a URL, loopback?] */
const LOOPBACK_CASES = [
  ["localhost", true],
  ["LocalHost", true],
  ["127.0.0.1", true],
  ["127.255.255.254", true],
  ["127.1", true], // the URL parser writes 127.0.0.1
  ["0x7f.0.0.1", true],
  ["[::1]", true],
  ["[0:0:0:0:0:0:0:1]", true],
  ["[::ffff:127.0.0.1]", true], // IPv4-mapped: connects to 127.0.0.1
  ["[::ffff:7f00:2]", true],
  ["foo.localhost", false], // resolved by the network's DNS for Node: it may answer anything
  ["localhost.example", false],
  ["127.0.0.1.nip.io", false],
  ["128.0.0.1", false],
  ["10.0.0.1", false],
  ["0.0.0.0", false],
  ["[::]", false],
  ["[::ffff:10.0.0.1]", false],
  ["[::127.0.0.1]", false], // IPv4-compatible (deprecated): not connected as 127.0.0.1
  ["[64:ff9b::7f00:1]", false], // NAT64: the translator's loopback, not this machine's
  ["idp.example", false],
] as const;

describe("loopback hosts: one rule for the schema, the key fetch and the console", () => {
  it.each(LOOPBACK_CASES)("%s: loopback %s", (host, loopback) => {
    const url = `http://${host}:8080/realm`;
    expect(isLoopbackHost(new URL(url).hostname), "the shared rule").toBe(loopback);
    const registered = providerInputSchema.safeParse({ id: "x", issuer: url, audiences: ["a"] });
    expect(registered.success, "the admin schema").toBe(loopback);
    expect(urlRefusal(url, true) === null, "the key fetch").toBe(loopback);
  });
});

describe("the endpoints a discovery document names (the console's sign-in)", () => {
  const issuer = "https://login.partner.example";
  const loopbackIssuer = "http://127.0.0.1:9000";
  const problem = (url: unknown, registered = issuer, allow = false) =>
    discoveredUrlProblem({ authorization_endpoint: url }, "authorization_endpoint", registered, allow);

  it("accepts https, at the issuer's origin or another (a provider's login may live elsewhere)", () => {
    expect(problem("https://login.partner.example/auth")).toBeNull();
    expect(problem("https://partner.auth.eu-west-1.amazoncognito.com/oauth2/authorize")).toBeNull();
  });

  it("refuses data:, javascript:, plain http and no URL, naming the field", () => {
    for (const [url, code] of [
      ["data:text/html,<script>alert(1)</script>", "insecure_url"],
      ["javascript:alert(1)", "insecure_url"],
      ["http://login.partner.example/auth", "insecure_url"],
      ["ftp://login.partner.example/auth", "insecure_url"],
      ["/auth", "invalid_url"],
      ["not a url", "invalid_url"],
      ["", "invalid_type"],
      [undefined, "invalid_type"],
      [42, "invalid_type"],
    ] as const) {
      const p = problem(url);
      expect(p?.code, String(url)).toBe(code);
      expect(p?.path, String(url)).toEqual(["authorization_endpoint"]);
      expect(p?.message, String(url)).toMatch(/authorization_endpoint/);
    }
  });

  it("plain http to loopback only where allow_http_loopback is on, and at the issuer's origin", () => {
    expect(problem("http://127.0.0.1:9000/auth", loopbackIssuer, true)).toBeNull();
    expect(problem("http://127.0.0.1:9000/auth", loopbackIssuer, false)?.message).toMatch(
      /authorization_endpoint is refused: .*identity\.allow_http_loopback/,
    );
    // Another loopback port: another service on that machine, not the provider the operator registered.
    expect(problem("http://127.0.0.1:6379/", loopbackIssuer, true)?.code).toBe("insecure_url");
    expect(problem("http://localhost:9000/auth", loopbackIssuer, true)?.code).toBe("insecure_url");
    expect(problem("http://foo.localhost:9000/auth", "http://foo.localhost:9000", true)?.code).toBe(
      "insecure_url",
    );
  });

  it("the token endpoint by the same rule", () => {
    const doc = { authorization_endpoint: `${issuer}/auth`, token_endpoint: "http://evil.example/token" };
    expect(discoveredUrlProblem(doc, "token_endpoint", issuer, true)).toEqual({
      code: "insecure_url",
      path: ["token_endpoint"],
      message:
        "the discovery document's token_endpoint is refused: http://evil.example/token: plain http is refused (https only)",
    });
  });
});

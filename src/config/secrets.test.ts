/**
 * Secrets from the environment: a Kubernetes Secret or a file read into a variable often ends in a
 * newline. Kept, the admin token never matched (headers lose trailing white space) and every upstream
 * call failed ("unreachable"). Tokens and URLs are trimmed; control characters inside are refused;
 * HMAC keys are used byte for byte, as before (trimming would change every pseudonym made so far).
 * Never the value is said.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";
import { refusedWith } from "../testing/config.js";

const ADMIN = "A".repeat(40);
const CONFIG = `scheme: g7-trusted-partners.yaml
providers: { up: { type: openai, base_url: "https://api.example.com/v1", api_key_env: UP_KEY } }
default_provider: up
`;
const load = (env: NodeJS.ProcessEnv, extra = "") =>
  parseConfig(CONFIG + extra, join("examples", "test.yaml"), { UP_KEY: "sk-test", ...env });

const problems = (env: NodeJS.ProcessEnv, extra = "") => refusedWith(() => load(env, extra));

describe("secrets from the environment", () => {
  it("trims the newline a file-mounted secret ends in: admin token, API key, URLs, audit key", () => {
    const c = load(
      {
        CLEARANCE_ADMIN_TOKEN: `${ADMIN}\n`,
        UP_KEY: " sk-test\r\n",
        DATABASE_URL: "postgres://x/y\n",
        REDIS_URL: "redis://r\n",
        AUDIT_KEY: "PRIVATE+KEY+x\n",
      },
      "store: { driver: postgres }\ncounters: { driver: redis }\nmonitoring: { alerts: { shared: redis } }\naudit: { key_env: AUDIT_KEY }\n",
    );
    expect(c.adminToken).toBe(ADMIN);
    expect(c.apiKeys.get("up")).toBe("sk-test");
    expect([c.storeUrl, c.countersUrl, c.auditKey]).toEqual(["postgres://x/y", "redis://r", "PRIVATE+KEY+x"]);
  });

  it("counts a variable of white space alone as unset", () => {
    expect(problems({ UP_KEY: " \n" })).toEqual([
      expect.objectContaining({
        code: "missing_secret",
        path: ["providers", "up", "api_key_env"],
        message: "environment variable UP_KEY is not set",
      }),
    ]);
    expect(load({ CLEARANCE_ADMIN_TOKEN: "\n" }).adminToken).toBeNull();
  });

  it("refuses a line break or a space inside a token, naming the variable and never the value", () => {
    const found = problems({ CLEARANCE_ADMIN_TOKEN: `${ADMIN}\nSECOND-LINE`, UP_KEY: "sk-one two" });
    expect(found).toEqual([
      expect.objectContaining({
        code: "invalid_secret",
        path: ["admin", "token_env"],
        message: expect.stringMatching(/^environment variable CLEARANCE_ADMIN_TOKEN holds/) as unknown,
      }),
      expect.objectContaining({
        code: "invalid_secret",
        path: ["providers", "up", "api_key_env"],
        line: 2,
        message: expect.stringMatching(/^environment variable UP_KEY holds a space, a line break/) as unknown,
      }),
    ]);
    expect(JSON.stringify(found)).not.toMatch(/SECOND-LINE|sk-one|AAAA/);
  });

  it("refuses a control character inside a URL or the audit key", () => {
    const found = problems(
      { DATABASE_URL: "postgres://x/y\npostgres://z/w", AUDIT_KEY: "PRIVATE+KEY\tx" },
      "store: { driver: postgres }\naudit: { key_env: AUDIT_KEY }\n",
    );
    expect(found.map((p) => [p.code, p.path.join("."), p.line])).toEqual([
      ["invalid_secret", "store.url_env", 4],
      ["invalid_secret", "audit.key_env", 5],
    ]);
    expect(JSON.stringify(found)).not.toMatch(/postgres:|PRIVATE/);
  });

  it("keeps an HMAC key byte for byte, a file's newline included, as pseudonyms made so far used it", () => {
    const extra =
      'audit: { pseudonym_key_env: PSEUDONYM }\nmonitoring: { alerts: { webhook: { url: "https://h.example/x" } } }\n';
    const c = load(
      { PSEUDONYM: "pseudonym-key\n", CLEARANCE_WEBHOOK_SECRET: " whsec-0123456789-0123456789-0123456789" },
      extra,
    );
    expect([c.pseudonymKey, c.webhookSecret]).toEqual([
      "pseudonym-key\n",
      " whsec-0123456789-0123456789-0123456789",
    ]);
    // A second line inside is no key anyone meant.
    expect(
      problems(
        { PSEUDONYM: "pseudonym\nkey", CLEARANCE_WEBHOOK_SECRET: "whsec-0123456789-0123456789-0123456789" },
        extra,
      ),
    ).toEqual([
      expect.objectContaining({
        path: ["audit", "pseudonym_key_env"],
        message: expect.stringMatching(/^environment variable PSEUDONYM holds a line break/) as unknown,
      }),
    ]);
  });

  it("still refuses a short admin token once trimmed", () => {
    expect(problems({ CLEARANCE_ADMIN_TOKEN: `${"x".repeat(31)}\n` })).toEqual([
      expect.objectContaining({ code: "weak_secret", path: ["admin", "token_env"] }),
    ]);
  });
});

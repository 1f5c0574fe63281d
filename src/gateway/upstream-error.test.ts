import { describe, expect, it } from "vitest";
import { redact } from "./upstream-error.js";

describe("redact: what the gateway's log keeps of an upstream's error text", () => {
  it("takes out the upstream's own key wherever it appears, and credential-shaped words", () => {
    expect(redact("bad key corp-key-12345678 (corp-key-12345678)", ["corp-key-12345678"])).toBe(
      "bad key [redacted] ([redacted])",
    );
    expect(redact("Authorization: Bearer eyJhbGciOi.x.y was refused")).toBe(
      "Authorization: Bearer [redacted] was refused",
    );
    expect(redact("Incorrect API key provided: sk-proj-abcDEF123456.")).toBe(
      "Incorrect API key provided: [redacted].",
    );
    expect(redact('{"api_key": "abc123", "x": 1} and ?apikey=zzz&y=2')).toBe(
      '{"api_key": "[redacted]", "x": 1} and ?apikey=[redacted]&y=2',
    );
  });
  it("also as escaped JSON in a string, basic credentials, tokens and passwords", () => {
    expect(redact('{"message":"{\\"api_key\\": \\"hop2-secret-0123\\"}"}')).toBe(
      '{"message":"{\\"api_key\\": \\"[redacted]\\"}"}',
    );
    expect(redact("Authorization: Basic dXNlcjpwYXNz")).toBe("Authorization: Basic [redacted]");
    expect(redact("?access_token=abc123&x=1 password=hunter2; secret: s3")).toBe(
      "?access_token=[redacted]&x=1 password=[redacted]; secret: [redacted]",
    );
  });
  it("a text cut inside the upstream's key, or an sk- key, loses that start too", () => {
    const key = "abcd1234efgh5678ijkl9012";
    expect(redact(`bad key ${key.slice(0, 15)}`, [key])).toBe("bad key [redacted]");
    expect(redact("bad key sk-pro")).toBe("bad key [redacted]");
  });
  it("keeps the rest: hosts, statuses, OpenAI's masked keys, short configured secrets", () => {
    const text = "shard gpu-17.internal.corp overloaded; key sk-abc***xyz; code 42";
    expect(redact(text, ["short"])).toBe(text);
  });
});

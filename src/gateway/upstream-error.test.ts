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
  it("any member or parameter whose name ends like a key, token, secret or password, and URL passwords", () => {
    expect(redact("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG x")).toBe(
      "aws_secret_access_key=[redacted] x",
    );
    expect(
      redact('{"secret_key": "s3cr3t", "privateKey":"pk", "key": "k1", "client_credentials": "c"}'),
    ).toBe(
      '{"secret_key": "[redacted]", "privateKey":"[redacted]", "key": "[redacted]", "client_credentials": "[redacted]"}',
    );
    expect(redact("GET https://x.googleapis.com/v1/models?key=AIzaSyA12345&alt=json")).toBe(
      "GET https://x.googleapis.com/v1/models?key=[redacted]&alt=json",
    );
    // A quoted value is taken to its closing quote, spaces and escaped quotes included.
    expect(redact('{"password": "correct horse \\"battery\\" staple", "user": "u"}')).toBe(
      '{"password": "[redacted]", "user": "u"}',
    );
    expect(redact("could not connect to postgresql://llm:Passw0rd@db.internal:5432/litellm")).toBe(
      "could not connect to postgresql://llm:[redacted]@db.internal:5432/litellm",
    );
    expect(redact("redis://:p@ss/w0rd@10.0.0.5:6379 refused")).toBe(
      "redis://:[redacted]@10.0.0.5:6379 refused",
    );
    // Counts and names that only mention tokens stay readable.
    expect(redact('{"max_tokens": 4096, "input_tokens": 12, "keys": 3}')).toBe(
      '{"max_tokens": 4096, "input_tokens": 12, "keys": 3}',
    );
  });
  it("a secret member holding an @ after a URL in one run is hidden whole, and an escaped quoted one to its quote", () => {
    expect(redact('{"db":"postgres://u:pw@db","password":"hun@ter2"}')).toBe(
      '{"db":"postgres://u:[redacted]@db","password":"[redacted]"}',
    );
    expect(redact("a://b:c@h?password=se@cret")).toBe("a://b:[redacted]@h?password=[redacted]");
    expect(redact('{\\"password\\": \\"a b c\\", \\"x\\": 1}')).toBe(
      '{\\"password\\": \\"[redacted]\\", \\"x\\": 1}',
    );
  });

  it("scans an upstream's text once: a long run of name characters or URL starts holds nothing up", () => {
    // Each of these, 256 KiB long, held the event loop for minutes when every pattern was tried
    // again from each character of the run (an error event in a stream may be megabytes).
    for (const unit of ["a-", "-a", "x://a:", "key-", 'k: "\\']) {
      const text = unit.repeat(Math.ceil(262_144 / unit.length));
      expect(redact(text, ["corp-key-12345678"])).toBe(text);
    }
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

/**
 * monitoring.alerts.webhook.url: http or https, no user name or password, refused at load with the
 * field's path (any URL loaded before, and one of another scheme then failed every delivery). Its
 * signing secret: at least 32 bytes (any non-empty one loaded before, a guessable "test" too).
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import { refusedWith } from "../testing/config.js";
import { MIN_WEBHOOK_SECRET, parseConfig } from "./index.js";

const SECRET = "whsec-test-0123456789abcdefghijklmn"; // 34 bytes
const load = (url: string, secret = SECRET) =>
  parseConfig(
    `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
monitoring: { alerts: { webhook: { url: "${url}" } } }
`,
    join("examples", "test.yaml"),
    { CLEARANCE_WEBHOOK_SECRET: secret },
  );

function problems(url: string) {
  try {
    load(url);
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems.map((p) => ({ ...p }));
    throw err;
  }
  throw new Error(`expected ${url} to be refused`);
}

it.each(["ftp://hooks.example.com/x", "file:///etc/passwd", "mailto:soc@example.com", "ws://h/x"])(
  "refuses %s: not http or https",
  (url) => {
    expect(problems(url)).toEqual([
      expect.objectContaining({
        path: ["monitoring", "alerts", "webhook", "url"],
        line: 4,
        message: expect.stringMatching(/expected an http:\/\/ or https:\/\/ URL/) as unknown,
      }),
    ]);
  },
);

it.each(["http://user:pw@127.0.0.1:9/x", "https://token@hooks.example.com/x"])(
  "refuses %s: credentials in the URL",
  (url) => {
    expect(problems(url)).toEqual([
      expect.objectContaining({
        path: ["monitoring", "alerts", "webhook", "url"],
        message: expect.stringMatching(/must not carry a user name or password/) as unknown,
      }),
    ]);
  },
);

it("takes an http or https URL", () => {
  expect(load("https://hooks.example.com/clearance?team=soc").file.monitoring.alerts.webhook.url).toBe(
    "https://hooks.example.com/clearance?team=soc",
  );
  expect(load("http://127.0.0.1:9000/hook").webhookSecret).toBe(SECRET);
});

it("refuses a signing secret shorter than 32 bytes, naming the variable and never the value", () => {
  for (const secret of [
    "whsec-test-0123456789",
    "x".repeat(31),
    `${"x".repeat(31)}\n`,
    " ".repeat(3) + "é".repeat(14),
  ]) {
    const found = refusedWith(() => load("https://hooks.example.com/x", secret));
    expect(found, JSON.stringify(secret)).toEqual([
      expect.objectContaining({
        code: "weak_secret",
        path: ["monitoring", "alerts", "webhook", "secret_env"],
        line: 4,
        message: expect.stringMatching(
          /^environment variable CLEARANCE_WEBHOOK_SECRET holds \d+ bytes; the webhook signing secret needs at least 32/,
        ) as unknown,
      }),
    ]);
    expect(JSON.stringify(found)).not.toContain(secret.trim());
  }
  expect(MIN_WEBHOOK_SECRET).toBe(32);
  // Bytes, not characters: 16 two-byte characters are 32 bytes.
  expect(load("https://hooks.example.com/x", "é".repeat(16)).webhookSecret).toBe("é".repeat(16));
  expect(load("https://hooks.example.com/x", "x".repeat(32)).webhookSecret).toBe("x".repeat(32));
});

it.each([
  ["http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
  ["https://169.254.1.2:8443/hook", "169.254.1.2"],
  ["http://[fe80::1]/hook", "fe80::1"],
  ["http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254"],
  ["http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe"],
  ["http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe (169.254.169.254)"],
  // Spelt otherwise, the URL parser reads it as the same address.
  ["http://0xa9fea9fe/", "169.254.169.254"],
  // Alibaba Cloud's instance metadata, outside the link-local range (before the fix: taken).
  ["http://100.100.100.200/latest/meta-data/", "100.100.100.200"],
  ["http://[64:ff9b::6464:64c8]/", "64:ff9b::6464:64c8 (100.100.100.200)"],
  // Local-use NAT64 (RFC 8215), the IPv4 address at any of RFC 6052's offsets (before the fix: taken):
  // a /96 prefix, a /48 one (octets 6, 7, 9, 10), a /64 one.
  ["http://[64:ff9b:1::a9fe:a9fe]/", "64:ff9b:1::a9fe:a9fe (169.254.169.254)"],
  ["http://[64:ff9b:1:a9fe:a9:fe00::]/", "64:ff9b:1:a9fe:a9:fe00:: (169.254.169.254)"],
  ["http://[64:ff9b:1:0:a9:fea9:fe00:0]/", "64:ff9b:1:0:a9:fea9:fe00:0 (169.254.169.254)"],
  ["http://[64:ff9b:1::6464:64c8]/", "64:ff9b:1::6464:64c8 (100.100.100.200)"],
])("refuses %s: a link-local or cloud metadata address, unless allowed", (url, address) => {
  expect(problems(url)).toEqual([
    expect.objectContaining({
      path: ["monitoring", "alerts", "webhook", "url"],
      line: 4,
      message: `the URL names ${address}, a link-local or cloud metadata address: refused unless monitoring.alerts.webhook.allow_link_local is true`,
    }),
  ]);
  const allowed = parseConfig(
    `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
monitoring: { alerts: { webhook: { url: "${url}", allow_link_local: true } } }
`,
    join("examples", "test.yaml"),
    { CLEARANCE_WEBHOOK_SECRET: SECRET },
  );
  expect(allowed.file.monitoring.alerts.webhook).toMatchObject({ allow_link_local: true });
});

it("takes private, loopback and unique-local receivers (the operator's own network)", () => {
  for (const url of [
    "http://10.0.0.7/hook",
    "http://127.0.0.1:9000/hook",
    "http://[fd00:ec2::253]/hook",
    "http://100.100.100.201/hook",
    // 10.0.0.7 through the operator's own local-use NAT64 (a /96 prefix).
    "http://[64:ff9b:1::a00:7]/hook",
  ])
    expect(load(url).file.monitoring.alerts.webhook).toMatchObject({ url, allow_link_local: false });
});

/**
 * monitoring.alerts.webhook.url: http or https, no user name or password, refused at load with the
 * field's path (any URL loaded before, and one of another scheme then failed every delivery).
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import { parseConfig } from "./index.js";

const load = (url: string) =>
  parseConfig(
    `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
monitoring: { alerts: { webhook: { url: "${url}" } } }
`,
    join("examples", "test.yaml"),
    { CLEARANCE_WEBHOOK_SECRET: "whsec-test-0123456789" },
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
  expect(load("http://127.0.0.1:9000/hook").webhookSecret).toBe("whsec-test-0123456789");
});

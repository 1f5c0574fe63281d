/**
 * monitoring.tracing.endpoint: an OTLP/HTTP URL. Any URL loaded (file:, ftp:, grpc:), and the
 * exporter then failed every export out of sight: no span ever left. Refused at its line.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { refusedWith } from "../testing/config.js";
import { parseConfig } from "./index.js";

const parse = (endpoint: string) =>
  parseConfig(
    `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
monitoring:
  tracing: { enabled: true, endpoint: "${endpoint}" }
`,
    join("examples", "test.yaml"),
    {},
  );

describe("monitoring.tracing.endpoint", () => {
  it.each([
    "file:///srv/spans",
    "ftp://collector.example/v1/traces",
    "grpc://collector.example:4317",
    "mailto:x@example.com",
  ])("refuses %s: OTLP/HTTP is sent over http or https only", (endpoint) => {
    expect(refusedWith(() => parse(endpoint))).toEqual([
      expect.objectContaining({
        path: ["monitoring", "tracing", "endpoint"],
        line: 5,
        message: expect.stringMatching(/expected an http:\/\/ or https:\/\/ URL/) as unknown,
      }),
    ]);
  });

  it("takes http and https endpoints", () => {
    for (const endpoint of ["http://127.0.0.1:4318/v1/traces", "https://otel.example.com/v1/traces"]) {
      expect(parse(endpoint).file.monitoring.tracing.endpoint).toBe(endpoint);
    }
  });
});

/**
 * Strings that mean nothing when empty or blank. `data_dir: ""` put the embedded store, the audit
 * log and its signing key in the working directory; `audit.key_file: ""`, `audit.node: ""` and
 * `upstream_model: ""` loaded without a word; `scheme: ""` failed reading the config's directory
 * (EISDIR) with no line or field. Each is refused at its line, naming the field.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { refusedWith } from "../testing/config.js";
import { parseConfig } from "./index.js";

const BASE = `providers:
  demo: { type: demo }
  up: { type: openai, base_url: "http://127.0.0.1:9/v1" }
default_provider: demo
`;
const SCHEME = "scheme: g7-trusted-partners.yaml\n";
const parse = (text: string) => parseConfig(text, join("examples", "test.yaml"), {});

describe("empty and blank strings", () => {
  const FIELDS: readonly [string, (v: string) => string, RegExp][] = [
    ["data_dir", (v) => `data_dir: ${v}\n`, /directory/],
    ["audit.key_file", (v) => `audit:\n  key_file: ${v}\n`, /leave audit\.key_file out/],
    ["audit.node", (v) => `audit:\n  node: ${v}\n`, /leave audit\.node out/],
    [
      "models.mythos-5.upstream_model",
      (v) => `models:\n  mythos-5:\n    provider: up\n    upstream_model: ${v}\n`,
      /leave upstream_model out/,
    ],
    [
      "monitoring.access_log.destination",
      (v) => `monitoring:\n  access_log:\n    destination: ${v}\n`,
      /stdout/,
    ],
    ["monitoring.tracing.service_name", (v) => `monitoring:\n  tracing:\n    service_name: ${v}\n`, /name/],
  ];
  const CASES = FIELDS.flatMap(([path, yaml, message]) =>
    ['""', '" "', '"\\t"'].map((v) => [path, v, yaml, message] as const),
  );

  it.each(CASES)("refuses %s: %s at its line", (path, v, yaml, message) => {
    const text = SCHEME + BASE + yaml(v);
    const found = refusedWith(() => parse(text));
    const line = text.split("\n").findIndex((l) => l.includes(v)) + 1;
    expect(found).toEqual([
      expect.objectContaining({
        path: path.split("."),
        line,
        message: expect.stringMatching(message) as unknown,
      }),
    ]);
  });

  it("takes each when it says something", () => {
    const c = parse(
      SCHEME +
        BASE +
        "data_dir: /var/lib/clearance\naudit: { key_file: k.key, node: gw-1 }\n" +
        "models: { mythos-5: { provider: up, upstream_model: m5 } }\n" +
        "monitoring: { access_log: { destination: stderr }, tracing: { service_name: gw } }\n",
    );
    expect([c.file.data_dir, c.file.audit.key_file, c.file.audit.node, c.route("mythos-5")]).toEqual([
      "/var/lib/clearance",
      "k.key",
      "gw-1",
      { provider: "up", upstreamModel: "m5" },
    ]);
  });
});

describe("the scheme file", () => {
  it.each(['""', '" "'])("refuses scheme: %s at its line", (v) => {
    expect(refusedWith(() => parse(BASE + `scheme: ${v}\n`))).toEqual([
      expect.objectContaining({ path: ["scheme"], line: 5, message: expect.stringMatching(/scheme file/) }),
    ]);
  });

  it.each([
    [".", /directory/],
    ["no-such-scheme.yaml", /no such file/],
  ])("refuses scheme: %s, unreadable, at its line, naming the file", (v, message) => {
    const found = refusedWith(() => parse(BASE + `scheme: ${v}\n`));
    expect(found).toEqual([
      expect.objectContaining({
        code: "file_unreadable",
        path: ["scheme"],
        file: join("examples", "test.yaml"),
        line: 5,
        message: expect.stringMatching(message) as unknown,
      }),
    ]);
    expect(found[0]?.message).toContain(
      join(process.cwd(), "examples", v === "." ? "" : v).replace(/\/$/, ""),
    );
  });

  it("still reports a problem inside the scheme file at its own line", () => {
    const found = refusedWith(() => parse(BASE + "scheme: ../README.md\n"));
    expect(found[0]?.file).toBe(join(process.cwd(), "README.md"));
  });
});

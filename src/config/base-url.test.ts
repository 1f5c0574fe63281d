/**
 * providers.<name>.base_url: http or https, without query, fragment or user:password, refused at
 * load with the field's line. Only the origin and path were used: a query (Azure's api-version) or
 * credentials were dropped without a word, and ftp: or file: loaded, then failed at start-up.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";
import { refusedWith } from "../testing/config.js";

const load = (text: string) =>
  parseConfig(`scheme: g7-trusted-partners.yaml\n${text}`, join("examples", "test.yaml"), {});

const problems = (text: string) => refusedWith(() => load(text));

describe("providers.<name>.base_url", () => {
  const at = (url: string) =>
    problems(`providers:\n  up: { type: openai, base_url: "${url}" }\ndefault_provider: up\n`);

  it.each(["ftp://x.example/v1", "file:///etc/passwd", "ws://x.example/v1", "not a url"])(
    "refuses %s: not http or https",
    (url) => {
      expect(at(url)).toEqual([
        expect.objectContaining({
          path: ["providers", "up", "base_url"],
          line: 3,
          message: expect.stringMatching(/expected an http:\/\/ or https:\/\/ URL/) as unknown,
        }),
      ]);
    },
  );

  it.each([
    ["https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21", /query or a fragment/],
    ["https://api.example.com/v1#frag", /query or a fragment/],
    ["https://u:s3cr3t@api.example.com/v1", /user name or password/],
    ["http://token@127.0.0.1:8000/v1", /user name or password/],
  ])("refuses %s: it would be dropped", (url, message) => {
    const found = at(url);
    expect(found).toEqual([
      expect.objectContaining({
        path: ["providers", "up", "base_url"],
        line: 3,
        message: expect.stringMatching(message) as unknown,
      }),
    ]);
    expect(JSON.stringify(found)).not.toContain("s3cr3t");
  });

  it("takes http and https URLs with a path", () => {
    const c = load(
      'providers:\n  a: { type: anthropic, base_url: "https://api.anthropic.com" }\n  v: { type: openai, base_url: "http://10.0.0.5:8000/v1" }\ndefault_provider: a\n',
    );
    expect(c.file.providers).toMatchObject({
      a: { base_url: "https://api.anthropic.com" },
      v: { base_url: "http://10.0.0.5:8000/v1" },
    });
  });
});

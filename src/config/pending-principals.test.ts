/**
 * identity.max_pending_principals: how many federated principals' records a node keeps waiting
 * for the store (it was a constant, 10,000). A whole number, at least one: anything else is refused
 * at its line, naming the key and saying what it counts.
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { refusedWith } from "../testing/config.js";
import { parseConfig } from "./index.js";

const BASE = `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
`;
const parse = (extra: string) => parseConfig(BASE + extra, join("examples", "test.yaml"), {});

it("defaults to 10,000 and takes any whole number from 1", () => {
  expect(parse("").file.identity.max_pending_principals).toBe(10_000);
  expect(parse("identity: { token_cache: 5 }\n").file.identity.max_pending_principals).toBe(10_000);
  for (const n of [1, 250_000])
    expect(parse(`identity: { max_pending_principals: ${n} }\n`).file.identity.max_pending_principals).toBe(
      n,
    );
});

it.each(["0", "-1", "2.5", "lots", "null"])("refuses %s at its line, naming the key", (value) => {
  expect(refusedWith(() => parse(`identity:\n  max_pending_principals: ${value}\n`))).toEqual([
    expect.objectContaining({
      path: ["identity", "max_pending_principals"],
      line: 5,
      message:
        "expected a whole number of federated principals' records, 1 or more (how many may wait on a node while the store takes none)",
    }),
  ]);
});

/**
 * identity.max_pending_principals: how many federated principals' records a node keeps waiting
 * for the store (it was a constant, 10,000). A whole number from one to 1,000,000: anything else is
 * refused at its line, naming the key and saying what it counts (or the bound).
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

it("defaults to 10,000 and takes any whole number from 1 to 1,000,000", () => {
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

it("takes at most 1,000,000, refusing more at its line with the bound", () => {
  expect(parse("identity: { max_pending_principals: 1000000 }\n").file.identity.max_pending_principals).toBe(
    1_000_000,
  );
  // Before the fix: taken, however large (1e12 records waited in memory while the store took none).
  for (const value of ["1000001", "1000000000000"])
    expect(refusedWith(() => parse(`identity:\n  max_pending_principals: ${value}\n`))).toEqual([
      expect.objectContaining({
        path: ["identity", "max_pending_principals"],
        line: 5,
        message:
          "at most 1,000,000 federated principals' records: each waits in the node's memory while the store takes none, so a larger bound would hold more than a node can keep",
      }),
    ]);
});

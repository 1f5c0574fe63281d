/**
 * `clearance screening search --lists FILE` screens against list files as an import now would take
 * them: a denial order past its expiration date does not deny, and the search says it left it out.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "../../cli/io.js";
import { run } from "../../cli/program.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures");
const SHARED = join(import.meta.dirname, "..", "..", "..", "..", "shared", "data", "screening", "bis-dpl");

async function cli(args: string[], stdin = "") {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => stdin };
  const code = await run(args, io);
  return { code, out, err };
}

const search = (name: string, type: string, list: string) =>
  cli(["screening", "search", name, "--type", type, "--lists", list, "--json"]);

describe("clearance screening search --lists, with a DPL order past its expiration date", () => {
  it("does not show the lapsed order as denying; an order without end still does", async () => {
    const dpl = join(FIXTURES, "dpl.txt");
    // JOHN QUINCY DOE's order ran through 01/14/2026, a date past for good.
    const lapsed = await search("John Quincy Doe", "person", dpl);
    expect(lapsed.code, lapsed.err).toBe(0);
    expect(JSON.parse(lapsed.out)).toMatchObject({ match: false, matches: [] });
    expect(lapsed.err).toMatch(/dpl\.txt: 1 order past its expiration date left out/);
    const standing = await search("Orion Aviation LLC", "organization", dpl);
    expect(JSON.parse(standing.out)).toMatchObject({ match: true });
  });

  it("the JSON lines mode leaves it out too", async () => {
    const r = await cli(
      ["screening", "search", "--jsonl", "--lists", join(FIXTURES, "dpl.txt")],
      JSON.stringify({ name: "John Quincy Doe", schema: "Person" }),
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ match: false, candidates: [] });
  });

  it.skipIf(!existsSync(SHARED))(
    "on the real 2022 DPL: a lapsed ten-year order, a fifty-year one",
    async () => {
      const dpl = join(SHARED, "dpl-2022.txt");
      // AARON ABRAHAM VILLA's order lapsed on 01/14/2026; I. ASH's runs to 2056.
      expect(JSON.parse((await search("Aaron Abraham Villa", "person", dpl)).out).match).toBe(false);
      expect(JSON.parse((await search("I. Ash", "unknown", dpl)).out).match).toBe(true);
    },
  );
});
if (!existsSync(SHARED)) console.warn(`the real BIS DPL: SKIPPED, ${SHARED} is absent`);

/**
 * `screening search --jsonl` and `screening compare --jsonl` write each answer as soon as it is
 * worked out: they held every answer until the last line was done, so a large batch's answers (a
 * search line's candidates take about a kilobyte) cost memory in proportion to the whole batch and
 * nothing came out until the end. The exit status is unchanged: 2 once every line is answered if
 * any line was refused, else 0.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ScreeningEngine } from "../screening/engine.js";
import type { Io } from "./io.js";
import { run } from "./program.js";

const DPL = join(import.meta.dirname, "..", "screening", "fixtures", "dpl.txt");

afterEach(() => vi.restoreAllMocks());

/** Runs the CLI, noting at each write of standard output how many names had been screened. */
async function cli(args: string[], stdin: string, screened: () => number) {
  const writes: { text: string; screened: number }[] = [];
  const io: Io = {
    stdout: (text) => void writes.push({ text, screened: screened() }),
    stderr: () => undefined,
    stdin: () => stdin,
  };
  const code = await run(args, io);
  return { code, writes };
}

describe("--jsonl answers each line as it comes", () => {
  it("search: the first answer is out before the second name is screened; a refused line still exits 2 at the end", async () => {
    const screen = vi.spyOn(ScreeningEngine.prototype, "screen");
    const input = [
      { name: "Orion Aviation LLC", schema: "Organization" },
      { name: 5 },
      { name: "Jane Roe", schema: "Person" },
      { name: "Orion Aviation", schema: "Company" },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    const r = await cli(
      ["screening", "search", "--jsonl", "--lists", DPL],
      input,
      () => screen.mock.calls.length,
    );
    expect(r.code).toBe(2);
    // Before: [3, 3, 3, 3], every name screened before the first line was written.
    expect(r.writes.map((w) => w.screened)).toEqual([1, 1, 2, 3]);
    const lines = r.writes.map((w) => JSON.parse(w.text) as { match?: boolean; error?: { line: number } });
    expect(lines.map((l) => l.match ?? `error at line ${l.error?.line}`)).toEqual([
      true,
      "error at line 2",
      false,
      true,
    ]);
    expect(r.writes.every((w) => w.text.endsWith("}\n") && w.text.split("\n").length === 2)).toBe(true);
  });

  it("compare: every line answered, one write each, exit 0 when none is refused", async () => {
    const input = `${JSON.stringify({ a: "John Smith", b: "Jon Smith" })}\n\n${JSON.stringify({ schema: "Person", a: "x", b: "y" })}\n`;
    const r = await cli(["screening", "compare", "--jsonl"], input, () => 0);
    expect(r.code).toBe(0);
    expect(r.writes.map((w) => JSON.parse(w.text) as unknown)).toEqual([
      { score: 0.967, match: true },
      { score: 0, match: false },
    ]);
  });
});

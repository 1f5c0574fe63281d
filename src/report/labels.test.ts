/**
 * A principal's nationality in the footprint and in the what-if over history is the one decide()
 * judged the decision on: the nationalities held at the decision's time (a `since` after it is not
 * held yet), one label per interval between listed dates — not the principal's latest facts.
 */
import { describe, expect, it } from "vitest";
import { decisionEntry } from "../audit/entry.js";
import type { LogSource } from "../audit/source.js";
import { encodeBundle, tilePath } from "../audit/tiles.js";
import { decide } from "../policy/decide.js";
import type { Principal } from "../policy/types.js";
import { readFileSync } from "node:fs";
import { loadSchemeFile, parseScheme } from "../scheme/index.js";
import { historyWhatIf } from "../whatif/history.js";
import { principalIndex } from "./principals.js";
import { ServedCounter } from "./served.js";

const g7 = loadSchemeFile("examples/g7-trusted-partners.yaml");
// A French national who became a US citizen on 1 September 2026.
const marie: Principal = {
  id: "marie",
  citizenships: [
    { country: "FR", since: "1990-01-01" },
    { country: "US", since: "2026-09-01" },
  ],
  assurance: "attested",
};
// Before, after, before again, after again: the label follows the time, not the order read.
const TIMES = [
  "2026-07-01T10:00:00.000Z",
  "2026-10-01T10:00:00.000Z",
  "2026-07-02T10:00:00.000Z",
  "2026-10-02T10:00:00.000Z",
];

const entries = TIMES.map((time, i) =>
  decisionEntry(decide(g7, marie, { model: "mythos-5", action: "infer", location: "FR", time }), {
    time: new Date(time),
    requestId: `r${i}`,
    node: "n",
    principal: marie,
    location: "FR",
    action: "infer",
  }),
);

/** A published log of these entries: one partial bundle and its checkpoint. */
const source: LogSource = {
  location: "memory",
  read: async (path) =>
    path === "checkpoint"
      ? Buffer.from(`test/log\n${entries.length}\n${Buffer.alloc(32).toString("base64")}\n\n— test\n`)
      : path === tilePath({ level: "entries", index: 0n, width: entries.length })
        ? encodeBundle(entries)
        : null,
};

describe("nationality labels as decide() saw the principal at the time", () => {
  it("decide() judges the French national before and the home person after", () => {
    const reasons = TIMES.map(
      (time) => decide(g7, marie, { model: "mythos-5", action: "infer", location: "FR", time }).reason,
    );
    expect(reasons).toEqual(["partner-country", "home-person", "partner-country", "home-person"]);
  });

  it("the served footprint counts the requests before the date as FR's, those after as US's", () => {
    const counter = new ServedCounter(g7, principalIndex([marie], null), {
      from: "2026-01-01T00:00:00.000Z",
      to: "2027-01-01T00:00:00.000Z",
    });
    for (const e of entries) counter.addText(e.toString("utf8"));
    const rows = counter.result({
      licenseTokens: new Map(),
      days: { from: "2026-01-01", to: "2026-12-31" },
      quotaUsed: new Map(),
    }).rows;
    expect(rows.map((r) => [r.nationality, r.reason, r.requests])).toEqual([
      ["FR", "partner-country", 2],
      ["US", "home-person", 2],
    ]);
  });

  it("the what-if over history groups each logged decision under the nationality held at its time", async () => {
    // France out of the G7 / Five Eyes partner: only the decisions made on the French nationality change.
    const text = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const without = text.replace("countries: [trusted]", "countries: [US, GB, CA, AU, NZ, DE, IT, JP]");
    expect(without).not.toBe(text);
    const r = await historyWhatIf({
      source,
      active: g7,
      candidate: parseScheme(without, "candidate.yaml"),
      principals: principalIndex([marie], null),
      examples: 10,
    });
    expect(r.groups.map((g) => [g.nationality, g.direction, g.examples])).toEqual([
      ["FR", "loss", ["#0 marie", "#2 marie"]],
    ]);
  });
});

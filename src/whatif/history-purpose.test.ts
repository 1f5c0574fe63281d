/**
 * The what-if over history re-decides a logged request for the purpose it declared (the entry's
 * `purpose`): a license limited to that purpose allows it under both schemes, as it did when it was
 * logged — no spurious "loses access" — and a candidate that narrows the license's purposes is seen
 * to take it away. Model lookups (`"lookup":true`) are not requests: counted apart, not re-decided.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decisionEntry } from "../audit/entry.js";
import { decide } from "../policy/decide.js";
import type { Principal } from "../policy/types.js";
import { principalIndex } from "../report/principals.js";
import { parseScheme } from "../scheme/index.js";
import { historyWhatIf } from "./history.js";
import { memoryLog } from "../testing/log.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const g7 = parseScheme(G7, "g7.yaml");
const erik = JSON.parse(readFileSync("examples/principals/bw-cyber-analyst.json", "utf8")) as Principal;
const TIME = "2026-08-03T10:00:00.000Z"; // the license BIS-2026-0001 is valid

/** Erik's request for mythos-5 from DE as the gateway logs it: with the purpose he declared, or none. */
const logged = (i: number, purpose: string | null, lookup = false) =>
  decisionEntry(
    decide(g7, erik, { model: "mythos-5", action: "infer", location: "DE", purpose, time: TIME }),
    {
      time: new Date(TIME),
      requestId: `r${i}`,
      node: "n",
      principal: erik,
      location: "DE",
      action: "infer",
      purpose,
      lookup,
    },
  );

const source = memoryLog([
  logged(0, "cyber-defense", true), // looked up first …
  logged(1, "cyber-defense"), // … then asked: allowed on the license
  logged(2, null), // no purpose: served through the fallback
]);
const whatIf = (candidate: string) =>
  historyWhatIf({
    source,
    active: g7,
    candidate: parseScheme(candidate, "candidate.yaml"),
    principals: principalIndex([erik], null),
    examples: 10,
  });

describe("what-if over history: the declared purpose", () => {
  it("re-decides a request for its logged purpose: allowed under both schemes, as logged", async () => {
    // As logged: the license for the purpose (looked up, then asked), the fallback without one.
    const [lookup, withPurpose, without] = [0, 1, 2].map(
      (i) =>
        JSON.parse(logged(i, i === 2 ? null : "cyber-defense", i === 0).toString()) as Record<
          string,
          unknown
        >,
    );
    expect(lookup).toMatchObject({ decision: "allow", reason: "license", lookup: true });
    expect(withPurpose).toMatchObject({ decision: "allow", reason: "license", purpose: "cyber-defense" });
    expect(without).toMatchObject({ decision: "fallback" });
    expect(without).not.toHaveProperty("purpose");
    // A candidate that changes nothing erik's requests rest on (the license's quota).
    const r = await whatIf(G7.replace("quota_tokens: 50000000", "quota_tokens: 60000000"));
    expect(r.decisions).toBe(2); // the lookup is not a request
    expect(r.summary).toMatchObject({ compared: 2, gained: 0, lost: 0, changed: 0 });
    expect(r.groups).toEqual([]);
    const notes = r.notes.join("\n");
    expect(notes).toMatch(/0 of the re-decided decisions come out differently from the record/);
    expect(notes).toMatch(/1 model lookups \(GET \/v1\/models\/\{id\}\) in the log were not re-decided/);
    // The note on a missing purpose is about the entry without one only.
    expect(notes).toMatch(/1 re-decided decisions have no purpose in the log \(logged before purposes/);
    expect(notes).not.toMatch(/rested on such a license/);
  });

  it("a candidate narrowing the license's purposes takes the request's access away, and only that one", async () => {
    const r = await whatIf(G7.replace("purposes: [cyber-defense]", "purposes: [research]"));
    expect(r.summary).toMatchObject({ compared: 2, lost: 1, allow_to_fallback: 1 });
    expect(r.groups.map((g) => [g.direction, g.from.reason, g.to.decision, g.count, g.examples])).toEqual([
      ["loss", "license", "fallback", 1, ["#1 erik"]],
    ]);
  });
});

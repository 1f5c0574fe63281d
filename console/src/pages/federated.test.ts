/**
 * A federated principal's screening status from the matches read: when they were cut at their
 * bound, only "confirmed" is sure; anything else is "not read", never "clear".
 */
import { describe, expect, it } from "vitest";
import type { MatchRow } from "../../../src/store/screening.js";
import { screeningStatus } from "./FederatedPrincipals.js";

const match = (subject_id: string, status: MatchRow["status"]) => ({ subject_id, status }) as MatchRow;
const rows = [
  match("p1", "cleared"),
  match("p1", "potential"),
  match("p2", "confirmed"),
  match("p3", "cleared"),
];

describe("screeningStatus", () => {
  it("every match read: the worst of each principal, clear for one without any", () => {
    const of = screeningStatus({ rows, more: false });
    expect(["p1", "p2", "p3", "p4"].map(of)).toEqual(["potential", "confirmed", "cleared", "clear"]);
  });

  it("matches cut at their bound: confirmed is sure, anything else not read", () => {
    const of = screeningStatus({ rows, more: true });
    expect(["p1", "p2", "p3", "p4"].map(of)).toEqual(["not read", "confirmed", "not read", "not read"]);
  });
});

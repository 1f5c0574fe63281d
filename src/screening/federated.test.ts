import { describe, expect, it } from "vitest";
import type { Principal } from "../policy/types.js";
import { ScreeningEngine } from "./engine.js";
import { screenFederated } from "./federated.js";
import { statusMaps } from "./status.js";
import type { ListEntry } from "./types.js";

const listed: ListEntry = {
  id: "sdn-1",
  type: "person",
  names: [{ name: "SALEK, Abdulhai", strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
};
const engine = ScreeningEngine.fromLists([{ list: "sdn", entries: [{ entry: listed, digest: "d1" }] }]);

const fed = (id: string): Principal => ({
  id,
  citizenships: [{ country: "GB" }],
  permanent_residencies: [],
  residence: "GB",
  organization: null,
  assurance: "verified",
  screening: "clear",
});
const none = statusMaps([]);

describe("screening partners' federated principals", () => {
  it("sends a listed name to review on its first request, before any background pass", () => {
    const p = screenFederated(fed("fed:uk-gov:1"), "Abdulhai Salek", none, engine);
    expect(p.screening).toBe("potential");
  });

  it("leaves a name on no list clear, and a principal without a name as it came", () => {
    expect(screenFederated(fed("fed:uk-gov:2"), "Jane Smith", none, engine).screening).toBe("clear");
    expect(screenFederated(fed("fed:uk-gov:3"), null, none, engine).screening).toBe("clear");
  });

  it("reads what review recorded: a clearance holds, a confirmation denies", () => {
    const cleared = statusMaps([{ kind: "principal", id: "fed:uk-gov:1", status: "clear" }]);
    expect(screenFederated(fed("fed:uk-gov:1"), "Abdulhai Salek", cleared, engine).screening).toBe("clear");
    const confirmed = statusMaps([{ kind: "principal", id: "fed:uk-gov:1", status: "confirmed" }]);
    expect(screenFederated(fed("fed:uk-gov:1"), "Abdulhai Salek", confirmed, engine).screening).toBe(
      "confirmed",
    );
  });

  it("without lists loaded, keeps what the record says (as for every principal)", () => {
    expect(screenFederated(fed("fed:uk-gov:1"), "Abdulhai Salek", none, null).screening).toBe("clear");
  });
});

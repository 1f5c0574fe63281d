/**
 * OpenSanctions FollowTheMoney entities, one JSON object per line ({id, schema, properties}).
 * Only the schemata a screening is about are kept (people, organizations, vessels, aircraft);
 * the rest (sanctions, addresses, relations) are skipped.
 */
import { isCalendarDate } from "../../policy/dates.js";
import type { EntityType, ListEntry } from "../types.js";
import {
  birthDates,
  countryOrText,
  decode,
  refuse,
  tidy,
  withoutControls,
  type InputFile,
} from "./common.js";

const SCHEMA_TYPE: Readonly<Record<string, EntityType>> = {
  Person: "person",
  Organization: "organization",
  Company: "organization",
  LegalEntity: "unknown",
  PublicBody: "organization",
  Vessel: "vessel",
  Airplane: "aircraft",
};

export function loadFtm(file: InputFile): { list: string; entries: ListEntry[]; published: string | null } {
  const lines = decode(file).split("\n");
  const entries: ListEntry[] = [];
  let dataset: string | null = null;
  let published: string | null = null;
  /** Each entity's first line, by id: a file names an entity once. */
  const seen = new Map<string, number>();
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let e: {
      id?: unknown;
      schema?: unknown;
      properties?: unknown;
      datasets?: unknown;
      last_change?: unknown;
    };
    try {
      e = JSON.parse(raw) as typeof e;
    } catch (err) {
      return refuse(file.name, line, "(json)", `not a JSON object: ${(err as Error).message}`);
    }
    if (typeof e !== "object" || e === null) refuse(file.name, line, "(json)", "expected a JSON object");
    if (typeof e.id !== "string" || e.id === "") refuse(file.name, line, "id", "expected the entity's id");
    withoutControls(file.name, line, "id", "the entity's id", e.id);
    const first = seen.get(e.id);
    if (first !== undefined)
      refuse(file.name, line, "id", `entity ${e.id} is listed twice (first on line ${first})`);
    seen.set(e.id, line);
    if (typeof e.schema !== "string") refuse(file.name, line, "schema", "expected the entity's schema");
    if (typeof e.properties !== "object" || e.properties === null)
      refuse(file.name, line, "properties", "expected an object of properties");
    // Own members only: "constructor" or "__proto__" is an unknown schema, not Object's.
    const type = Object.hasOwn(SCHEMA_TYPE, e.schema) ? SCHEMA_TYPE[e.schema] : undefined;
    if (type === undefined) return;
    const p = e.properties as Record<string, unknown>;
    const prop = (name: string): string[] => {
      const v = p[name];
      if (v === undefined) return [];
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
        return refuse(file.name, line, `properties.${name}`, "expected an array of strings");
      return v as string[];
    };
    const names = prop("name");
    if (names.length === 0) refuse(file.name, line, "properties.name", `entity ${e.id} has no name`);
    if (dataset === null && Array.isArray(e.datasets) && typeof e.datasets[0] === "string") {
      withoutControls(file.name, line, "datasets", "a list name", e.datasets[0]);
      dataset = e.datasets[0];
    }
    if (
      typeof e.last_change === "string" &&
      isCalendarDate(e.last_change) &&
      (published === null || e.last_change.slice(0, 10) > published)
    )
      published = e.last_change.slice(0, 10);
    entries.push(
      tidy({
        id: e.id,
        type,
        names: [
          ...names.map((n, k) => ({
            name: n,
            strength: "strong" as const,
            kind: k === 0 ? "primary" : "aka",
          })),
          ...prop("alias").map((n) => ({ name: n, strength: "strong" as const, kind: "aka" })),
          ...prop("previousName").map((n) => ({ name: n, strength: "strong" as const, kind: "fka" })),
          ...prop("weakAlias").map((n) => ({ name: n, strength: "weak" as const, kind: "aka" })),
        ],
        birth_dates: [...prop("birthDate"), ...prop("incorporationDate")].flatMap(birthDates),
        nationalities: [...prop("nationality"), ...prop("citizenship")].map(countryOrText),
        countries: [...prop("country"), ...prop("jurisdiction")].map(countryOrText),
        addresses: prop("address"),
        identifiers: [
          ...prop("passportNumber").map((v) => ({ type: "Passport", value: v })),
          ...prop("idNumber").map((v) => ({ type: "id", value: v })),
          ...prop("registrationNumber").map((v) => ({ type: "Registration Number", value: v })),
          ...prop("imoNumber").map((v) => ({ type: "IMO", value: v })),
        ],
        programs: prop("program"),
        ...(prop("notes")[0] === undefined ? {} : { remarks: prop("notes").join("; ") }),
      }),
    );
  });
  return { list: dataset ?? "opensanctions", entries, published };
}

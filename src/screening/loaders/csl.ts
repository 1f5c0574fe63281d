/**
 * The US Consolidated Screening List (trade.gov) CSV, in both column layouts it has been published
 * in: the older one (source, entity_number, …) and the current one with a leading `_id`. Columns
 * are found by their header names, so either layout (and a reordering) loads.
 */
import type { EntityType, ListEntry } from "../types.js";
import {
  birthDates,
  cell,
  countryOrText,
  csvRows,
  lastDayInForce,
  refuse,
  sha256,
  tidy,
  type InputFile,
  withoutControls,
} from "./common.js";

const REQUIRED = ["source", "name", "type", "programs", "addresses", "alt_names"] as const;
type Optional =
  | "_id"
  | "entity_number"
  | "dates_of_birth"
  | "nationalities"
  | "citizenships"
  | "ids"
  | "start_date"
  | "end_date"
  | "remarks";

function entityType(t: string, source: string): EntityType {
  switch (t.toLowerCase()) {
    case "individual":
      return "person";
    case "vessel":
      return "vessel";
    case "aircraft":
      return "aircraft";
    case "entity":
      return "organization";
    default:
      // The BIS lists (Entity List, Unverified List, MEU) name organizations; the DPL and ITAR
      // debarred lists name both, so those stay unknown rather than guessed.
      return /Entity List|Unverified|Military End User|Nonproliferation/i.test(source)
        ? "organization"
        : "unknown";
  }
}

/**
 * The CSL gives the BIS Denied Persons List's rows their order's end (`end_date`, YYYY-MM-DD), as
 * the DPL itself does (dpl.ts): only there is it an order's expiry, so only there does it apply.
 */
const DENIED_PERSONS = /Denied Persons/i;

export function loadCsl(file: InputFile): {
  list: string;
  entries: ListEntry[];
  inForceThrough: Map<string, string>;
} {
  const first = csvRows(
    { name: file.name, bytes: file.bytes.subarray(0, firstLineEnd(file.bytes)) },
    {
      columns: countColumns(file),
    },
  )[0];
  if (first === undefined) return refuse(file.name, 1, "header", "the file is empty");
  const header = first.cells.map((h) => h.trim());
  const col = new Map(header.map((h, i) => [h, i]));
  for (const name of REQUIRED)
    if (!col.has(name))
      refuse(file.name, 1, name, `the header has no ${name} column (is this the trade.gov CSL CSV?)`);
  const rows = csvRows(file, { columns: header }).slice(1);
  const ids = new Map<string, number>();
  const inForceThrough = new Map<string, string>();
  const entries = rows.map((r) => {
    const get = (name: (typeof REQUIRED)[number] | Optional) => {
      const i = col.get(name);
      return i === undefined ? "" : cell(r.cells[i]);
    };
    const name = get("name");
    if (name === "") refuse(file.name, r.line, "name", "the name is empty");
    const source = get("source");
    for (const column of ["_id", "entity_number"] as const)
      withoutControls(file.name, r.line, column, "an id", get(column));
    // Stable ids across versions: the row's own id, else the source's entity number, else a digest.
    let id = get("_id") || (get("entity_number") ? `${sourceCode(source)}-${get("entity_number")}` : "");
    if (id === "") id = sha256(source, "\0", name, "\0", get("start_date")).slice(0, 16);
    const n = (ids.get(id) ?? 0) + 1;
    ids.set(id, n);
    if (n > 1) id = `${id}-${n}`;
    if (DENIED_PERSONS.test(source)) {
      const through = lastDayInForce(get("end_date"), "YYYY-MM-DD", {
        file: file.name,
        line: r.line,
        field: "end_date",
      });
      if (through !== undefined) inForceThrough.set(id, through);
    }
    const split = (s: string) =>
      s
        .split(";")
        .map((x) => x.trim())
        .filter((x) => x !== "");
    const addresses = split(get("addresses"));
    return tidy({
      id,
      type: entityType(get("type"), source),
      names: [
        { name: name.replace(/;\s*and any successor.*$/i, ""), strength: "strong", kind: "primary" },
        ...split(get("alt_names")).map((a) => ({ name: a, strength: "strong" as const, kind: "aka" })),
      ],
      birth_dates: split(get("dates_of_birth")).flatMap(birthDates),
      nationalities: [...split(get("nationalities")), ...split(get("citizenships"))].map(countryOrText),
      // The address's last part is its country (a code in this list).
      countries: addresses.map((a) => countryOrText(a.split(",").pop() ?? "")),
      addresses,
      identifiers: split(get("ids")).map((x) => ({ type: "id", value: x })),
      programs: split(get("programs")),
      source,
      ...(get("remarks") === "" ? {} : { remarks: get("remarks") }),
    });
  });
  return { list: "us-csl", entries, inForceThrough };
}

/** "Specially Designated Nationals (SDN) - Treasury Department" → "SDN". */
function sourceCode(source: string): string {
  return /\(([A-Z]+)\)/.exec(source)?.[1] ?? source.slice(0, 12);
}

function firstLineEnd(bytes: Uint8Array): number {
  const i = bytes.indexOf(0x0a);
  return i < 0 ? bytes.length : i;
}

function countColumns(file: InputFile): number {
  const line = new TextDecoder().decode(file.bytes.subarray(0, firstLineEnd(file.bytes)));
  return line.split(",").length;
}

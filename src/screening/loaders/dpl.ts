/**
 * The BIS Denied Persons List, tab-separated with a header row. Persons and companies both appear,
 * with nothing saying which: entries are typed `unknown` (as the CSL loader types its DPL rows), so
 * that no guess from the name ("MAHAN AIRWAYS" taken for a person) costs a match its type penalty.
 * Each row is a denial order, in force through its Expiration_Date (none: without end): BIS drops
 * a lapsed order's row only at a later update, so the days are returned for the import to apply.
 */
import { quoted } from "../../policy/text.js";
import type { ListEntry } from "../types.js";
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
} from "./common.js";

const DPL_COLUMNS = [
  "Name",
  "Street_Address",
  "City",
  "State",
  "Country",
  "Postal_Code",
  "Effective_Date",
  "Expiration_Date",
  "Standard_Order",
  "Last_Update",
  "Action",
  "FR_Citation",
];

/** Case and spacing do not identify a party: "1 Main  St" and "1 MAIN ST" are one address. */
const canonical = (s: string) => s.replace(/\s+/g, " ").trim().toUpperCase();

export function loadDpl(file: InputFile): {
  list: string;
  entries: ListEntry[];
  published: string | null;
  inForceThrough: Map<string, string>;
} {
  const rows = csvRows(file, { delimiter: "\t", columns: DPL_COLUMNS });
  const header = rows.shift();
  if (header === undefined) return refuse(file.name, 1, "header", "the file is empty");
  header.cells.forEach((h, i) => {
    if (h !== DPL_COLUMNS[i])
      refuse(
        file.name,
        header.line,
        DPL_COLUMNS[i]!,
        `expected the column ${DPL_COLUMNS[i]}, found ${quoted(h)}`,
      );
  });
  const ids = new Map<string, number>();
  const inForceThrough = new Map<string, string>();
  let published: string | null = null;
  const entries = rows.map((r) => {
    const c = (i: number) => cell(r.cells[i]);
    const name = c(0);
    if (name === "") refuse(file.name, r.line, "Name", "the name is empty");
    const updated = birthDates(c(9))[0];
    // A typo in the list (3017 for 2017) must not make it look published in the future.
    if (
      updated !== undefined &&
      updated.length === 10 &&
      updated < "2100" &&
      (published === null || updated > published)
    )
      published = updated;
    const country = c(4) === "" && c(3) !== "" ? "US" : c(4);
    // The DPL has no ids: the party is its name at its address (street, city, state, postal code,
    // country). Not the order's dates, nor its place in the file: a renewed order, or a row added
    // above it, keeps the id, and so the reviews of matches on it. Only a row repeated whole gets a
    // suffix (its repeat count).
    const identity = [name, c(1), c(2), c(3), c(5), country].map(canonical).join("\0");
    const base = sha256(identity).slice(0, 16);
    const n = (ids.get(base) ?? 0) + 1;
    ids.set(base, n);
    const id = n === 1 ? base : `${base}-${n}`;
    const through = lastDayInForce(c(7), "MM/DD/YYYY", {
      file: file.name,
      line: r.line,
      field: "Expiration_Date",
    });
    if (through !== undefined) inForceThrough.set(id, through);
    return tidy({
      id,
      type: "unknown",
      names: [{ name, strength: "strong", kind: "primary" }],
      birth_dates: [],
      nationalities: [],
      countries: country === "" ? [] : [countryOrText(country)],
      addresses: [[c(1), c(2), c(3), c(5), c(4)].filter((x) => x !== "").join(", ")],
      identifiers: c(11) === "" ? [] : [{ type: "FR Citation", value: c(11) }],
      programs: ["DPL"],
      ...(c(10) === "" ? {} : { remarks: `${c(10)}; effective ${c(6)}; expires ${c(7)}` }),
    });
  });
  return { list: "bis-dpl", entries, published, inForceThrough };
}

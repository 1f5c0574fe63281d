/** The BIS Denied Persons List, tab-separated with a header row. Persons and companies both appear. */
import type { ListEntry } from "../types.js";
import { birthDates, cell, countryOrText, csvRows, refuse, sha256, tidy, type InputFile } from "./common.js";

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

/** Companies on the DPL carry a legal form or words no personal name has. */
const COMPANY =
  /\b(INC|LLC|LTD|LIMITED|CORP|CORPORATION|CO|COMPANY|GMBH|S\.?A|TRADING|INTERNATIONAL|ENTERPRISES?|GROUP|INDUSTR\w*|TECHNOLOG\w*|SERVICES?|ELECTRONICS?|AVIATION|AIRLINES?|IMPORT|EXPORT|HOLDINGS?)\b\.?/i;

export function loadDpl(file: InputFile): { list: string; entries: ListEntry[]; published: string | null } {
  const rows = csvRows(file, { delimiter: "\t", columns: DPL_COLUMNS });
  const header = rows.shift();
  if (header === undefined) return refuse(file.name, 1, "header", "the file is empty");
  header.cells.forEach((h, i) => {
    if (h !== DPL_COLUMNS[i])
      refuse(
        file.name,
        header.line,
        DPL_COLUMNS[i]!,
        `expected the column ${DPL_COLUMNS[i]}, found ${JSON.stringify(h)}`,
      );
  });
  const ids = new Map<string, number>();
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
    // The DPL has no ids: name, address and the order's date identify an order; repeats get a suffix.
    const base = sha256(name, "\0", c(1), "\0", c(6)).slice(0, 16);
    const n = (ids.get(base) ?? 0) + 1;
    ids.set(base, n);
    const country = c(4) === "" && c(3) !== "" ? "US" : c(4);
    return tidy({
      id: n === 1 ? base : `${base}-${n}`,
      type: COMPANY.test(name) ? "organization" : "person",
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
  return { list: "bis-dpl", entries, published };
}

/**
 * OFAC's legacy CSV (the SDN list and the consolidated non-SDN list share the layout): a main file
 * (sdn.csv / cons_prim.csv) with optional addresses (add.csv), aliases (alt.csv) and remark
 * continuations (sdn_comments.csv). No header row; -0- means empty.
 */
import type { EntityType, ListEntry, ListedName } from "../types.js";
import { cell, countryOrText, csvRows, refuse, remarkFacts, tidy, type InputFile } from "./common.js";
import { quoted } from "../../policy/text.js";

const SDN_COLUMNS = [
  "ent_num",
  "name",
  "type",
  "program",
  "title",
  "call_sign",
  "vessel_type",
  "tonnage",
  "grt",
  "flag",
  "owner",
  "remarks",
];

/** Which file of a set this is, by its name. */
export function ofacRole(name: string): "main" | "add" | "alt" | "comments" | undefined {
  const base = name.split(/[\\/]/).pop()!.toLowerCase();
  if (/^(sdn|cons_prim)\.csv$/.test(base)) return "main";
  if (/^(add|cons_add)\.csv$/.test(base)) return "add";
  if (/^(alt|cons_alt)\.csv$/.test(base)) return "alt";
  if (/^(sdn_comments|cons_comments)\.csv$/.test(base)) return "comments";
  return undefined;
}

/** The companion files' names for a main file (same directory). */
export function ofacCompanions(main: string): string[] {
  const cons = /cons_prim\.csv$/i.test(main);
  const dir = main.slice(0, main.length - (main.split(/[\\/]/).pop()?.length ?? 0));
  return (
    cons ? ["cons_add.csv", "cons_alt.csv", "cons_comments.csv"] : ["add.csv", "alt.csv", "sdn_comments.csv"]
  ).map((f) => dir + f);
}

function entityType(t: string): EntityType {
  switch (t.toLowerCase()) {
    case "individual":
      return "person";
    case "vessel":
      return "vessel";
    case "aircraft":
      return "aircraft";
    default:
      return "organization";
  }
}

export function loadOfac(files: readonly InputFile[]): { list: string; entries: ListEntry[] } {
  const main = files.find((f) => ofacRole(f.name) === "main") ?? files[0];
  if (main === undefined)
    return refuse("(none)", undefined, "file", "no OFAC main file (sdn.csv or cons_prim.csv)");
  const list = /cons_/i.test(main.name) ? "ofac-consolidated" : "ofac-sdn";
  const byRole = (role: string) => files.filter((f) => f !== main && ofacRole(f.name) === role);

  const rows = csvRows(main, { columns: SDN_COLUMNS });
  const ids = new Set<string>();
  const check = (file: string, line: number, id: string) => {
    if (!/^\d+$/.test(id)) refuse(file, line, "ent_num", `expected a number, found ${quoted(id)}`);
  };
  const remarks = new Map<string, string>();
  for (const f of byRole("comments")) {
    for (const r of csvRows(f, { columns: 2 })) {
      check(f.name, r.line, cell(r.cells[0]));
      remarks.set(cell(r.cells[0]), cell(r.cells[1]));
    }
  }
  const aliases = new Map<string, ListedName[]>();
  for (const f of byRole("alt")) {
    for (const r of csvRows(f, { columns: 5 })) {
      const id = cell(r.cells[0]);
      check(f.name, r.line, id);
      const name = cell(r.cells[3]);
      if (name === "") refuse(f.name, r.line, "alt_name", "the alias is empty");
      const kind = cell(r.cells[2]).toLowerCase() || "aka";
      const weak = /weak/i.test(cell(r.cells[4])) || kind.includes("weak");
      const list = aliases.get(id) ?? [];
      list.push({ name, strength: weak ? "weak" : "strong", kind: kind.replace(/weak\s*/, "") });
      aliases.set(id, list);
    }
  }
  const addresses = new Map<string, { address: string; country: string }[]>();
  for (const f of byRole("add")) {
    for (const r of csvRows(f, { columns: 6 })) {
      const id = cell(r.cells[0]);
      check(f.name, r.line, id);
      const address = [cell(r.cells[2]), cell(r.cells[3]), cell(r.cells[4])]
        .filter((x) => x !== "")
        .join(", ");
      const list = addresses.get(id) ?? [];
      list.push({ address, country: cell(r.cells[4]) });
      addresses.set(id, list);
    }
  }

  const entries = rows.map((r) => {
    const c = (i: number) => cell(r.cells[i]);
    const id = c(0);
    check(main.name, r.line, id);
    if (ids.has(id)) refuse(main.name, r.line, "ent_num", `entry ${id} is listed twice`);
    ids.add(id);
    const name = c(1);
    if (name === "") refuse(main.name, r.line, "name", "the name is empty");
    const text = [c(11), remarks.get(id) ?? ""].join("").trim();
    const facts = remarkFacts(text);
    const type = entityType(c(2));
    const adds = addresses.get(id) ?? [];
    const identifiers = [...facts.identifiers];
    if (c(5) !== "") identifiers.push({ type: "Call Sign", value: c(5) });
    return tidy({
      id,
      type,
      names: [
        { name, strength: "strong", kind: "primary" },
        ...(aliases.get(id) ?? []),
        ...facts.akas.map((a) => ({ ...a, kind: "aka" })),
      ],
      birth_dates: facts.birth,
      nationalities: facts.nationalities,
      countries: adds.map((a) => countryOrText(a.country)),
      addresses: adds.map((a) => a.address),
      identifiers,
      programs: c(3)
        .split(/\]\s*\[|;/)
        .map((p) => p.replace(/[[\]]/g, "").trim()),
      ...(text === "" ? {} : { remarks: text }),
    });
  });
  return { list, entries };
}

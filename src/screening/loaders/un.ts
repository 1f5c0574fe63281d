/**
 * The UN Security Council consolidated list (XML), read with a streaming parser (saxes): each
 * INDIVIDUAL or ENTITY is gathered into a small element tree, turned into an entry, and dropped.
 */
import { SaxesParser } from "saxes";
import { isCalendarDate } from "../../policy/dates.js";
import type { ListEntry, ListedName } from "../types.js";
import { birthDates, countryOrText, decode, refuse, tidy, type InputFile } from "./common.js";
import { quoted } from "../../policy/text.js";

interface Node {
  readonly name: string;
  readonly line: number;
  text: string;
  readonly children: Node[];
}

const all = (n: Node, name: string) => n.children.filter((c) => c.name === name);
const text = (n: Node | undefined) => (n?.text ?? "").trim();
const one = (n: Node, name: string) => text(n.children.find((c) => c.name === name));

export function loadUn(file: InputFile): { list: string; entries: ListEntry[]; published: string | null } {
  const xml = decode(file);
  const parser = new SaxesParser({ position: true });
  const entries: ListEntry[] = [];
  /** Each entry's first line, by DATAID: a list names an entry once. */
  const seen = new Map<string, number>();
  const stack: Node[] = [];
  let published: string | null = null;
  let root = false;
  parser.on("opentag", (tag) => {
    if (!root) {
      if (tag.name !== "CONSOLIDATED_LIST")
        refuse(file.name, parser.line, tag.name, "expected a UN consolidated list (<CONSOLIDATED_LIST>)");
      root = true;
      const generated = tag.attributes["dateGenerated"];
      if (typeof generated === "string" && isCalendarDate(generated)) published = generated.slice(0, 10);
      return;
    }
    if (stack.length > 0 || tag.name === "INDIVIDUAL" || tag.name === "ENTITY") {
      const node: Node = { name: tag.name, line: parser.line, text: "", children: [] };
      stack.at(-1)?.children.push(node);
      stack.push(node);
    }
  });
  parser.on("text", (t) => {
    const top = stack.at(-1);
    if (top !== undefined) top.text += t;
  });
  parser.on("closetag", () => {
    const node = stack.pop();
    if (node === undefined || stack.length > 0) return;
    const entry = toEntry(file.name, node);
    const first = seen.get(entry.id);
    if (first !== undefined)
      refuse(file.name, node.line, "DATAID", `entry ${entry.id} is listed twice (first on line ${first})`);
    seen.set(entry.id, node.line);
    entries.push(entry);
  });
  parser.on("error", (err) => {
    refuse(
      file.name,
      parser.line,
      "(xml)",
      err.message.replace(/^(?:[^:\n]*:)?\d+:\d+: /, ""),
      parser.column,
    );
  });
  parser.write(xml).close();
  if (!root) refuse(file.name, 1, "(xml)", "the file holds no UN consolidated list");
  return { list: "un-sc", entries, published };
}

function toEntry(fileName: string, n: Node): ListEntry {
  const id = one(n, "DATAID");
  if (!/^\d+$/.test(id)) refuse(fileName, n.line, "DATAID", `expected a number, found ${quoted(id)}`);
  const person = n.name === "INDIVIDUAL";
  const primary = ["FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME"]
    .map((f) => one(n, f))
    .filter((x) => x !== "")
    .join(" ");
  if (primary === "") refuse(fileName, n.line, "FIRST_NAME", `entry ${id} has no name`);
  const names: ListedName[] = [{ name: primary, strength: "strong", kind: "primary" }];
  for (const s of all(n, "NAME_ORIGINAL_SCRIPT"))
    if (text(s) !== "") names.push({ name: text(s), strength: "strong", kind: "original-script" });
  for (const a of all(n, person ? "INDIVIDUAL_ALIAS" : "ENTITY_ALIAS")) {
    const name = one(a, "ALIAS_NAME");
    if (name === "") continue;
    const quality = one(a, "QUALITY").toLowerCase();
    names.push({
      name,
      strength: quality === "low" ? "weak" : "strong",
      kind: quality === "f.k.a." ? "fka" : "aka",
    });
  }
  const birth: string[] = [];
  for (const d of all(n, "INDIVIDUAL_DATE_OF_BIRTH")) {
    const date = one(d, "DATE");
    const year = one(d, "YEAR");
    const from = one(d, "FROM_YEAR");
    const to = one(d, "TO_YEAR");
    // "APPROXIMATELY" (or a BETWEEN noted "Approximately"): every year near it, not it exactly.
    const circa = /approx/i.test(`${one(d, "TYPE_OF_DATE")} ${one(d, "NOTE")}`) ? "circa " : "";
    if (date !== "") birth.push(...birthDates(`${circa}${date.slice(0, 10)}`));
    else if (year !== "") birth.push(...birthDates(`${circa}${year}`));
    else if (from !== "" && to !== "") birth.push(...birthDates(`${circa}${from} to ${to}`));
  }
  const values = (field: string) =>
    all(n, field)
      .flatMap((v) => all(v, "VALUE").map(text))
      .filter((x) => x !== "");
  const addressNodes = all(n, person ? "INDIVIDUAL_ADDRESS" : "ENTITY_ADDRESS");
  const addresses = addressNodes.map((a) =>
    ["STREET", "CITY", "STATE_PROVINCE", "ZIP_CODE", "COUNTRY"]
      .map((f) => one(a, f))
      .filter((x) => x !== "")
      .join(", "),
  );
  const identifiers = all(n, "INDIVIDUAL_DOCUMENT")
    .filter((d) => one(d, "NUMBER") !== "")
    .map((d) => {
      const c = one(d, "ISSUING_COUNTRY") || one(d, "COUNTRY_OF_ISSUE");
      return {
        type: one(d, "TYPE_OF_DOCUMENT") || "document",
        value: one(d, "NUMBER"),
        ...(c ? { country: countryOrText(c) } : {}),
      };
    });
  return tidy({
    id,
    type: person ? "person" : "organization",
    names,
    birth_dates: birth,
    nationalities: values("NATIONALITY").map(countryOrText),
    countries: addressNodes
      .map((a) => one(a, "COUNTRY"))
      .filter((c) => c !== "")
      .map(countryOrText),
    addresses,
    identifiers: [...identifiers, { type: "UN reference", value: one(n, "REFERENCE_NUMBER") }],
    programs: [one(n, "UN_LIST_TYPE")],
    ...(one(n, "COMMENTS1") === "" ? {} : { remarks: one(n, "COMMENTS1") }),
  });
}

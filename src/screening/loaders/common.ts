/**
 * What every list loader shares: reading bytes as strict UTF-8, CSV records with their line numbers,
 * problems that name file, line and field, and the small parsers for dates and countries as lists
 * write them.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type * as CountriesLib from "i18n-iso-countries";
import { parse, CsvError } from "csv-parse/sync";
import { InvalidInputError } from "../../errors/index.js";
import { instantOf, isCalendarDate } from "../../policy/dates.js";
import { CONTROL, quoted } from "../../policy/text.js";
import type { ListEntry } from "../types.js";

/** A list file as given: its name (for messages and format detection) and its bytes. */
export interface InputFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** A malformed list: nothing of it is imported, and the message says where. */
export function refuse(
  file: string,
  line: number | undefined,
  field: string,
  message: string,
  column?: number,
): never {
  throw new InvalidInputError([
    {
      code: "invalid_list",
      path: [field],
      file,
      ...(line === undefined ? {} : { line }),
      ...(column === undefined ? {} : { column }),
      message,
    },
  ]);
}

/**
 * An id or name the file gives, refused with a control character: shown in every table, and a NUL
 * is text PostgreSQL cannot hold (the import failed there as an internal error, and was stored by
 * SQLite).
 */
export function withoutControls(
  file: string,
  line: number | undefined,
  field: string,
  what: string,
  text: string,
) {
  if (CONTROL.test(text))
    refuse(file, line, field, `expected ${what} without control characters, found ${quoted(text)}`);
}

/** Strict UTF-8 (a BOM is dropped): a broken encoding is refused with the line it is on. */
export function decode(file: InputFile): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(file.bytes);
  } catch {
    // Find the first bad byte's line: decode line by line.
    let line = 1;
    let start = 0;
    const strict = new TextDecoder("utf-8", { fatal: true });
    for (let i = 0; i <= file.bytes.length; i++) {
      if (i === file.bytes.length || file.bytes[i] === 0x0a) {
        try {
          strict.decode(file.bytes.subarray(start, i));
        } catch {
          break;
        }
        line++;
        start = i + 1;
      }
    }
    return refuse(file.name, line, "(encoding)", "the file is not valid UTF-8 text");
  }
}

export interface CsvRow {
  readonly line: number;
  readonly cells: readonly string[];
}

/** Every record with the line it starts on; a syntax error is refused with its line. */
export function csvRows(
  file: InputFile,
  options: { delimiter?: string; quote?: string | false; columns: number | readonly string[] },
): CsvRow[] {
  // OFAC ends its files with a DOS end-of-file mark (Ctrl-Z): not a record.
  const text = decode(file).replace(new RegExp(`${String.fromCharCode(0x1a)}\\s*$`), "");
  // csv-parse counts lines to a record's end; a record spanning lines (a quoted line break) is
  // named by the line it starts on, found from the byte where the record before it ended.
  const bytes = Buffer.from(text);
  const lines = lineCounter(bytes);
  let parsed: { record: string[]; info: { bytes: number } }[];
  try {
    parsed = parse(bytes, {
      delimiter: options.delimiter ?? ",",
      quote: options.quote === false ? null : (options.quote ?? '"'),
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      // OFAC writes `-0- ,"x"`: spaces outside quotes.
      ltrim: true,
      rtrim: true,
    }) as unknown as { record: string[]; info: { bytes: number } }[];
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    // The parser names the line it stopped on; name the record the error is in, by where it starts
    // (a quote left open runs on into the lines after it). `bytes`: where the last record ended.
    const { lines: stopped, bytes: ended } = err as CsvError & { lines?: number; bytes?: number };
    const message =
      err.code === "CSV_QUOTE_NOT_CLOSED"
        ? "a quoted field starting in this record is never closed"
        : err.code === "CSV_INVALID_CLOSING_QUOTE"
          ? `a quoted field in this record is followed by other text on line ${stopped} (a quote left open?)`
          : err.message.replace(/^Invalid [^:]*: /, "");
    return refuse(file.name, ended === undefined ? stopped : lines.recordStart(ended), "(csv)", message);
  }
  let ended = 0;
  const records = parsed.map(({ record, info }) => {
    const row = { line: lines.recordStart(ended), cells: record };
    ended = info.bytes;
    return row;
  });
  const width = typeof options.columns === "number" ? options.columns : options.columns.length;
  for (const { line, cells } of records)
    if (cells.length !== width)
      refuse(
        file.name,
        line,
        `column ${Math.min(cells.length, width) + 1}`,
        `expected ${width} columns, found ${cells.length} (a truncated or wrong file?)`,
      );
  return records;
}

/**
 * Line numbers of byte offsets, asked in increasing order: `recordStart(offset)` is the line of
 * the first byte at or after `offset` that is not a line break (empty lines are skipped).
 */
function lineCounter(bytes: Buffer): { recordStart(offset: number): number } {
  let at = 0;
  let line = 1;
  return {
    recordStart(offset) {
      let start = offset;
      while (start < bytes.length && (bytes[start] === 0x0a || bytes[start] === 0x0d)) start++;
      for (let nl = bytes.indexOf(0x0a, at); nl !== -1 && nl < start; nl = bytes.indexOf(0x0a, nl + 1)) {
        line++;
        at = nl + 1;
      }
      return line;
    },
  };
}

/** OFAC writes -0- for "empty". */
export function cell(value: string | undefined): string {
  const v = (value ?? "").trim();
  return v === "-0-" ? "" : v;
}

export function sha256(...parts: readonly (Uint8Array | string)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

export function digestFiles(files: readonly InputFile[]): string {
  return sha256(...files.map((f) => f.bytes));
}

const require = createRequire(import.meta.url);
const countries = require("i18n-iso-countries/index.js") as typeof CountriesLib;
countries.registerLocale(require("i18n-iso-countries/langs/en.json") as CountriesLib.LocaleData);

/** Names lists use that the ISO short names do not. */
const COUNTRY_ALIASES: Readonly<Record<string, string>> = {
  burma: "MM",
  "korea, north": "KP",
  "north korea": "KP",
  "korea, south": "KR",
  "south korea": "KR",
  syria: "SY",
  "syrian arab republic": "SY",
  iran: "IR",
  "iran (islamic republic of)": "IR",
  russia: "RU",
  "russian federation": "RU",
  palestinian: "PS",
  "west bank": "PS",
  gaza: "PS",
  "united states": "US",
  usa: "US",
  uk: "GB",
  "united kingdom": "GB",
  "democratic people's republic of korea": "KP",
  "republic of korea": "KR",
  "venezuela (bolivarian republic of)": "VE",
  "bolivia (plurinational state of)": "BO",
  "lao people's democratic republic": "LA",
  "united republic of tanzania": "TZ",
  "viet nam": "VN",
  vietnam: "VN",
  "cote d'ivoire": "CI",
  "congo, democratic republic of the": "CD",
  kosovo: "XK",
  "the former yugoslav republic of macedonia": "MK",
};

/** An ISO alpha-2 code (either case) or an English country name, to the upper-case code; else undefined. */
export function countryCode(value: string): string | undefined {
  const v = value.trim().replace(/\.$/, "");
  if (v === "") return undefined;
  if (/^[A-Za-z]{2}$/.test(v)) {
    const up = v.toUpperCase();
    return countries.isValid(up) || up === "XK" ? up : undefined;
  }
  const alias = COUNTRY_ALIASES[v.toLowerCase()];
  if (alias !== undefined) return alias;
  return countries.getAlpha2Code(v, "en") ?? undefined;
}

/** A country as listed: its code when known, else the text itself. */
export function countryOrText(value: string): string {
  return countryCode(value) ?? value.trim();
}

const MONTHS: Readonly<Record<string, string>> = {
  jan: "01",
  feb: "02",
  mar: "03",
  apr: "04",
  may: "05",
  jun: "06",
  jul: "07",
  aug: "08",
  sep: "09",
  oct: "10",
  nov: "11",
  dec: "12",
};

/** How far either side of an approximate birth year ("circa 1965", UN "APPROXIMATELY") to look. */
export const APPROXIMATE_YEARS = 3;
/** A range longer than this is not a birth date range but a mistake: only its ends are kept. */
const LONGEST_RANGE = 20;

/** One date as listed: "12 Jan 1965", "Jan 1965", "1965", "1965-01-12", "01/12/1965"; else undefined. */
function oneDate(text: string): string | undefined {
  const p = text.replace(/\.$/, "").trim();
  let m: RegExpExecArray | null;
  if ((m = /^(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?\s+(\d{4})$/.exec(p)) && MONTHS[m[2]!.toLowerCase()])
    return `${m[3]}-${MONTHS[m[2]!.toLowerCase()]}-${m[1]!.padStart(2, "0")}`;
  if ((m = /^([A-Za-z]{3})[a-z]*\.?\s+(\d{4})$/.exec(p)) && MONTHS[m[1]!.toLowerCase()])
    return `${m[2]}-${MONTHS[m[1]!.toLowerCase()]}`;
  if (/^\d{4}(?:-\d{2}(?:-\d{2})?)?$/.test(p)) return p;
  if ((m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(p))) return `${m[3]}-${m[1]}-${m[2]}`;
  return undefined;
}

const years = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/**
 * A listed birth date to YYYY, YYYY-MM or YYYY-MM-DD: "12 Jan 1965", "Jan 1965", "1965", "1965-01-12",
 * "01/12/1965". A range ("1960 to 1962", "01 Jan 1977 to 31 Dec 1985", "1979-1982") gives every
 * year in it, not only its ends; an approximate date ("circa 1965", "approximately 1965") every year
 * within APPROXIMATE_YEARS of it, since the list does not know better. Empty if none.
 */
export function birthDates(text: string): string[] {
  let t = text.trim().replace(/\.$/, "");
  const approx = /^(?:circa|ca\.?|c\.|approximately|approx\.?|about|around)\s+/i.exec(t);
  if (approx) t = t.slice(approx[0].length);
  const widen = approx ? APPROXIMATE_YEARS : 0;
  const parts = t.split(/\s+to\s+|(?<=^\d{4})\s*-\s*(?=\d{4}$)/i).map(oneDate);
  const dates = parts.filter((p) => p !== undefined);
  // What could not be read is left out ("1965 to ?" gives 1965), and nothing is guessed from it.
  if (dates.length < parts.length || dates.length > 2) return dates;
  const from = Number(dates[0]!.slice(0, 4));
  const to = Number(dates.at(-1)!.slice(0, 4));
  if (to < from || to - from > LONGEST_RANGE) return dates;
  if (dates.length === 1 && widen === 0) return dates;
  // A range within one year is that year ("01 Jan 1952 to 31 Dec 1952").
  return years(from - widen, to + widen);
}

const AKA =
  /\b(weak\s+)?(?:a\.k\.a\.|f\.k\.a\.|n\.k\.a\.),?\s+'((?:(?!\b[afn]\.k\.a\.)[^;])+?)'(?=\s*(?:[;.,()]|$))/gi;

/** The remark fields OFAC writes into `remarks`: a.k.a.s, DOB, nationality, citizenship, ids. */
export function remarkFacts(remarks: string): {
  akas: { name: string; strength: "strong" | "weak" }[];
  birth: string[];
  nationalities: string[];
  identifiers: { type: string; value: string; country?: string }[];
} {
  const akas: { name: string; strength: "strong" | "weak" }[] = [];
  // An alias ends at a quote followed by ";", ".", ",", a bracket or the end: a quote inside it is
  // part of the name ('ABU-'UMAR', 'SHA'BAN', 'ABDEL' AZIZ'), not its end.
  for (const m of remarks.matchAll(AKA))
    akas.push({ name: m[2]!.trim(), strength: m[1] === undefined ? "strong" : "weak" });
  const birth: string[] = [];
  const nationalities: string[] = [];
  const identifiers: { type: string; value: string; country?: string }[] = [];
  for (const raw of remarks.split(";")) {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(?:alt\.\s+)?DOB\s+(.+)$/i.exec(part))) birth.push(...birthDates(m[1]!));
    else if ((m = /^(?:alt\.\s+)?(?:nationality|citizen)\s+(.+?)\.?$/i.exec(part)))
      nationalities.push(countryOrText(m[1]!));
    else if (
      (m =
        /^(?:alt\.\s+)?(Passport|National ID No\.|Cedula No\.|Tax ID No\.|Registration Number|IMO|MMSI|Identification Number|SSN|D-U-N-S Number|Legal Entity Number|Aircraft Manufacturer's Serial Number \(MSN\))\s+([^\s(]+)(?:\s+\(([^)]+)\))?/i.exec(
          part,
        ))
    ) {
      const country = m[3] === undefined ? undefined : countryCode(m[3]);
      identifiers.push({ type: m[1]!, value: m[2]!, ...(country === undefined ? {} : { country }) });
    }
  }
  return { akas, birth, nationalities, identifiers };
}

/**
 * The last day (YYYY-MM-DD) a denial order is in force, from a list's date in `format` (the BIS
 * DPL writes MM/DD/YYYY, the CSL YYYY-MM-DD): undefined when the cell is empty (an order without
 * end), refused naming the line and field when it is not a day the calendar has — an order's end
 * misread would lift a denial or keep one, unseen.
 */
export function lastDayInForce(
  text: string,
  format: "MM/DD/YYYY" | "YYYY-MM-DD",
  where: { file: string; line: number; field: string },
): string | undefined {
  if (text === "") return undefined;
  const m =
    format === "MM/DD/YYYY"
      ? /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text)
      : /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const day =
    m === null
      ? undefined
      : format === "MM/DD/YYYY"
        ? `${m[3]}-${m[1]!.padStart(2, "0")}-${m[2]!.padStart(2, "0")}`
        : text;
  if (day === undefined || !isCalendarDate(day))
    return refuse(
      where.file,
      where.line,
      where.field,
      `expected the order's expiration date as ${format} (or nothing, for an order without end), found ${quoted(text)}`,
    );
  return day;
}

/**
 * Whether an order in force through `lastDay` still denies at `asOf` (an ISO instant). The list
 * gives a day, not an instant: the order lapses only once that day has ended everywhere (at 12:00
 * UTC the day after, the end of the day at UTC−12), so that no reading of the date lifts a denial
 * early. An instant that cannot be read keeps the order (fail closed).
 */
export function inForceAt(lastDay: string, asOf: string): boolean {
  const [y, m, d] = lastDay.split("-").map(Number);
  const lapses = Date.UTC(y!, m! - 1, d! + 1, 12);
  return !(instantOf(asOf) >= lapses);
}

const uniq = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** Drops empty and duplicate values, so that two loads of one file give identical entries. */
export function tidy(e: ListEntry): ListEntry {
  const seen = new Set<string>();
  // Lists wrap long names over lines and tabs: one space, and no control characters, in a name.
  // eslint-disable-next-line no-control-regex -- control characters are what is taken out
  const clean = (name: string) => name.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, " ").trim();
  const names = e.names
    .map((n) => ({ ...n, name: clean(n.name) }))
    .filter((n) => {
      const key = n.name.toLowerCase();
      if (n.name.trim() === "" || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  return {
    ...e,
    names,
    birth_dates: uniq(e.birth_dates),
    nationalities: uniq(e.nationalities.filter((x) => x !== "")),
    countries: uniq(e.countries.filter((x) => x !== "")),
    addresses: uniq(e.addresses.filter((x) => x !== "")),
    programs: uniq(e.programs.filter((x) => x !== "")),
  };
}

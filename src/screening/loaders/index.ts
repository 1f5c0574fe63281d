/**
 * A list file set in one of the official formats, to entries. The format is named by the caller or
 * recognised from the file; a malformed file is refused (InvalidInputError naming file, line and
 * field) before anything is stored.
 */
import { InvalidInputError } from "../../errors/index.js";
import { LIST_FORMATS, listTooLarge, type ListEntry, type ListFormat, type ParsedList } from "../types.js";
import { digestFiles, inForceAt, refuse, sha256, withoutControls, type InputFile } from "./common.js";
import { loadCsl } from "./csl.js";
import { loadDpl } from "./dpl.js";
import { loadFtm } from "./ftm.js";
import { loadOfac, ofacCompanions, ofacRole } from "./ofac.js";
import { loadUn } from "./un.js";

export type { InputFile } from "./common.js";
export { countryCode, birthDates } from "./common.js";
export { ofacCompanions };

/** Recognises a format from the first file's name and first bytes. */
export function detectFormat(file: InputFile): ListFormat {
  const name = file.name.toLowerCase();
  const head = new TextDecoder()
    .decode(file.bytes.subarray(0, 512))
    .replace(/^\uFEFF/, "")
    .trimStart();
  if (ofacRole(name) !== undefined) return "ofac-csv";
  if (name.endsWith(".xml") || head.startsWith("<")) return "un-xml";
  if (name.endsWith(".jsonl") || name.endsWith(".ftm.json") || head.startsWith("{")) return "ftm";
  if (head.startsWith('"Name"\t') || head.startsWith("Name\t")) return "bis-dpl";
  if (/^(_id,)?source,/.test(head) || /^"_id","source"/.test(head)) return "csl-csv";
  if (/^\d+,"/.test(head)) return "ofac-csv";
  return refuse(
    file.name,
    1,
    "format",
    `cannot tell the list format; name it with --format (${LIST_FORMATS.join(", ")})`,
  );
}

export interface LoadOptions {
  readonly format?: ListFormat;
  /** Overrides the list name the file implies (e.g. to keep two CSL feeds apart). */
  readonly list?: string;
  /** YYYY-MM-DD, when the file does not say. */
  readonly published?: string;
  /**
   * Most entries a list may hold (config `screening.max_list_entries`): every active entry lives in
   * each gateway's memory, so a file of a million minimal rows must not become a million entries.
   */
  readonly maxEntries?: number;
  /**
   * When the import takes effect (an ISO instant): a denial order whose end has passed by then (the
   * BIS DPL's Expiration_Date, the CSL's end_date on its DPL rows) no longer denies, and is left out
   * as if the list no longer held it. One that ends later stays in until an import after its end.
   * Without it nothing is left out.
   */
  readonly asOf?: string;
}

export function loadList(files: readonly InputFile[], options: LoadOptions = {}): ParsedList {
  const first = files[0];
  if (first === undefined)
    throw new InvalidInputError([{ code: "invalid_list", path: ["file"], message: "no list file given" }]);
  const format = options.format ?? detectFormat(first);
  let loaded: {
    list: string;
    entries: ListEntry[];
    published?: string | null;
    /** Entry id → the last day its order is in force (YYYY-MM-DD); absent: without end. */
    inForceThrough?: ReadonlyMap<string, string>;
  };
  switch (format) {
    case "ofac-csv":
      loaded = loadOfac(files);
      break;
    case "csl-csv":
      loaded = loadCsl(first);
      break;
    case "un-xml":
      loaded = loadUn(first);
      break;
    case "bis-dpl":
      loaded = loadDpl(first);
      break;
    case "ftm":
      loaded = loadFtm(first);
      break;
  }
  if (loaded.entries.length === 0)
    refuse(first.name, undefined, "(file)", "the file holds no entries (empty or truncated?)");
  // The file's rows, lapsed orders too: the cap bounds what a file may hold, not only what is kept.
  if (options.maxEntries !== undefined && loaded.entries.length > options.maxEntries)
    throw listTooLarge(
      first.name,
      `${loaded.entries.length} entries, more than the ${options.maxEntries} a list may hold (screening.max_list_entries)`,
    );
  // Whatever the format (the loaders that know the line have said it already), and a name given.
  withoutControls(first.name, undefined, "list", "a list name", options.list ?? loaded.list);
  for (const e of loaded.entries) withoutControls(first.name, undefined, "id", "an entry id", e.id);
  const { asOf } = options;
  const through = loaded.inForceThrough;
  const expired =
    asOf === undefined || through === undefined
      ? []
      : loaded.entries.flatMap((e) => {
          const day = through.get(e.id);
          return day === undefined || inForceAt(day, asOf) ? [] : [e.id];
        });
  if (expired.length > 0 && expired.length === loaded.entries.length)
    refuse(first.name, undefined, "(file)", `every order in the file has expired by ${asOf} (an old file?)`);
  const gone = new Set(expired);
  return {
    list: options.list ?? loaded.list,
    format,
    published: options.published ?? loaded.published ?? null,
    // The same file with more orders lapsed since is another version: importing it again applies them.
    digest:
      expired.length === 0
        ? digestFiles(files)
        : sha256(digestFiles(files), "\0expired\0", expired.join("\n")),
    files: files.map((f) => f.name.split(/[\\/]/).pop() ?? f.name),
    entries: expired.length === 0 ? loaded.entries : loaded.entries.filter((e) => !gone.has(e.id)),
    ...(expired.length === 0 ? {} : { expired }),
  };
}

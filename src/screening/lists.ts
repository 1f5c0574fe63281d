/**
 * Lists in the store: import a parsed list as a new version (one transaction, with its diff), and
 * read the active versions' entries back.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { ClearanceError, InvalidInputError, type ErrorKind, type Problem } from "../errors/index.js";
import type { ListVersionRow, Store } from "../store/index.js";
import type { ImportInput } from "../store/screening.js";
import { runWorker } from "../threads/index.js";
import type { InputFile, LoadOptions } from "./loaders/index.js";
import { sha256 } from "./loaders/common.js";
import { listTooLarge, type ListEntry, type ParsedList } from "./types.js";

export type { ListVersionRow } from "../store/screening.js";

export function importInput(parsed: ParsedList): ImportInput {
  const counts: Record<string, number> = { entries: parsed.entries.length };
  for (const e of parsed.entries) counts[e.type] = (counts[e.type] ?? 0) + 1;
  if (parsed.expired !== undefined && parsed.expired.length > 0) counts.expired = parsed.expired.length;
  return {
    list: parsed.list,
    format: parsed.format,
    published: parsed.published,
    digest: parsed.digest,
    files: parsed.files,
    counts,
    entries: parsed.entries.map((e) => {
      const document = JSON.stringify(e);
      return { id: e.id, digest: sha256(document), document };
    }),
  };
}

/** What the parsing thread is given, and what it answers (parse-worker.ts). */
export interface ParseTask {
  readonly files: readonly InputFile[];
  readonly options: LoadOptions;
}
export type ParseOutcome =
  | { readonly ok: ImportInput }
  | { readonly invalid: { readonly message: string; readonly problems: readonly Problem[] } }
  | {
      readonly refused: {
        readonly kind: ErrorKind;
        readonly code: string;
        readonly message: string;
        readonly problems: readonly Problem[];
      };
    }
  | { readonly failed: string };

/** The default of config `screening.max_list_entries` (the largest official list holds ~18,000). */
export const DEFAULT_MAX_LIST_ENTRIES = 100_000;
/**
 * The parsing thread's heap: far above what the largest list allowed needs (a 100,000-entry file
 * parses in under 100 MB), so only a file crafted to blow up in parsing reaches it — a 413, and
 * the gateway's own heap untouched.
 */
const PARSE_HEAP_MB = 1024;
/**
 * The parsing thread's time: two minutes, and ten seconds more per MB of files. OFAC's SDN files (a
 * few MB) parse in about a second, so a real list has over a hundred times what it needs, room for
 * a starved machine, while a parser stuck on a crafted file (a loop that neither answers nor exits)
 * gives its core back within minutes (a 7.5 MB upload, the most a 10 MiB body carries in base64:
 * 3¼ minutes), refused as a file too large to parse.
 */
export const parseTimeoutMs = (files: readonly InputFile[]): number =>
  120_000 + Math.ceil((files.reduce((n, f) => n + f.bytes.length, 0) / 1_000_000) * 10_000);

/**
 * Parses in a worker thread (refusing a malformed file before anything is written, with the same
 * problems as parsing here would give), then stores one new version: of the orders in force as of
 * `options.asOf`, by default now (an order that lapses later lapses at the next import).
 */
export async function importList(
  store: Store,
  files: readonly InputFile[],
  options: LoadOptions,
  actor: string,
  parseHeapMb = PARSE_HEAP_MB,
  parseMs = parseTimeoutMs(files),
): Promise<{ version: ListVersionRow; unchanged: boolean }> {
  const outcome = await runWorker<ParseOutcome>(
    import.meta.url,
    "parse-worker",
    { files, options: { ...options, asOf: options.asOf ?? new Date().toISOString() } } satisfies ParseTask,
    { resourceLimits: { maxOldGenerationSizeMb: parseHeapMb }, timeoutMs: parseMs },
  ).catch((err: unknown) => {
    const code = (err as { code?: unknown }).code;
    if (code !== "ERR_WORKER_OUT_OF_MEMORY" && code !== "ERR_WORKER_TIMEOUT") throw err;
    const file = files[0]?.name ?? "(file)";
    const message =
      code === "ERR_WORKER_TIMEOUT"
        ? `parsing the list took longer than ${parseMs} ms, and was stopped; is it the list you meant?`
        : `parsing the list needed more than ${parseHeapMb} MB; is it the list you meant?`;
    throw listTooLarge(file, message);
  });
  if ("invalid" in outcome) throw new InvalidInputError(outcome.invalid.problems, outcome.invalid.message);
  if ("refused" in outcome) {
    const { kind, code, message, problems } = outcome.refused;
    throw new ClearanceError(kind, code, message, { problems });
  }
  if ("failed" in outcome) throw new Error(`the list could not be parsed: ${outcome.failed}`);
  return store.screening.importList(outcome.ok, actor);
}

/** An active list version with its entries and their digests. */
export interface ActiveList {
  readonly version: ListVersionRow;
  readonly entries: readonly { readonly entry: ListEntry; readonly digest: string }[];
}

export async function activeLists(store: Store): Promise<ActiveList[]> {
  const versions = await store.screening.versions(undefined, "active");
  return Promise.all(
    versions.map(async (version) => {
      const rows = await store.screening.entries(version.list, version.version);
      const entries: { entry: ListEntry; digest: string }[] = [];
      // Parsed in steps that yield to the event loop (a gateway keeps serving).
      for (const r of rows) {
        entries.push({ entry: JSON.parse(r.document) as ListEntry, digest: r.digest });
        if (entries.length % 2000 === 0) await yieldToLoop();
      }
      return { version, entries };
    }),
  );
}

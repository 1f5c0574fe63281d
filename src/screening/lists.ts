/**
 * Lists in the store: import a parsed list as a new version (one transaction, with its diff), and
 * read the active versions' entries back.
 */
import { InvalidInputError, type Problem } from "../errors/index.js";
import type { ListVersionRow, Store } from "../store/index.js";
import type { ImportInput } from "../store/screening.js";
import { runWorker } from "../threads/index.js";
import type { InputFile, LoadOptions } from "./loaders/index.js";
import { sha256 } from "./loaders/common.js";
import type { ListEntry, ParsedList } from "./types.js";

export type { ListVersionRow } from "../store/screening.js";

export function importInput(parsed: ParsedList): ImportInput {
  const counts: Record<string, number> = { entries: parsed.entries.length };
  for (const e of parsed.entries) counts[e.type] = (counts[e.type] ?? 0) + 1;
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
  | { readonly failed: string };

/**
 * Parses in a worker thread (refusing a malformed file before anything is written, with the same
 * problems as parsing here would give), then stores one new version.
 */
export async function importList(
  store: Store,
  files: readonly InputFile[],
  options: LoadOptions,
  actor: string,
): Promise<{ version: ListVersionRow; unchanged: boolean }> {
  const outcome = await runWorker<ParseOutcome>(import.meta.url, "parse-worker", {
    files,
    options,
  } satisfies ParseTask);
  if ("invalid" in outcome) throw new InvalidInputError(outcome.invalid.problems, outcome.invalid.message);
  if ("failed" in outcome) throw new Error(`the list could not be parsed: ${outcome.failed}`);
  return store.screening.importList(outcome.ok, actor);
}

/** An active list version with its entries and their digests. */
export interface ActiveList {
  readonly version: ListVersionRow;
  readonly entries: readonly { readonly entry: ListEntry; readonly digest: string }[];
}

export async function activeLists(store: Store): Promise<ActiveList[]> {
  const versions = (await store.screening.versions()).filter((v) => v.active);
  return Promise.all(
    versions.map(async (version) => ({
      version,
      entries: (await store.screening.entries(version.list, version.version)).map((r) => ({
        entry: JSON.parse(r.document) as ListEntry,
        digest: r.digest,
      })),
    })),
  );
}

/** The vocabulary of denied-party screening: list entries as loaded, and what a screening says. */
import { ClearanceError } from "../errors/index.js";

export const ENTITY_TYPES = ["person", "organization", "vessel", "aircraft", "unknown"] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export const LIST_FORMATS = ["ofac-csv", "csl-csv", "un-xml", "bis-dpl", "ftm"] as const;
export type ListFormat = (typeof LIST_FORMATS)[number];

/** A list too large to hold (413: by its entries, or the memory its parsing takes), naming the file. */
export function listTooLarge(file: string, message: string): ClearanceError {
  return new ClearanceError("too-large", "list_too_large", `${file}: ${message}`, {
    problems: [{ code: "list_too_large", path: ["file"], file, message }],
  });
}

/** A name as listed. Weak aliases (OFAC "weak a.k.a.", UN "Low" quality) count less in a match. */
export interface ListedName {
  readonly name: string;
  readonly strength: "strong" | "weak";
  /** primary, aka, fka, nka, original-script. */
  readonly kind: string;
}

export interface Identifier {
  readonly type: string;
  readonly value: string;
  readonly country?: string;
}

/** One listed party: enough for a reviewer to decide. */
export interface ListEntry {
  /** The list's own id for it (OFAC ent_num, UN DATAID, …). */
  readonly id: string;
  readonly type: EntityType;
  /** The primary name first. */
  readonly names: readonly ListedName[];
  /** YYYY, YYYY-MM or YYYY-MM-DD. */
  readonly birth_dates: readonly string[];
  /** ISO 3166-1 alpha-2 where the country could be resolved, else as listed. */
  readonly nationalities: readonly string[];
  /** Countries of address (ISO alpha-2 where resolved). */
  readonly countries: readonly string[];
  readonly addresses: readonly string[];
  readonly identifiers: readonly Identifier[];
  readonly programs: readonly string[];
  /** The list this came from inside a combined list (the CSL's source column), if any. */
  readonly source?: string;
  readonly remarks?: string;
}

/** A list file (or file set) as parsed, before it is stored. */
export interface ParsedList {
  /** Which list: ofac-sdn, ofac-consolidated, us-csl, un-sc, bis-dpl, or an FtM dataset name. */
  readonly list: string;
  readonly format: ListFormat;
  /** Publication date (YYYY-MM-DD) when the file says, else null. */
  readonly published: string | null;
  /**
   * Hex SHA-256 over the input files' bytes, in order; with the ids of the orders left out as
   * expired, when there are any (the same file is another version once another order has lapsed).
   */
  readonly digest: string;
  readonly files: readonly string[];
  /** The orders in force as of the import (`LoadOptions.asOf`): every entry of the file without it. */
  readonly entries: readonly ListEntry[];
  /** The ids of the entries left out because their order had expired as of the import. */
  readonly expired?: readonly string[];
}

/** The difference between two versions of one list, by entry id. */
export interface ListDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/** A stored list version (the snapshot record): source, publication date, digest, counts, diff. */
export interface ListVersion {
  readonly list: string;
  readonly version: number;
  readonly format: ListFormat;
  readonly published: string | null;
  readonly digest: string;
  readonly files: readonly string[];
  /** `expired`: the file's orders left out as lapsed (when there are any). */
  readonly counts: { readonly entries: number; readonly expired?: number } & Readonly<
    Partial<Record<EntityType, number>>
  >;
  readonly diff: ListDiff;
  readonly imported_at: string;
  readonly imported_by: string;
  readonly active: boolean;
}

/** An entry as stored in a list version, with the digest of its content (changes are digests that differ). */
export interface StoredEntry {
  readonly entry: ListEntry;
  readonly digest: string;
}

/**
 * A choice among records that may be many (principals for a key, partners for an identity
 * provider): the ones whose id or name starts with what is typed, asked of the API's `?prefix=` as
 * it is typed, one page of at most FOUND.
 */
import { useEffect, useRef, useState } from "react";
import { api, type Page } from "../api.js";

/** Records a search offers at most: typing more of the id or name narrows it. */
export const FOUND = 50;

export interface Found {
  readonly ids: string[];
  /** More than these start so. */
  readonly more: boolean;
  readonly error: string | null;
}

/**
 * What `path` (e.g. "/principals") lists whose id or name starts with `prefix`. Null while nothing
 * is typed, unless `first`: then its first page. An older answer arriving after a newer one is
 * dropped; until the answer comes, nothing is offered.
 */
export function usePrefixSearch(path: string, prefix: string, first = false): Found | null {
  const [found, setFound] = useState<Found & { of: string }>();
  const asked = useRef(0);
  const wanted = prefix.trim();
  const asking = wanted !== "" || first;
  useEffect(() => {
    if (!asking) return;
    const n = ++asked.current;
    const q = new URLSearchParams({ ...(wanted === "" ? {} : { prefix: wanted }), limit: String(FOUND) });
    api<Page<{ id: string }>>("GET", `${path}?${q}`).then(
      (page) =>
        n === asked.current &&
        setFound({
          of: wanted,
          ids: page.data.map((p) => p.id),
          more: page.next_cursor !== null,
          error: null,
        }),
      (err: Error) =>
        n === asked.current && setFound({ of: wanted, ids: [], more: false, error: err.message }),
    );
  }, [path, wanted, asking]);
  if (!asking) return null;
  return found?.of === wanted ? found : { ids: [], more: false, error: null };
}

/** What a search's status line says: how many were found, or why none. */
export function foundText(found: Found): string {
  return found.error !== null
    ? `The search failed: ${found.error}`
    : found.more
      ? `The first ${found.ids.length} found: type more to narrow.`
      : `${found.ids.length} found.`;
}

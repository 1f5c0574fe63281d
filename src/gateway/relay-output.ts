/**
 * The output items a Responses stream has completed (`response.output_item.done`), kept so that a
 * stream the gateway ends itself fails with the response's output as the upstream's own
 * `response.failed` would carry it: the openai SDK's accumulator (its stream helper) replaces the
 * response it built from the events with the one `response.failed` carries, so `output: []` there
 * lost every item already given.
 */

/** The `type` a completed item's event data names (with its quotes, as JSON writes it). */
const ITEM_DONE = '"response.output_item.done"';

export interface CompletedItems {
  /** An event relayed: kept if it completes an item and fits. */
  offer(event: string | undefined, data: string): void;
  /** The items kept, in output order: parsed only here, when the gateway ends the stream. */
  output(): unknown[];
}

/**
 * The most bytes of completed items one stream keeps. They are held for the whole stream, which
 * nearly always succeeds and never needs them, alongside whatever else the stream holds: bounded
 * by limits.body_bytes alone (the most one event may hold, 10 MiB by default) they would double a
 * stream's worst-case memory. A cut past it fails the response with the items completed first;
 * the rest are in the events the client was given.
 */
export const MAX_KEPT_ITEMS_BYTES = 1024 * 1024;

/**
 * Kept as bytes (their exact size, never a slice holding a larger string alive) up to
 * min(`limit`, MAX_KEPT_ITEMS_BYTES) bytes in all (`limit`: limits.body_bytes, the most of one event
 * held): a stream of many items must not grow the gateway's memory without bound. Past it no later
 * item is kept, so the output is the items completed first, without holes.
 */
export function completedItems(limit: number): CompletedItems {
  const cap = Math.min(limit, MAX_KEPT_ITEMS_BYTES);
  const kept: Buffer[] = [];
  let size = 0;
  let full = false;
  return {
    offer(event, data) {
      if (full) return;
      // The event's name when given (the API always names it), else the data's type, checked below.
      if (event === undefined ? !data.includes(ITEM_DONE) : event !== "response.output_item.done") return;
      const bytes = Buffer.from(data, "utf8");
      if (size + bytes.length > cap) {
        full = true;
        return;
      }
      kept.push(bytes);
      size += bytes.length;
    },
    output() {
      // By output index, an item completed twice (an upstream's repeat) being the later one: a map,
      // not a search of the items so far for each (quadratic: 70,000 items took 9 s, blocking the
      // event loop while the stream was cut).
      const items = new Map<number, unknown>();
      /**
       * Items without an index, kept apart: each goes after every index seen before it (`slot`, the
       * one after them), behind an item that has that index for real, in the order they came. Only
       * a real index replaces an item: before, one without an index took `slot` as its own, and a
       * later item with that index replaced it, losing it from response.failed.
       */
      const loose: { readonly slot: number; readonly item: unknown }[] = [];
      let slot = 0;
      for (const bytes of kept) {
        let done: { type?: unknown; output_index?: unknown; item?: unknown } | null;
        try {
          done = JSON.parse(bytes.toString("utf8")) as typeof done;
        } catch {
          continue;
        }
        if (done === null || typeof done !== "object" || done.type !== "response.output_item.done") continue;
        const { item, output_index: index } = done;
        if (typeof item !== "object" || item === null || Array.isArray(item)) continue;
        if (!Number.isSafeInteger(index)) {
          loose.push({ slot, item });
          continue;
        }
        slot = Math.max(slot, (index as number) + 1);
        items.set(index as number, item);
      }
      const output: unknown[] = [];
      let next = 0; // the next item without an index to place
      for (const index of [...items.keys()].sort((a, b) => a - b)) {
        while (next < loose.length && loose[next]!.slot < index) output.push(loose[next++]!.item);
        output.push(items.get(index));
      }
      while (next < loose.length) output.push(loose[next++]!.item);
      return output;
    },
  };
}

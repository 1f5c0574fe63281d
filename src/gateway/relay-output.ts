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
 * Kept as bytes (their exact size, never a slice holding a larger string alive) up to `limit` bytes
 * in all (limits.body_bytes, the most of one event held): a stream of many items must not grow the
 * gateway's memory without bound. Past it no later item is kept, so the output is the items
 * completed first, without holes; the rest are in the events the client was given.
 */
export function completedItems(limit: number): CompletedItems {
  const kept: Buffer[] = [];
  let size = 0;
  let full = false;
  return {
    offer(event, data) {
      if (full) return;
      // The event's name when given (the API always names it), else the data's type, checked below.
      if (event === undefined ? !data.includes(ITEM_DONE) : event !== "response.output_item.done") return;
      const bytes = Buffer.from(data, "utf8");
      if (size + bytes.length > limit) {
        full = true;
        return;
      }
      kept.push(bytes);
      size += bytes.length;
    },
    output() {
      const items: { readonly index: number; readonly item: unknown }[] = [];
      for (const bytes of kept) {
        let done: { type?: unknown; output_index?: unknown; item?: unknown } | null;
        try {
          done = JSON.parse(bytes.toString("utf8")) as typeof done;
        } catch {
          continue;
        }
        if (done === null || typeof done !== "object" || done.type !== "response.output_item.done") continue;
        const { item } = done;
        if (typeof item !== "object" || item === null || Array.isArray(item)) continue;
        const index = Number.isSafeInteger(done.output_index) ? (done.output_index as number) : items.length;
        // An item completed twice (an upstream's repeat) is the later one.
        const at = items.findIndex((i) => i.index === index);
        if (at >= 0) items.splice(at, 1);
        items.push({ index, item });
      }
      return items.sort((a, b) => a.index - b.index).map((i) => i.item);
    },
  };
}

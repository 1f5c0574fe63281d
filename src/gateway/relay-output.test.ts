/**
 * The completed items a cut Responses stream's `response.failed` carries: kept within their own
 * bound, and put in output order in one pass however many there are.
 */
import { expect, it } from "vitest";
import { completedItems, MAX_KEPT_ITEMS_BYTES } from "./relay-output.js";

const done = (index: number, id: string): string =>
  JSON.stringify({ type: "response.output_item.done", output_index: index, item: { id } });

// Before: a linear search of the items so far for each one kept (quadratic: 70,000 items took 9 s
// on the cut path, the event loop blocked).
it("puts as many small items as fit in their bound in output order, a repeated index the later one", () => {
  const items = completedItems(10 * 1024 * 1024);
  // Completed out of order (the upstream's items interleave), every tenth completed twice.
  const n = 11_500;
  const order = Array.from({ length: n }, (_, i) => (i * 7_919) % n); // a permutation: 7,919 is prime
  let offered = 0;
  for (const i of order) {
    items.offer("response.output_item.done", done(i, `f${i}`));
    if (i % 10 === 0) items.offer("response.output_item.done", done(i, `r${i}`));
    offered += done(i, `f${i}`).length + (i % 10 === 0 ? done(i, `r${i}`).length : 0);
  }
  expect(offered).toBeLessThanOrEqual(MAX_KEPT_ITEMS_BYTES);
  const output = items.output() as { id: string }[];
  expect(output).toHaveLength(n);
  expect(output.map((o) => o.id)).toEqual(
    Array.from({ length: n }, (_, i) => (i % 10 === 0 ? `r${i}` : `f${i}`)),
  );
});

it("items without an output index follow those kept before them", () => {
  const items = completedItems(1024);
  items.offer("response.output_item.done", done(0, "a"));
  items.offer(
    "response.output_item.done",
    JSON.stringify({ type: "response.output_item.done", item: { id: "b" } }),
  );
  items.offer(undefined, done(2, "c"));
  expect((items.output() as { id: string }[]).map((o) => o.id)).toEqual(["a", "b", "c"]);
});

// Before: an item without an output index took the count of items kept so far as its index, which
// may be one an item already has (completed at index 1, then one without an index: index 1), so
// the earlier item was lost from response.failed.
it("an item without an output index after one at a later index does not replace it", () => {
  const items = completedItems(1024);
  items.offer("response.output_item.done", done(1, "a"));
  const unindexed = (id: string) => JSON.stringify({ type: "response.output_item.done", item: { id } });
  items.offer("response.output_item.done", unindexed("b"));
  items.offer("response.output_item.done", done(0, "c"));
  items.offer("response.output_item.done", unindexed("d"));
  expect((items.output() as { id: string }[]).map((o) => o.id)).toEqual(["c", "a", "b", "d"]);
});

// Before: an item without an output index took the index after every one seen as its own, so a
// later item with that index for real (the upstream's index 0 after an unindexed first item)
// replaced it, and it was lost from response.failed.
it("an item without an output index is not replaced by a later one that has the index it would follow", () => {
  const items = completedItems(1024);
  const unindexed = (id: string) => JSON.stringify({ type: "response.output_item.done", item: { id } });
  items.offer("response.output_item.done", unindexed("a"));
  items.offer("response.output_item.done", done(0, "b"));
  items.offer("response.output_item.done", unindexed("c"));
  items.offer("response.output_item.done", done(1, "d"));
  items.offer("response.output_item.done", done(3, "e"));
  items.offer("response.output_item.done", unindexed("f"));
  // Each after every index seen before it, behind the item that has the next index for real.
  expect((items.output() as { id: string }[]).map((o) => o.id)).toEqual(["b", "a", "d", "c", "e", "f"]);
});

// Before: bounded by limits.body_bytes alone (10 MiB by default), held for the whole stream.
it("keeps at most MAX_KEPT_ITEMS_BYTES of items however large limits.body_bytes is; the ones completed first", () => {
  const items = completedItems(10 * 1024 * 1024);
  const text = "x".repeat(200_000);
  for (let i = 0; i < 8; i++)
    items.offer(
      "response.output_item.done",
      JSON.stringify({ type: "response.output_item.done", output_index: i, item: { id: `i${i}`, text } }),
    );
  // Five of about 200 KB fit in 1 MiB; the sixth does not, nor any later one.
  expect((items.output() as { id: string }[]).map((o) => o.id)).toEqual(["i0", "i1", "i2", "i3", "i4"]);
  expect(MAX_KEPT_ITEMS_BYTES).toBe(1024 * 1024);
});

it("keeps at most limits.body_bytes when that is smaller", () => {
  const items = completedItems(200);
  items.offer("response.output_item.done", done(0, "a".repeat(80)));
  items.offer("response.output_item.done", done(1, "b".repeat(80)));
  items.offer("response.output_item.done", done(2, "c"));
  expect((items.output() as { id: string }[]).map((o) => o.id)).toEqual(["a".repeat(80)]);
});

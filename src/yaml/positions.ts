/**
 * Maps a JSON path (from schema validation or compilation) back to a line and column in the YAML
 * text, so that every problem in a scheme file points at the place to fix.
 */
import { isMap, isSeq, isScalar, type Document, type LineCounter, type Node, type Pair } from "yaml";
import type { Path, Problem } from "../errors/index.js";

interface Located {
  /** Offset of the deepest node on the path that exists. */
  readonly offset: number;
}

function locate(doc: Document, path: Path, atKey: boolean): Located {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = (node.items as Pair[]).find(
        (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment),
      );
      if (pair === undefined) break;
      const keyNode = pair.key as Node | null;
      if (last && atKey && keyNode?.range) return { offset: keyNode.range[0] };
      const value = pair.value as Node | null;
      if (value?.range) {
        offset = value.range[0];
        node = value;
      } else {
        if (keyNode?.range) offset = keyNode.range[0];
        break;
      }
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment] as Node | undefined;
      if (!item?.range) break;
      offset = item.range[0];
      node = item;
    } else {
      break;
    }
  }
  return { offset };
}

/** Adds file, line and column to each problem. Unknown-key problems point at the key itself. */
export function placeProblems(
  problems: readonly Problem[],
  doc: Document,
  lines: LineCounter,
  file: string,
): Problem[] {
  return problems.map((p) => {
    if (p.line !== undefined) return { ...p, file };
    const { offset } = locate(doc, p.path, p.code === "unknown_key");
    const { line, col } = lines.linePos(offset);
    return { ...p, file, line, column: col };
  });
}

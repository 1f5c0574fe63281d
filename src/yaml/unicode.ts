/**
 * Text in a YAML file that is not Unicode: a double-quoted `"\ud800"` (or `"\U0000DC00"`) escape
 * reads as a lone surrogate, which no UTF-8 file can hold otherwise. Scheme and config strings reach
 * the audit log (the node's name in every entry, a claim's path in `set_aside`, the scheme's digest
 * over its canonical JSON), and RFC 8785, the log's canonical JSON, cannot hold a lone surrogate:
 * other verifiers could not re-encode the entry or recompute the digest. Refused where written.
 */
import { isPair, isScalar, isSeq, visit, type Document, type Node } from "yaml";
import type { Path } from "../errors/index.js";
import type { Found } from "./structure.js";

export interface NotUnicode extends Found {
  readonly path: Path;
}

/** A lone surrogate (with /u a well-formed pair is one code point, not a match); not global: no state. */
const LONE_SURROGATE = /\p{Surrogate}/u;
const SURROGATES = /\p{Surrogate}/gu;

/** Every scalar (value or key) holding a lone surrogate, with the data path it is read at. */
export function loneSurrogates(doc: Document): NotUnicode[] {
  const out: NotUnicode[] = [];
  visit(doc, {
    Scalar: (_key, node, ancestors) => {
      if (typeof node.value !== "string" || !LONE_SURROGATE.test(node.value)) return;
      const { path, isKey } = dataPath(ancestors, node);
      const escape = `\\u${node.value.match(LONE_SURROGATE)![0].charCodeAt(0).toString(16)}`;
      out.push({
        code: "invalid_unicode",
        path,
        message: `${isKey ? "this key" : "this text"} is not valid Unicode (a lone surrogate, ${escape}): the audit log's canonical JSON (RFC 8785) cannot hold one; write the whole character (both halves of the pair) or remove the escape`,
        offset: node.range?.[0] ?? 0,
      });
    },
  });
  return out;
}

/**
 * Where a node sits in the data: a mapping's value under its key's name, a list's item under its
 * index. A key holding the surrogate ends the path with its own name (the surrogate shown as U+FFFD,
 * so that the answer is Unicode too).
 */
function dataPath(ancestors: readonly unknown[], node: Node): { path: (string | number)[]; isKey: boolean } {
  const path: (string | number)[] = [];
  let isKey = false;
  for (let i = 0; i < ancestors.length; i++) {
    const here = ancestors[i];
    const child = ancestors[i + 1] ?? node;
    if (isPair(here)) {
      const name = isScalar(here.key) ? String(here.key.value ?? "") : String(here.key);
      path.push(name.replace(SURROGATES, "\ufffd"));
      if (child === here.key) isKey = true;
    } else if (isSeq(here)) {
      path.push(here.items.indexOf(child));
    }
  }
  return { path, isKey };
}

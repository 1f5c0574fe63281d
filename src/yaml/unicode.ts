/**
 * Text in a YAML file that is not Unicode, or that reads otherwise than it is: a double-quoted `"\ud800"` (or `"\U0000DC00"`) escape
 * reads as a lone surrogate, which no UTF-8 file can hold otherwise. Scheme and config strings reach
 * the audit log (the node's name in every entry, a claim's path in `set_aside`, the scheme's digest
 * over its canonical JSON), and RFC 8785, the log's canonical JSON, cannot hold a lone surrogate:
 * other verifiers could not re-encode the entry or recompute the digest. Refused where written. So
 * are the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), in values,
 * keys and comments alike: invisible, they make a partner's name, or the file as a reviewer reads
 * it, other than it is ("Trojan Source"). Right-to-left letters and the directional marks pass.
 */
import { isPair, isScalar, isSeq, visit, type Document, type Node } from "yaml";
import type { Path } from "../errors/index.js";
import { BIDI_CONTROL, bidiControlName } from "../policy/text.js";
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

/** A bidirectional control, raw or as a double-quoted escape (`\u202e`, `\U0000202E`). */
const BIDI_IN_TEXT = /[\u202a-\u202e\u2066-\u2069]|\\(?:u|U0000)20(?:2[a-eA-E]|6[6-9])/;
const BIDI_RAW = /[\u202a-\u202e\u2066-\u2069]/g;

const BIDI_ADVICE =
  "an invisible control that makes text read otherwise than it is written; remove it (right-to-left letters need none)";

/**
 * Every scalar (value or key) holding a bidirectional control, with its data path, placed at the
 * control itself when it is written raw; then each line holding one outside any scalar (a comment).
 */
export function bidiControls(doc: Document, text: string): NotUnicode[] {
  if (!BIDI_IN_TEXT.test(text)) return [];
  const out: NotUnicode[] = [];
  const ranges: [number, number][] = [];
  visit(doc, {
    Scalar: (_key, node, ancestors) => {
      const range = node.range;
      if (range !== null && range !== undefined) ranges.push([range[0], range[1]]);
      if (typeof node.value !== "string") return;
      const at = node.value.search(BIDI_CONTROL);
      if (at < 0) return;
      const { path, isKey } = dataPath(ancestors, node);
      const start = range?.[0] ?? 0;
      const raw =
        range === null || range === undefined ? -1 : text.slice(range[0], range[1]).search(BIDI_CONTROL);
      out.push({
        code: "bidi_control",
        path: path.map((p) => (typeof p === "string" ? p.replace(BIDI_RAW, "\ufffd") : p)),
        message: `${isKey ? "this key" : "this text"} holds ${bidiControlName(node.value.charAt(at))}, ${BIDI_ADVICE}`,
        offset: raw < 0 ? start : start + raw,
      });
    },
  });
  let lastLineStart = -1;
  for (const m of text.matchAll(BIDI_RAW)) {
    const offset = m.index;
    if (ranges.some(([from, to]) => offset >= from && offset < to)) continue;
    const lineStart = text.lastIndexOf("\n", offset) + 1;
    if (lineStart === lastLineStart) continue;
    lastLineStart = lineStart;
    out.push({
      code: "bidi_control",
      path: [],
      message: `this line holds ${bidiControlName(m[0])} outside any value (in a comment), ${BIDI_ADVICE}`,
      offset,
    });
  }
  return out.sort((a, b) => a.offset - b.offset);
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

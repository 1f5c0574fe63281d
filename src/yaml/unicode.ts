/**
 * Text in a YAML file that is not Unicode, or that reads otherwise than it is: a double-quoted `"\ud800"` (or `"\U0000DC00"`) escape
 * reads as a lone surrogate, which no UTF-8 file can hold otherwise. Scheme and config strings reach
 * the audit log (the node's name in every entry, a claim's path in `set_aside`, the scheme's digest
 * over its canonical JSON), and RFC 8785, the log's canonical JSON, cannot hold a lone surrogate:
 * other verifiers could not re-encode the entry or recompute the digest. Refused where written. So
 * are the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), in values,
 * keys and comments alike: invisible, they make a partner's name, or the file as a reviewer reads
 * it, other than it is ("Trojan Source"). Right-to-left letters and the directional marks pass. So
 * are control characters but TAB, LF and CR (C0, DEL, C1), raw or escaped, as in an admin body.
 */
import { isPair, isScalar, isSeq, visit, type Document, type Node } from "yaml";
import type { Path } from "../errors/index.js";
import { BIDI_CONTROL, bidiControlName, controlName, FORBIDDEN_CONTROL } from "../policy/text.js";
import type { Found } from "./structure.js";

export interface NotUnicode extends Found {
  readonly path: Path;
}

/** A lone surrogate (with /u a well-formed pair is one code point, not a match); not global: no state. */
const LONE_SURROGATE = /\p{Surrogate}/u;
const SURROGATES = /\p{Surrogate}/gu;

/**
 * The most problems of one kind listed: a file can hold a control on every line (10 MiB of them), and
 * each listed costs its data path and its place. The rest are counted in one last problem.
 */
export const MAX_LISTED = 100;

/** Every scalar (value or key) holding a lone surrogate, with the data path it is read at. */
export function loneSurrogates(doc: Document): NotUnicode[] {
  const out: NotUnicode[] = [];
  let more = 0;
  let firstMore = 0;
  visit(doc, {
    Scalar: (_key, node, ancestors) => {
      if (typeof node.value !== "string" || !LONE_SURROGATE.test(node.value)) return;
      if (out.length === MAX_LISTED) {
        if (more++ === 0) firstMore = node.range?.[0] ?? 0;
        return;
      }
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
  if (more > 0)
    out.push(moreProblem("invalid_unicode", more, "values or keys hold a lone surrogate", firstMore));
  return out;
}

/** A bidirectional control, raw or as a double-quoted escape (`\u202e`, `\U0000202E`). */
const BIDI_IN_TEXT = new RegExp(`${BIDI_CONTROL.source}|\\\\(?:u|U0000)20(?:2[a-eA-E]|6[6-9])`);

const BIDI: Refused = {
  code: "bidi_control",
  pattern: BIDI_CONTROL,
  inText: BIDI_IN_TEXT,
  name: bidiControlName,
  advice:
    ", an invisible control that makes text read otherwise than it is written; remove it (right-to-left letters need none)",
  what: "values, keys or comment lines hold a bidirectional control",
};

/**
 * A control character other than TAB, LF and CR, raw or as a double-quoted escape (`\0`, `\a`,
 * `\e`, `\N`, `\x07`, `\u0085`, `\U0000009B`); an escape of an allowed one (`\x0a`) or a
 * backslash in a plain scalar (`C:\archive`) matches too, and the walk then decides.
 */
const CONTROL_IN_TEXT = new RegExp(
  `${FORBIDDEN_CONTROL.source}|\\\\(?:[0abvfeN]|x(?:[0189][0-9a-fA-F]|7[fF])|(?:u|U0000)00(?:[0189][0-9a-fA-F]|7[fF]))`,
);

const CONTROLS: Refused = {
  code: "control_character",
  pattern: FORBIDDEN_CONTROL,
  inText: CONTROL_IN_TEXT,
  name: controlName,
  advice: ": text may hold no control characters but tab, line feed and carriage return; remove it",
  what: "values, keys or comment lines hold a control character",
};

/**
 * Every scalar (value or key) holding a bidirectional control, with its data path, placed at the
 * control itself when it is written raw; then each line holding one outside any scalar (a comment).
 */
export const bidiControls = (doc: Document, text: string): NotUnicode[] => refusedCharacters(doc, text, BIDI);

/**
 * Every scalar (value or key) holding a control character other than TAB, LF and CR (C0, DEL, C1),
 * raw or escaped, and each line holding one raw outside any scalar, as bidiControls: such text is
 * refused where an admin body holds it (the characters garble terminals, logs and reports; a NUL
 * is text PostgreSQL cannot hold), and a scheme read from a file must be answered alike.
 */
export const controlCharacters = (doc: Document, text: string): NotUnicode[] =>
  refusedCharacters(doc, text, CONTROLS);

interface Refused {
  readonly code: string;
  /** One of the characters refused; not global. */
  readonly pattern: RegExp;
  /** The character, raw or escaped, in the text: without it, the document is not walked. */
  readonly inText: RegExp;
  readonly name: (c: string) => string;
  /** Said after the character's name. */
  readonly advice: string;
  /** The problems not listed, counted: "and 3 more <what>". */
  readonly what: string;
}

/**
 * Every scalar (value or key) holding one of `refused`'s characters, with its data path, placed at
 * the character itself when it is written raw; then each line holding one outside any scalar (a
 * comment). The first MAX_LISTED by place, the rest counted. Linear in the text: the raw characters
 * are walked with the scalars' ranges (in the text's order) in step, a line reported is left at
 * once, and a scalar's own characters are skipped with it.
 */
function refusedCharacters(doc: Document, text: string, refused: Refused): NotUnicode[] {
  const { code, pattern, advice } = refused;
  if (!refused.inText.test(text)) return [];
  const all = new RegExp(pattern.source, "g");
  const inValues: NotUnicode[] = [];
  let valuesMore = 0;
  /** Where the first control not listed is (the count is placed there). */
  let firstMore = Infinity;
  const ranges: [number, number][] = [];
  visit(doc, {
    Scalar: (_key, node, ancestors) => {
      const range = node.range;
      if (range !== null && range !== undefined) ranges.push([range[0], range[1]]);
      if (typeof node.value !== "string") return;
      const at = node.value.search(pattern);
      if (at < 0) return;
      if (inValues.length === MAX_LISTED) {
        if (valuesMore++ === 0) firstMore = Math.min(firstMore, range?.[0] ?? 0);
        return;
      }
      const { path, isKey } = dataPath(ancestors, node);
      const start = range?.[0] ?? 0;
      const raw = range === null || range === undefined ? -1 : text.slice(range[0], range[1]).search(pattern);
      inValues.push({
        code,
        path: path.map((p) => (typeof p === "string" ? p.replace(all, "\ufffd") : p)),
        message: `${isKey ? "this key" : "this text"} holds ${refused.name(node.value.charAt(at))}${advice}`,
        offset: raw < 0 ? start : start + raw,
      });
    },
  });
  // In the text's order already (the walk is the document's), sorted only if a document is not.
  if (ranges.some((r, i) => i > 0 && r[0] < (ranges[i - 1] as [number, number])[0]))
    ranges.sort((a, b) => a[0] - b[0]);
  const inComments: NotUnicode[] = [];
  let commentsMore = 0;
  /** The first range that does not end before the match (ranges are disjoint, in order). */
  let r = 0;
  const raw = new RegExp(pattern.source, "g");
  for (let m = raw.exec(text); m !== null; m = raw.exec(text)) {
    const offset = m.index;
    while (r < ranges.length && (ranges[r] as [number, number])[1] <= offset) r++;
    const range = ranges[r];
    if (range !== undefined && range[0] <= offset) {
      // Inside a scalar (reported with it above): its other controls too.
      raw.lastIndex = range[1];
      continue;
    }
    if (inComments.length < MAX_LISTED) {
      inComments.push({
        code,
        path: [],
        message: `this line holds ${refused.name(m[0])} outside any value${outsideValue(text, offset, ranges)}${advice}`,
        offset,
      });
    } else if (commentsMore++ === 0) firstMore = Math.min(firstMore, offset);
    // The rest of this line is reported with it.
    const eol = text.indexOf("\n", offset);
    if (eol < 0) break;
    raw.lastIndex = eol;
  }
  const out = [...inValues, ...inComments].sort((a, b) => a.offset - b.offset);
  const more = valuesMore + commentsMore + Math.max(0, out.length - MAX_LISTED);
  if (more === 0) return out;
  const at = Math.min(firstMore, out[MAX_LISTED]?.offset ?? Infinity);
  return [...out.slice(0, MAX_LISTED), moreProblem(code, more, refused.what, at)];
}

/**
 * What holds a character found outside any scalar, for its message: a comment, a directive, or an
 * anchor, alias or tag (the token it sits in); "" when none of them. `ranges` are the scalars', in
 * order: a `#` inside one starts no comment.
 */
function outsideValue(text: string, offset: number, ranges: readonly [number, number][]): string {
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  for (let i = lineStart; i < offset; i++) {
    const startsComment = text[i] === "#" && (i === lineStart || /[ \t]/.test(text[i - 1] as string));
    if (startsComment && !inRange(ranges, i)) return " (in a comment)";
  }
  if (text[lineStart] === "%") return " (in a directive)";
  let token = offset;
  while (token > lineStart && !/[ \t,[\]{}]/.test(text[token - 1] as string)) token--;
  const kind = { "&": "an anchor", "*": "an alias", "!": "a tag" }[text[token] as string];
  return kind === undefined ? "" : ` (in ${kind})`;
}

/** Whether `offset` is inside one of `ranges` (disjoint, in order). */
function inRange(ranges: readonly [number, number][], offset: number): boolean {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const [start, end] = ranges[mid] as [number, number];
    if (end <= offset) lo = mid + 1;
    else if (start > offset) hi = mid;
    else return true;
  }
  return false;
}

/** The last problem of a capped list: how many more there are, placed at the first not listed. */
function moreProblem(code: string, more: number, what: string, offset: number): NotUnicode {
  return {
    code,
    path: [],
    message: `and ${more} more ${what} (only the first ${MAX_LISTED} are listed)`,
    offset,
  };
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

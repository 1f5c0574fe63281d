/**
 * YAML files validated by a zod schema, with every problem placed at its line and column: shared by
 * scheme files and the gateway's config file.
 */
import {
  Composer,
  isAlias,
  isNode,
  LineCounter,
  Parser,
  visit,
  YAMLParseError,
  type Alias,
  type CST,
  type Document,
  type Node,
} from "yaml";
import type { z } from "zod";
import { InvalidInputError, type Path, type Problem } from "../errors/index.js";
import { readFileBounded, sizeText, unreadableWhy } from "../files/bounded.js";
import { placeProblems } from "./positions.js";
import { keyProblems, tokenProblem, type Found } from "./structure.js";
import { bidiControls, controlCharacters, loneSurrogates } from "./unicode.js";
import { zodProblems } from "./zod-problems.js";

export { zodProblems } from "./zod-problems.js";
export { MAX_DEPTH } from "./structure.js";

export interface YamlSource {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  readonly data: unknown;
}

export interface ReadOptions {
  /**
   * "as-stored": a text accepted before tags, control characters and bidirectional controls were
   * checked (a stored scheme version) is read as it was then, tags, controls and all, so that it
   * still loads;
   * anything new is refused for them (the default).
   */
  readonly tags?: "refuse" | "as-stored";
}

/** The most nodes aliases may expand to in one document: past it, an alias bomb ("billion laughs"). */
export const MAX_ALIAS_COUNT = 1000;

/**
 * Parses YAML 1.2; a %YAML directive of another version, nesting past MAX_DEPTH, syntax errors,
 * keys that plain data would merge or drop, text that is not Unicode (a lone surrogate escape) and, in
 * new text, control characters but TAB, LF and CR and bidirectional controls (in values, keys or
 * comments, raw or escaped), tags
 * outside the core schema or on a value not of their kind, and
 * unusable aliases (to no anchor, to a node that
 * contains them, or expanding past MAX_ALIAS_COUNT) are thrown as InvalidInputError, with positions.
 */
export function readYaml(text: string, file: string, options: ReadOptions = {}): YamlSource {
  const tagsAsStored = options.tags === "as-stored";
  const lines = new LineCounter();
  const place = (found: readonly (Found & { readonly path?: Path })[]): Problem[] =>
    found.map(({ code, message, offset, path = [] }) => {
      const { line, col } = lines.linePos(offset);
      return { code, path, message, file, line, column: col };
    });
  // Parsed first, composed after: the parser keeps its own stack, the composer recurses per level.
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  const early = tokenProblem(tokens);
  if (early !== undefined) throw new InvalidInputError(place([early]));
  const doc = compose(tokens, text.length, tagsAsStored);
  if (doc.errors.length > 0) {
    throw new InvalidInputError(
      place(
        doc.errors.map((e) => ({ code: "yaml_syntax", message: firstLine(e.message), offset: e.pos[0] })),
      ),
    );
  }
  const keys = keyProblems(doc, text, (offset) => lines.linePos(offset).line);
  if (keys.length > 0) throw new InvalidInputError(place(keys));
  const notUnicode = loneSurrogates(doc);
  if (notUnicode.length > 0) throw new InvalidInputError(place(notUnicode));
  const controls = tagsAsStored ? [] : controlCharacters(doc, text);
  if (controls.length > 0) throw new InvalidInputError(place(controls));
  const bidi = tagsAsStored ? [] : bidiControls(doc, text);
  if (bidi.length > 0) throw new InvalidInputError(place(bidi));
  const tags = tagsAsStored ? [] : tagProblems(doc);
  if (tags.length > 0) throw new InvalidInputError(place(tags));
  return { file, doc, lines, data: toData(doc, lines, file) };
}

/**
 * As `parseDocument` does it, from tokens already parsed. Duplicate keys are found by keyProblems
 * (as plain data will have them), so the composer's own check, by value and type, is off. The YAML
 * 1.1 tags are resolved only for a text read as stored (see ReadOptions).
 */
function compose(tokens: readonly CST.Token[], end: number, knownTags: boolean): Document.Parsed {
  let doc: Document.Parsed | undefined;
  const composer = new Composer({ uniqueKeys: false, resolveKnownTags: knownTags });
  for (const next of composer.compose(tokens, true, end)) {
    if (doc === undefined) doc = next;
    else {
      doc.errors.push(
        new YAMLParseError(
          next.range.slice(0, 2) as [number, number],
          "MULTIPLE_DOCS",
          "the file holds more than one document",
        ),
      );
      break;
    }
  }
  // compose(…, true, …) yields a document at the latest at the end of the tokens.
  return doc as Document.Parsed;
}

const firstLine = (message: string): string => message.split("\n")[0] ?? message;

/**
 * Tags the core schema does not resolve. The composer only warns of them and reads the value as if
 * untagged: `!foo bar` as "bar", `!!int x` as "x", `!!seq {x: 1}` as a mapping. The YAML 1.1 tags
 * it would otherwise resolve (`!!binary`, `!!set`, `!!omap`, `!!pairs`, `!!timestamp`) are left
 * unresolved when composing (resolveKnownTags: false) and so refused here too: they made a Buffer,
 * a Set or a Date, which no field takes and a Set turns to {} as plain data.
 */
function tagProblems(doc: Document.Parsed): Found[] {
  return doc.warnings
    .filter((w) => w.code === "TAG_RESOLVE_FAILED" || w.code === "BAD_COLLECTION_TYPE")
    .map((w) => ({
      code: "yaml_tag",
      message: `${firstLine(w.message)
        .replace(/ at line \d+, column \d+:?$/, "")
        .replace(
          /tag:yaml\.org,2002:/g,
          "!!",
        )}: only YAML 1.2's core tags are read (!!str, !!int, !!float, !!bool, !!null, !!seq, !!map), each on a value of its kind; remove the tag`,
      offset: w.pos[0],
    }));
}

/**
 * The document as plain data. Only aliases make that fail, so they are checked first, each where it
 * is; whatever toJS still throws (the expansion limit) is bad input too, placed at the first alias.
 */
function toData(doc: Document, lines: LineCounter, file: string): unknown {
  const at = (node: Node | undefined) => {
    const { line, col } = lines.linePos(node?.range?.[0] ?? 0);
    return { file, line, column: col };
  };
  const problem = aliasProblem(doc);
  if (problem !== undefined) {
    throw new InvalidInputError([
      { code: problem.code, path: [], message: problem.message, ...at(problem.alias) },
    ]);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    const first = firstAlias(doc);
    const excessive = /alias count/i.test((cause as Error).message);
    const from = first === undefined ? "" : ` (from *${first.source})`;
    // Aliases nest a node in another, each within MAX_DEPTH: the data may still be too deep to copy.
    const message = excessive
      ? `the aliases${from} expand to more than ${MAX_ALIAS_COUNT} nodes: write the values out, or alias less`
      : cause instanceof RangeError
        ? `the aliases${from} nest the data too deeply: write the values out, or alias less`
        : `the YAML cannot be read as data: ${(cause as Error).message}`;
    throw new InvalidInputError([
      { code: excessive ? "yaml_aliases" : "yaml_invalid", path: [], message, ...at(first) },
    ]);
  }
}

function firstAlias(doc: Document): Alias | undefined {
  let first: Alias | undefined;
  visit(doc, {
    Alias: (_key, node) => {
      first = node;
      return visit.BREAK;
    },
  });
  return first;
}

/**
 * The first alias that names no anchor before it, or that names a node containing it (its value
 * would contain itself): toJS throws on the first, and hands back circular data for the second.
 * One pass: the anchor an alias means is the last one of its name before it (YAML 1.2, 7.1).
 */
function aliasProblem(doc: Document): { code: string; message: string; alias: Alias } | undefined {
  const anchors = new Map<string, Node>();
  let found: { code: string; message: string; alias: Alias } | undefined;
  visit(doc, (_key, node, path) => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) {
        found = {
          code: "yaml_unresolved_alias",
          message: `alias *${node.source} names no anchor &${node.source} before it`,
          alias: node,
        };
      } else if (path.includes(target)) {
        found = {
          code: "yaml_recursive_alias",
          message: `alias *${node.source} is inside the node &${node.source} it names, so that value would contain itself`,
          alias: node,
        };
      }
      return found === undefined ? undefined : visit.BREAK;
    }
    if (isNode(node) && node.anchor !== undefined) anchors.set(node.anchor, node);
    return undefined;
  });
  return found;
}

/**
 * A scheme or configuration file is at most this large (the admin API's body limit: a larger scheme
 * could not be uploaded): a device that never ends (`/dev/zero`), read whole, held the process until
 * memory ran out.
 */
export const MAX_YAML_FILE_BYTES = 10 * 1024 * 1024;

export function readYamlFile(path: string): YamlSource {
  let bytes: Buffer | null;
  try {
    bytes = readFileBounded(path, MAX_YAML_FILE_BYTES);
  } catch (cause) {
    // Said as a flag's file is (src/cli/flag-files.ts): fs's own message repeated the path and
    // spoke in errno names. `file` is left out: the message names the file it could not open.
    throw new InvalidInputError([
      { code: "file_unreadable", path: [], message: `cannot read ${path}: ${unreadableWhy(cause)}` },
    ]);
  }
  if (bytes === null)
    throw new InvalidInputError([
      {
        code: "file_too_large",
        path: [],
        message: `${path} holds more than ${sizeText(MAX_YAML_FILE_BYTES)}, more than any scheme or configuration`,
        file: path,
      },
    ]);
  return readYaml(bytes.toString("utf8"), path);
}

/**
 * Validates the data against `schema`. Returns the value when the shape is right, or when the only
 * problems are unknown keys (typos are the commonest mistake: without them the value may still be
 * usable, so that later checks report in the same pass). `problems` holds every shape problem.
 */
export function validate<T>(source: YamlSource, schema: z.ZodType<T>): { value?: T; problems: Problem[] } {
  const shaped = schema.safeParse(source.data, { reportInput: true });
  if (shaped.success) return { value: shaped.data, problems: [] };
  const problems = zodProblems(shaped.error, schema);
  if (!problems.every((p) => p.code === "unknown_key")) return { problems };
  const retry = schema.safeParse(withoutKeys(source.data, problems));
  return retry.success ? { value: retry.data, problems } : { problems };
}

/** The problems with file, line and column, in file order, as a person fixes them. */
export function placed(source: YamlSource, problems: readonly Problem[]): Problem[] {
  const out = placeProblems(problems, source.doc, source.lines, source.file);
  out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return out;
}

/** A copy of `data` without the keys at the problems' paths. */
function withoutKeys(data: unknown, problems: readonly Problem[]): unknown {
  const copy = structuredClone(data);
  for (const { path } of problems) {
    let node: unknown = copy;
    for (const segment of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[segment];
    delete (node as Record<string | number, unknown>)[path[path.length - 1] as string];
  }
  return copy;
}

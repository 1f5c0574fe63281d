/**
 * Checks on a YAML text's structure that the `yaml` library leaves open: the version it is read
 * under, how deep it nests, and whether its keys survive conversion to plain data. Each returns
 * the offending place (an offset into the text) and a message a person can act on.
 */
import { isAlias, isCollection, isScalar, visit, type CST, type Document, type Node } from "yaml";

/** Deepest nesting of lists and mappings (a scheme needs about 6): deeper is refused, not composed. */
export const MAX_DEPTH = 64;

export interface Found {
  readonly code: string;
  readonly message: string;
  readonly offset: number;
}

/**
 * On the parser's tokens, before anything is composed: a `%YAML` directive other than 1.2 (1.1
 * reads NO as false, dates as Date objects, and merges `<<` keys: another language than the one
 * documented), and nesting past MAX_DEPTH (the composer recurses per level, and at the stack's end
 * fails with "Maximum call stack size exceeded" at best). The walk keeps its own stack.
 */
export function tokenProblem(tokens: readonly CST.Token[]): Found | undefined {
  for (const token of tokens) {
    if (token.type === "directive") {
      const version = /^%YAML[ \t]+(\S+)/.exec(token.source)?.[1];
      if (version !== undefined && version !== "1.2") {
        return {
          code: "yaml_version",
          message: `%YAML ${version}: only YAML 1.2 is read (1.1 reads NO as false and dates as timestamps); remove the directive`,
          offset: token.offset,
        };
      }
    } else if (token.type === "document" && token.value !== undefined) {
      const deep = tooDeep(token.value);
      if (deep !== undefined) return deep;
    }
  }
  return undefined;
}

function tooDeep(root: CST.Token): Found | undefined {
  const stack: [CST.Token, number][] = [[root, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [token, depth] = top;
    if (token.type !== "block-map" && token.type !== "block-seq" && token.type !== "flow-collection")
      continue;
    if (depth >= MAX_DEPTH) {
      return {
        code: "yaml_too_deep",
        message: `lists and mappings nest deeper than ${MAX_DEPTH} levels here`,
        offset: token.offset,
      };
    }
    for (const item of token.items) {
      if (item.key) stack.push([item.key, depth + 1]);
      if (item.value) stack.push([item.value, depth + 1]);
    }
  }
  return undefined;
}

/**
 * Keys as plain data has them: toJS turns every key into a property name, `String(value)` of a
 * scalar ("" for null), so "1" and 1, "true" and true, "" and ~, 1.1 and 1.10 are one key there and
 * the last would silently win (the library's own uniqueKeys compares value and type). Also refused:
 * `__proto__`, which zod and object spreads drop without a word, and keys that are lists or mappings
 * (no scheme or config key is one; toJS would make a string of them).
 */
export function keyProblems(doc: Document, text: string, lineOf: (offset: number) => number): Found[] {
  const written = (node: Node | null): string => {
    const [start, end] = node?.range ?? [0, 0];
    const source = text.slice(start, end).trim();
    if (source === "") return "an empty key";
    return source.length > 40 ? `${source.slice(0, 40)}…` : source;
  };
  const out: Found[] = [];
  visit(doc, {
    Map: (_key, map) => {
      const seen = new Map<string, Node>();
      for (const pair of map.items) {
        const keyNode = pair.key as Node | null;
        const offset = keyNode?.range?.[0] ?? map.range?.[0] ?? 0;
        const target = isAlias(keyNode) ? keyNode.resolve(doc) : keyNode;
        if (isCollection(target)) {
          out.push({
            code: "yaml_complex_key",
            message: "a key must be a plain value, not a list or a mapping",
            offset,
          });
          continue;
        }
        // An alias to no anchor is reported where aliases are checked.
        if (isAlias(keyNode) && target === undefined) continue;
        const name = isScalar(target) && target.value != null ? String(target.value) : "";
        if (name === "__proto__") {
          out.push({
            code: "yaml_reserved_key",
            message: `"__proto__" cannot be a key (it would be dropped as data): choose another name`,
            offset,
          });
          continue;
        }
        const first = seen.get(name);
        if (first === undefined) {
          seen.set(name, keyNode ?? map);
          continue;
        }
        out.push({
          code: "yaml_syntax",
          message: `map keys must be unique: ${written(keyNode)} is read as the same key as ${written(first)} on line ${lineOf(first.range?.[0] ?? 0)}`,
          offset,
        });
      }
    },
  });
  return out;
}

/**
 * Set expressions → country sets. A name is a country code (DE), a built-in set (G7, EAR_D5) or a
 * set the scheme defines under `sets`; `{include, exclude}` subtracts. Problems accumulate.
 */
import { BUILTIN_SETS, builtinSet, isCountryCode } from "../countries/index.js";
import type { Path, Problem } from "../errors/index.js";
import { plainOrQuoted, quoted } from "../policy/text.js";
import type { SetExpression } from "./schema.js";

const COUNTRY_SHAPE = /^[A-Z]{2}$/;

/**
 * How deep sets may name sets (s0 naming s1 naming s2 …): resolution recurses per level, and a
 * chain of a few thousand overflowed the stack. Real schemes nest two or three deep.
 */
export const MAX_SET_DEPTH = 64;
/** Sets a chain's message lists at most: the first ones, then the last two. */
const CHAIN_SHOWN = 10;
/** Common mistakes worth a precise hint rather than "unknown". */
const HINTS: Readonly<Record<string, string>> = { UK: "GB", EL: "GR" };

export class SetResolver {
  private readonly resolved = new Map<string, ReadonlySet<string>>();
  private readonly resolving = new Set<string>();

  constructor(
    private readonly userSets: Readonly<Record<string, SetExpression>>,
    private readonly problems: Problem[],
  ) {}

  /** Resolves every user set once, reporting bad names, cycles and unknown members. */
  resolveUserSets(): ReadonlyMap<string, ReadonlySet<string>> {
    for (const name of Object.keys(this.userSets)) {
      if (COUNTRY_SHAPE.test(name) || BUILTIN_SETS.has(name)) {
        this.problems.push({
          code: "set_name_taken",
          path: ["sets", name],
          message: `set name ${quoted(name)} is a country code or a built-in set; choose another name`,
        });
        continue;
      }
      this.userSet(name, ["sets", name]);
    }
    return this.resolved;
  }

  resolve(expr: SetExpression, path: Path): ReadonlySet<string> {
    if (Array.isArray(expr)) return this.union(expr, path);
    const included = this.union(expr.include, [...path, "include"]);
    const excluded = this.union(expr.exclude, [...path, "exclude"]);
    return new Set([...included].filter((c) => !excluded.has(c)));
  }

  private union(names: readonly string[], path: Path): Set<string> {
    const out = new Set<string>();
    names.forEach((name, i) => {
      for (const c of this.name(name, [...path, i])) out.add(c);
    });
    return out;
  }

  private name(name: string, path: Path): Iterable<string> {
    // Built-in sets first: EU looks like a country code but is not one.
    const builtin = builtinSet(name);
    if (builtin !== undefined) return builtin.members;
    if (COUNTRY_SHAPE.test(name)) {
      if (isCountryCode(name)) return [name];
      const hint = HINTS[name] !== undefined ? ` (did you mean ${HINTS[name]}?)` : "";
      this.problems.push({
        code: "invalid_country",
        path,
        message: `${quoted(name)} is not an ISO 3166-1 alpha-2 country code${hint}`,
      });
      return [];
    }
    if (Object.hasOwn(this.userSets, name)) return this.userSet(name, path);
    const upper = name.toUpperCase();
    const hint =
      /^[a-z]{2}$/i.test(name) && isCountryCode(upper)
        ? ` (country codes are upper case: ${upper})`
        : builtinSet(upper) !== undefined
          ? ` (did you mean ${upper}?)`
          : "";
    this.problems.push({
      code: "unknown_set",
      path,
      message: `unknown country or set ${quoted(name)}${hint}; expected an ISO country code, a built-in set (${[...BUILTIN_SETS.keys()].join(", ")}) or a set defined under sets`,
    });
    return [];
  }

  private userSet(name: string, path: Path): ReadonlySet<string> {
    const done = this.resolved.get(name);
    if (done !== undefined) return done;
    if (this.resolving.has(name)) {
      const stack = [...this.resolving];
      this.problems.push({
        code: "set_cycle",
        path,
        message: `set ${quoted(name)} refers to itself through ${chain([...stack.slice(stack.indexOf(name)), name])}`,
      });
      return new Set();
    }
    if (this.resolving.size >= MAX_SET_DEPTH) {
      this.problems.push({
        code: "set_too_deep",
        path,
        message: `set ${quoted(name)} is nested more than ${MAX_SET_DEPTH} sets deep (${chain([...this.resolving, name])}): name its countries or a shallower set`,
      });
      return new Set();
    }
    this.resolving.add(name);
    const expr = this.userSets[name] as SetExpression;
    const members = this.resolve(expr, ["sets", name]);
    this.resolving.delete(name);
    this.resolved.set(name, members);
    return members;
  }
}

/**
 * A chain of set names as a message shows it: the first CHAIN_SHOWN, then the last two. The names
 * are the scheme's: each bare when plain, quoted when `quoted` would change it (plainOrQuoted).
 */
function chain(names: readonly string[]): string {
  const named = names.map((n) => plainOrQuoted(n, "→"));
  const shown =
    named.length > CHAIN_SHOWN + 2
      ? [...named.slice(0, CHAIN_SHOWN), `… (${named.length - CHAIN_SHOWN - 2} more)`, ...named.slice(-2)]
      : named;
  return shown.join(" → ");
}

/**
 * The README's configuration reference, kept honest. Every key of `clearance.yaml` (walked from the
 * zod schema) must be named in README.md's "### Reference" section, every environment variable the
 * product reads must be in its environment-variable table, and every scalar default must be the one
 * the reference states. Add a key to src/config/schema.ts without documenting it and this fails,
 * naming the key.
 *
 * Keys are dotted paths; the keys of a record (chosen by the user) are placeholders:
 * `providers.<name>.timeouts.connect_ms`, `models.<model>.upstream_model`. The members of a union
 * (the provider types) share their parent's path.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z, type core } from "zod";
import { configSchema } from "./schema.js";

/** The placeholder for a record's keys, by the record's path; any other record: `<name>`. */
const PLACEHOLDERS: Readonly<Record<string, string>> = { models: "<model>" };
/** Keys that name an environment variable end so (`api_key_env`, `admin.token_env`, …). */
const ENV_KEY = /_env$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** The text between "### Reference" and the next level-2 heading. */
function referenceSection(): string {
  const start = README.search(/^### Reference\s*$/m);
  if (start < 0) throw new Error('README.md has no "### Reference" section');
  const rest = README.slice(start);
  const end = rest.search(/^## /m); // the section's own heading is "### "
  return end < 0 ? rest : rest.slice(0, end);
}

/** The part of the reference about environment variables: from its heading to the next heading. */
function envSection(reference: string): string {
  const start = reference.search(/^#{3,4} Environment variables\s*$/m);
  if (start < 0) throw new Error('the reference has no "#### Environment variables" heading');
  const rest = reference.slice(start);
  const body = rest.indexOf("\n") + 1; // after the heading's own line
  const end = rest.slice(body).search(/^#{1,4} /m);
  return end < 0 ? rest : rest.slice(0, body + end);
}

/** The schema that decides a key's shape: without optional, default and similar wrappers. */
function unwrap(schema: core.$ZodType): core.$ZodType {
  const def = schema._zod.def;
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return unwrap((def as core.$ZodOptionalDef).innerType);
    case "lazy":
      return unwrap((def as core.$ZodLazyDef).getter());
    case "pipe": {
      // The file holds the pipe's input, except for z.preprocess (a transform in front of a schema).
      const pipe = def as core.$ZodPipeDef;
      return unwrap(pipe.in._zod.def.type === "transform" ? pipe.out : pipe.in);
    }
    default:
      return schema;
  }
}

const CONTAINERS = new Set(["object", "record", "union", "intersection"]);

/** Every key that holds a value (not a section of other keys), with its schemas (one per union member). */
function keyPaths(
  schema: core.$ZodType,
  path = "",
  out = new Map<string, core.$ZodType[]>(),
): Map<string, core.$ZodType[]> {
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  const def = unwrap(schema)._zod.def;
  switch (def.type) {
    case "object":
      for (const [key, value] of Object.entries((def as core.$ZodObjectDef).shape))
        keyPaths(value, at(key), out);
      break;
    case "record":
      keyPaths((def as core.$ZodRecordDef).valueType, at(PLACEHOLDERS[path] ?? "<name>"), out);
      break;
    case "union":
      for (const option of (def as core.$ZodUnionDef).options) keyPaths(option, path, out);
      break;
    case "intersection":
      keyPaths((def as core.$ZodIntersectionDef).left, path, out);
      keyPaths((def as core.$ZodIntersectionDef).right, path, out);
      break;
    case "array": {
      const element = (def as core.$ZodArrayDef).element;
      if (CONTAINERS.has(unwrap(element)._zod.def.type)) keyPaths(element, `${path}[]`, out);
      else out.set(path, [...(out.get(path) ?? []), schema]);
      break;
    }
    default:
      out.set(path, [...(out.get(path) ?? []), schema]);
  }
  return out;
}

/** The defaults a key's own schema declares (`.default(…)` anywhere in its wrappers). */
function ownDefaults(schema: core.$ZodType): unknown[] {
  const def = schema._zod.def;
  const inner = (def as Partial<core.$ZodOptionalDef>).innerType;
  const here = def.type === "default" ? [(def as core.$ZodDefaultDef).defaultValue] : [];
  return inner === undefined ? here : [...here, ...ownDefaults(inner)];
}

/** A config with every kind of provider and a model route, else only what is required. */
const MINIMAL = {
  scheme: "scheme.yaml",
  providers: {
    d: { type: "demo" },
    o: { type: "openai", base_url: "https://api.openai.com/v1" },
    a: { type: "anthropic", base_url: "https://api.anthropic.com" },
  },
  models: { m: { provider: "o" } },
};

/** The values at a key path (placeholders match every record key); no value where a key is absent. */
function valuesAt(value: unknown, path: string): unknown[] {
  let values = [value];
  for (const segment of path.split(".")) {
    values = values.flatMap((v) => {
      if (segment.endsWith("[]")) {
        const inner = (v as Record<string, unknown> | undefined)?.[segment.slice(0, -2)];
        return Array.isArray(inner) ? inner : [];
      }
      if (typeof v !== "object" || v === null) return [];
      if (/^<.+>$/.test(segment)) return Object.values(v);
      return segment in v ? [(v as Record<string, unknown>)[segment]] : [];
    });
  }
  return values.filter((v) => v !== undefined);
}

/** The input with every section it leaves out written as `{}`, in every record entry too. */
function withEmptySections(schema: core.$ZodType, value: unknown): unknown {
  const def = unwrap(schema)._zod.def;
  switch (def.type) {
    case "object": {
      const out: Record<string, unknown> = { ...(value as Record<string, unknown> | undefined) };
      for (const [key, inner] of Object.entries((def as core.$ZodObjectDef).shape)) {
        const type = unwrap(inner)._zod.def.type;
        if (type === "object" && out[key] === undefined && inner._zod.def.type === "default") out[key] = {};
        if (out[key] !== undefined) out[key] = withEmptySections(inner, out[key]);
      }
      return out;
    }
    case "record": {
      const entries = Object.entries(value as Record<string, unknown>);
      const inner = (def as core.$ZodRecordDef).valueType;
      return Object.fromEntries(entries.map(([key, v]) => [key, withEmptySections(inner, v)]));
    }
    case "union": {
      // The member this value is (a provider's type); its sections are the ones to write.
      const member = (def as core.$ZodUnionDef).options.find((o) => z.safeParse(o, value).success);
      return member === undefined ? value : withEmptySections(member, value);
    }
    default:
      return value;
  }
}

/** The reference table's row for a key: the line whose first cell names it. */
function rowOf(reference: string, path: string): string | undefined {
  return reference
    .split("\n")
    .find((line) => line.startsWith("|") && (line.split("|")[1] ?? "").includes(`\`${path}\``));
}

/** Names of environment variables read directly by the code (not named by the config file). */
function envReadBySource(): Map<string, string[]> {
  const src = fileURLToPath(new URL("..", import.meta.url));
  const found = new Map<string, string[]>();
  const patterns = [
    /\benv\.([A-Z_][A-Z0-9_]*)\b/g, // process.env.NAME, or an injected env
    /\benv\[\s*["'`]([A-Z_][A-Z0-9_]*)["'`]\s*\]/g,
    /\bconst\s+[A-Z0-9_]*_ENV\s*=\s*["'`]([A-Z_][A-Z0-9_]*)["'`]/g,
  ];
  for (const file of readdirSync(src, { recursive: true, encoding: "utf8" })) {
    if (!file.endsWith(".ts") || file.endsWith(".test.ts") || file.endsWith(".d.ts")) continue;
    const text = readFileSync(join(src, file), "utf8");
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        const name = match[1]!;
        found.set(name, [...(found.get(name) ?? []), `src/${file}`]);
      }
    }
  }
  return found;
}

const keys = keyPaths(configSchema);

describe("README configuration reference", () => {
  it("finds the keys the schema is known to have (the walk itself works)", () => {
    for (const path of [
      "scheme",
      "store.driver",
      "store.url_env",
      "providers.<name>.type",
      "providers.<name>.base_url",
      "providers.<name>.timeouts.connect_ms",
      "providers.<name>.token_delay_ms",
      "models.<model>.provider",
      "models.<model>.upstream_model",
      "location.trusted_proxies",
      "audit.pseudonym_key_env",
    ]) {
      expect(keys.has(path), path).toBe(true);
    }
    expect(keys.has("store"), "sections are not keys of their own").toBe(false);
  });

  it("names every key of clearance.yaml", () => {
    const reference = referenceSection();
    const missing = [...keys.keys()].filter((path) => !reference.includes(`\`${path}\``));
    expect(missing, `keys not in README.md "### Reference" (write each as \`path\`)`).toEqual([]);
  });

  it("states every scalar default as the schema has it", () => {
    const reference = referenceSection();
    const parsed = configSchema.parse(MINIMAL);
    const wrong: string[] = [];
    for (const path of keys.keys()) {
      if (valuesAt(MINIMAL, path).length > 0) continue; // given, not defaulted
      const defaults = new Set(
        valuesAt(parsed, path).filter((v) => ["string", "number", "boolean"].includes(typeof v)),
      );
      if (defaults.size === 0) continue;
      const row = rowOf(reference, path);
      for (const value of defaults) {
        if (row === undefined || !row.includes(String(value))) {
          wrong.push(
            `${path}: default ${JSON.stringify(value)}${row === undefined ? " (no table row)" : ""}`,
          );
        }
      }
    }
    expect(
      wrong,
      "defaults the reference table does not state (write the value as is, e.g. 10485760)",
    ).toEqual([]);
  });

  it("has the same defaults whether a section is left out or written empty", () => {
    // A section's own `.default({...})` is used as is when the section is left out: it must agree
    // with the defaults of the keys inside it, which apply when the section is written.
    expect(configSchema.parse(MINIMAL)).toEqual(configSchema.parse(withEmptySections(configSchema, MINIMAL)));
  });

  it("lists every environment variable the config names by default, and the keys that name them", () => {
    const env = envSection(referenceSection());
    const parsed = configSchema.parse(MINIMAL);
    const missing: string[] = [];
    for (const [path, schemas] of keys) {
      if (!ENV_KEY.test(path)) continue;
      if (!env.includes(`\`${path}\``)) missing.push(`key ${path}`);
      const names = new Set([...schemas.flatMap(ownDefaults), ...valuesAt(parsed, path)]);
      for (const name of names) {
        expect(typeof name === "string" && ENV_NAME.test(name), `${path} default ${String(name)}`).toBe(true);
        if (!env.includes(`\`${String(name)}\``)) missing.push(`${String(name)} (default of ${path})`);
      }
    }
    expect(missing, "not in the reference's environment-variable table").toEqual([]);
  });

  it("lists every environment variable the code reads directly", () => {
    const env = envSection(referenceSection());
    const read = envReadBySource();
    expect([...read.keys()]).toEqual(expect.arrayContaining(["CLEARANCE_URL", "CLEARANCE_TOKEN"]));
    const missing = [...read]
      .filter(([name]) => !env.includes(`\`${name}\``))
      .map(([n, f]) => `${n} (${f.join(", ")})`);
    expect(missing, "not in the reference's environment-variable table").toEqual([]);
  });
});

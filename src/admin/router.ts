/**
 * The admin API's engine: a table of routes, each naming its method, path, the roles allowed, and
 * the zod schemas of its body and query — which validate requests and, unchanged, generate the
 * OpenAPI document (one source of truth). Errors are rendered once, by the gateway's handler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { ClearanceError, InvalidInputError } from "../errors/index.js";
import {
  asClearanceError,
  decodePathPart,
  parseJsonText,
  readJson,
  readJsonBodyText,
  sendJson,
  statusOf,
} from "../http/index.js";
import type { Role } from "../control/types.js";
import { BIDI_CONTROL, bidiControlName, CONTROL, controlName, quoted } from "../policy/text.js";
import { zodProblems } from "../yaml/index.js";
import type { AdminDeps, Caller } from "./deps.js";
import { authenticateAdmin } from "./auth.js";
import { ProgressStream, wantsProgress, type Progress } from "./progress.js";

export interface RouteContext<B, Q> {
  readonly req: IncomingMessage;
  readonly caller: Caller;
  readonly params: Readonly<Record<string, string>>;
  readonly body: B;
  readonly query: Q;
  readonly deps: AdminDeps;
  /** Tells a client that asked for progress how far a long job is (see progress.ts); else nothing. */
  readonly progress: Progress;
}

export interface RouteDef<B = unknown, Q = unknown> {
  readonly method: "GET" | "POST" | "DELETE";
  /** e.g. /admin/v1/licenses/{id}/approve */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /** Any one of these roles may call it. */
  readonly roles: readonly Role[];
  readonly body?: z.ZodType<B>;
  readonly query?: z.ZodType<Q>;
  /** Success status (default 200). */
  readonly status?: number;
  /** A long job that reports its progress to a client asking for it (progress.ts). */
  readonly progress?: boolean;
  /**
   * Its body is a query, compared and neither stored nor shown to others: bidirectional controls
   * are taken (a name as a sanctions list writes it), where every other body refuses them; control
   * characters too, the query's own checks answering for them (a name's `invalid_name`).
   */
  readonly bodyIsQuery?: boolean;
  handle(ctx: RouteContext<B, Q>): Promise<unknown>;
}

/** A route's answer that is not JSON: a CSV or HTML report. */
export class RawBody {
  constructor(
    readonly contentType: string,
    readonly body: string,
  ) {}
}

/**
 * A route of the table. Its query takes the parameters its schema names and no other: a misspelt
 * filter (`?stauts=revoked`) is refused naming it, not ignored (which listed everything). A route
 * without a query schema takes none.
 */
export const route = <B = undefined, Q = Record<string, never>>(def: RouteDef<B, Q>): RouteDef =>
  ({ ...def, query: strictQuery(def.query) }) as unknown as RouteDef;

function strictQuery(schema: z.ZodType | undefined): z.ZodType {
  if (schema === undefined) return z.strictObject({});
  return schema instanceof z.ZodObject ? schema.strict() : schema;
}

/** What a route without a body schema takes: nothing, or an empty object. */
const noBody = z.strictObject({});

interface Compiled {
  readonly def: RouteDef;
  readonly pattern: RegExp;
  readonly names: string[];
}

function compile(def: RouteDef): Compiled {
  const names: string[] = [];
  const source = def.path.replace(/[.]/g, "\\.").replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { def, pattern: new RegExp(`^${source}$`), names };
}

export function createRouter(routes: readonly RouteDef[], deps: AdminDeps) {
  const compiled = routes.map(compile);
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const matches = compiled.flatMap((c) => {
      const m = c.pattern.exec(path);
      return m === null ? [] : [{ c, m }];
    });
    if (matches.length === 0) throw new ClearanceError("not-found", "not_found", `no admin route ${path}`);
    // HEAD is answered as GET is, without the body (Node's response leaves it out).
    const method = req.method === "HEAD" ? "GET" : req.method;
    const hit = matches.find(({ c }) => c.def.method === method);
    if (hit === undefined) {
      const methods = new Set(matches.map(({ c }) => c.def.method));
      const allowed = [...methods, ...(methods.has("GET") ? ["HEAD"] : [])].sort();
      throw new ClearanceError(
        "method",
        "method_not_allowed",
        `${req.method} is not allowed on ${path}; use ${allowed.join(", ")}`,
        { allow: allowed },
      );
    }
    const { c, m } = hit;
    const caller = await authenticateAdmin(req, deps, res);
    if (!c.def.roles.some((r) => caller.roles.has(r))) {
      throw new ClearanceError(
        "forbidden",
        "forbidden",
        `${caller.id} may not ${c.def.summary.toLowerCase()}: needs one of the roles ${c.def.roles.join(", ")}`,
      );
    }
    const params = Object.fromEntries(c.names.map((n, i) => [n, pathParameter(n, m[i + 1] ?? "")]));
    const url = new URL(req.url ?? "/", "http://localhost");
    refuseRepeated(url.searchParams);
    const query = c.def.query ? parse(c.def.query, Object.fromEntries(url.searchParams), "query") : {};
    // A route that takes no body refuses one that holds anything (a GET's filters, a revocation's
    // reason): ignored, it would be answered as if it had not been sent.
    const body = c.def.body
      ? parse(
          c.def.body,
          await readJson(req, c.def.bodyIsQuery === true ? { bidi: "take", controls: "take" } : {}),
          "body",
        )
      : await bodyless(req);
    const stream = c.def.progress === true && wantsProgress(req) ? new ProgressStream(res) : null;
    let result: unknown;
    try {
      result = await c.def.handle({
        req,
        caller,
        params,
        body,
        query,
        deps,
        progress: stream?.report ?? none,
      });
    } catch (err) {
      // Refused before any progress went out: answered with its own status, as any other error.
      if (stream?.streaming !== true) throw err;
      // Midway: the caller is told in the stream; a server fault is also logged, as the gateway's
      // error handler would have.
      if (statusOf(asClearanceError(err)) >= 500) deps.onError?.(err);
      return stream.fail(err);
    }
    if (stream?.streaming === true) {
      return stream.result(
        result instanceof RawBody ? { content_type: result.contentType, text: result.body } : result,
      );
    }
    if (!(result instanceof RawBody)) return sendJson(res, c.def.status ?? 200, result);
    res.writeHead(c.def.status ?? 200, {
      "content-type": result.contentType,
      "content-length": Buffer.byteLength(result.body),
      "x-content-type-options": "nosniff",
      // A report page runs its own inline style and script and nothing else; like every other
      // answer, it is framed by no one and names no base or form target.
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    });
    res.end(result.body);
  };
}

const none: Progress = () => undefined;

/**
 * A path parameter, decoded; refused (400, naming it) when it holds a control character (TAB, LF
 * and CR too: an id is one line) or a bidirectional control: an id is stored, recorded in the audit
 * log and shown in terminals, logs and the console as a body's text is, and bodies refuse them.
 */
function pathParameter(name: string, part: string): string {
  const value = decodePathPart(part);
  for (const [pattern, code, charName] of REFUSED_IN_PATH) {
    const at = value.search(pattern);
    if (at === -1) continue;
    const message = `the path parameter ${name} holds ${charName(value.charAt(at))}`;
    const advice =
      code === "control_character"
        ? ": an id may hold no control characters; remove it"
        : ", an invisible control that makes text read otherwise than it is; remove it";
    throw new ClearanceError("invalid", code, `${message}${advice}`, {
      problems: [{ code, path: [name], message }],
    });
  }
  return value;
}

const REFUSED_IN_PATH: readonly [RegExp, string, (c: string) => string][] = [
  [CONTROL, "control_character", controlName],
  [BIDI_CONTROL, "bidi_control", bidiControlName],
];

/**
 * A route that takes no body: nothing, or an empty object. A length says there is content; a
 * transfer coding with a content type may carry some (an empty one is none); a transfer coding
 * alone is taken as a client streaming nothing (Node's own clients do), as before.
 */
async function bodyless(req: IncomingMessage): Promise<undefined> {
  const length = Number(req.headers["content-length"] ?? 0);
  const coded = req.headers["transfer-encoding"] !== undefined && req.headers["content-type"] !== undefined;
  if (!(length > 0) && !coded) return undefined;
  const text = await readJsonBodyText(req);
  if (text.trim() !== "") parse(noBody, parseJsonText(text), "body");
  return undefined;
}

/** A query parameter given more than once is refused, naming it: which one counts would be a guess. */
function refuseRepeated(params: URLSearchParams): void {
  const problems = [...new Set(params.keys())].flatMap((name) => {
    const values = params.getAll(name);
    return values.length < 2
      ? []
      : [
          {
            code: "repeated_parameter",
            path: [name],
            message: `given ${values.length} times (${values.map((v) => quoted(v)).join(", ")}): give it once`,
          },
        ];
  });
  if (problems.length > 0) {
    throw new InvalidInputError(
      problems,
      `invalid query: ${problems.map((p) => `${p.path.join(".")}: ${p.message}`).join("; ")}`,
    );
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  const problems = zodProblems(r.error, schema);
  throw new InvalidInputError(
    problems,
    `invalid ${where}: ${problems.map((p) => `${p.path.join(".") || "(root)"}: ${p.message}`).join("; ")}`,
  );
}

const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    problems: z.array(z.object({ code: z.string(), path: z.string(), message: z.string() })).optional(),
  }),
});

/** One line of a long job's progress stream (progress.ts). */
const progressLineSchema = z.union([
  z.object({ progress: z.object({ stage: z.string(), done: z.number(), total: z.number() }) }),
  z.object({ result: z.unknown() }),
  z.object({ status: z.number(), error: errorSchema.shape.error }),
]);

/** OpenAPI 3.1, generated from the same route table and schemas that serve requests. */
export function openApiDocument(routes: readonly RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const names = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
    const query = r.query
      ? (z.toJSONSchema(r.query, { io: "input" }) as {
          properties?: Record<string, unknown>;
          required?: string[];
        })
      : null;
    const parameters = [
      ...names.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } })),
      ...Object.entries(query?.properties ?? {}).map(([name, schema]) => ({
        name,
        in: "query",
        required: query?.required?.includes(name) ?? false,
        schema,
      })),
    ];
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      description: `Roles: ${r.roles.join(", ")}.`,
      security: [{ bearer: [] }],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: z.toJSONSchema(r.body, { io: "input" }) } },
            },
          }
        : {}),
      responses: {
        [String(r.status ?? 200)]: {
          description: "OK",
          content: {
            "application/json": { schema: {} },
            // Long jobs: progress lines, then the result (src/admin/progress.ts).
            ...(r.progress === true
              ? { "application/x-ndjson": { schema: { $ref: "#/components/schemas/ProgressLine" } } }
              : {}),
          },
        },
        default: {
          description: "Error",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Clearance admin API", version: "1" },
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { Error: z.toJSONSchema(errorSchema), ProgressLine: z.toJSONSchema(progressLineSchema) },
    },
  };
}

/** Cursor pagination over records by id: `?limit=&cursor=<last id>`. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().optional(),
};

/**
 * One page of `items`, in the order of their ids by code point: the store's (SQLite's BINARY,
 * PostgreSQL's "C"), sorted here all the same, and the cursor compared the same way. JavaScript's
 * `<` compares UTF-16 code units, which puts ids beyond U+FFFF before U+E000–U+FFFF: with the store's
 * order it skipped ids, or answered one page for ever.
 */
export function paginate<T extends { id: string }>(items: readonly T[], limit: number, cursor?: string) {
  const sorted = [...items].sort((a, b) => byCodePoint(a.id, b.id));
  const from = cursor === undefined ? 0 : sorted.findIndex((i) => byCodePoint(i.id, cursor) > 0);
  const start = from < 0 ? sorted.length : from;
  const data = sorted.slice(start, start + limit);
  const more = start + limit < sorted.length;
  return { data, next_cursor: more ? (data.at(-1)?.id ?? null) : null };
}

/** Compares two strings by code point (as UTF-8 bytes compare), not by UTF-16 code unit. */
export function byCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

/** A code unit's place in code point order: surrogates (U+10000 and beyond) after U+E000–U+FFFF. */
const rank = (unit: number): number =>
  unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;

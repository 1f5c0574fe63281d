/**
 * The admin API's engine: a table of routes, each naming its method, path, the roles allowed, and
 * the zod schemas of its body and query — which validate requests and, unchanged, generate the
 * OpenAPI document (one source of truth). Errors are rendered once, by the gateway's handler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { ClearanceError, InvalidInputError } from "../errors/index.js";
import { asClearanceError, decodePathPart, readJson, sendJson, statusOf } from "../http/index.js";
import type { Role } from "../control/types.js";
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
  handle(ctx: RouteContext<B, Q>): Promise<unknown>;
}

/** A route's answer that is not JSON: a CSV or HTML report. */
export class RawBody {
  constructor(
    readonly contentType: string,
    readonly body: string,
  ) {}
}

export const route = <B = undefined, Q = Record<string, never>>(def: RouteDef<B, Q>): RouteDef =>
  def as unknown as RouteDef;

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
    const hit = matches.find(({ c }) => c.def.method === req.method);
    if (hit === undefined) {
      const allowed = [...new Set(matches.map(({ c }) => c.def.method))].join(", ");
      throw new ClearanceError(
        "method",
        "method_not_allowed",
        `${req.method} is not allowed on ${path}; use ${allowed}`,
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
    const params = Object.fromEntries(c.names.map((n, i) => [n, decodePathPart(m[i + 1] ?? "")]));
    const url = new URL(req.url ?? "/", "http://localhost");
    const query = c.def.query ? parse(c.def.query, Object.fromEntries(url.searchParams), "query") : {};
    const body = c.def.body ? parse(c.def.body, await readJson(req), "body") : undefined;
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

/** Cursor pagination over records sorted by id: `?limit=&cursor=<last id>`. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().optional(),
};

export function paginate<T extends { id: string }>(items: readonly T[], limit: number, cursor?: string) {
  const from = cursor === undefined ? 0 : items.findIndex((i) => i.id > cursor);
  const start = from < 0 ? items.length : from;
  const data = items.slice(start, start + limit);
  const more = start + limit < items.length;
  return { data, next_cursor: more ? (data.at(-1)?.id ?? null) : null };
}

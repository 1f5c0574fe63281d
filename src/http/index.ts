/**
 * The small HTTP core shared by Clearance's servers (node:http, no framework on the hot path):
 * bounded JSON bodies, JSON responses, and one place where errors become responses.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, InvalidInputError, formatPath, type Problem } from "../errors/index.js";

export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;

/** Reads a JSON body no larger than `limit` bytes. Malformed JSON and wrong content types are 400/415. */
export async function readJson(
  req: IncomingMessage,
  limit = DEFAULT_BODY_LIMIT,
  /** OpenAI and Anthropic answer a wrong content type with 400; the decision and admin APIs with 415. */
  wrongTypeStatus = 415,
): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/(.+\+)?json\b/i.test(type)) {
    throw new HttpError(
      wrongTypeStatus,
      "unsupported_media_type",
      `expected Content-Type: application/json, got "${type}"`,
    );
  }
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new HttpError(400, "invalid_json", `request body is not valid JSON: ${(cause as Error).message}`);
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "body_too_large", `request body is larger than the limit of ${limit} bytes`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Any thrown value as an HttpError: invalid input is 400, anything unexpected is 500 (details not leaked). */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof InvalidInputError) {
    const first = err.problems[0];
    const message = first ? `${formatPath(first.path)}: ${first.message}` : err.message;
    return new HttpError(400, "invalid_request", message, { problems: err.problems, cause: err });
  }
  return new HttpError(500, "internal_error", "internal error", { cause: err });
}

/** The admin / decision API error body: one shape, with the field path of each problem. */
export function errorBody(err: HttpError): unknown {
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.problems.length > 0 ? { problems: err.problems.map(renderProblem) } : {}),
    },
  };
}

function renderProblem(p: Problem) {
  return {
    code: p.code,
    path: formatPath(p.path),
    message: p.message,
    ...(p.line === undefined ? {} : { line: p.line, column: p.column ?? 1 }),
  };
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** Wraps a handler so that every error, thrown anywhere, is rendered once, here. */
export function withErrors(handler: Handler, onInternal?: (err: unknown) => void): Handler {
  return async (req, res) => {
    try {
      await handler(req, res);
    } catch (thrown) {
      const err = toHttpError(thrown);
      if (err.status >= 500) onInternal?.(thrown);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, err.status, errorBody(err));
    }
  };
}

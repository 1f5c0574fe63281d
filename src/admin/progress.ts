/**
 * Progress of a long admin job (a what-if, a footprint report, a rescreen), for a client that asks
 * for it with `Accept: application/x-ndjson`: the answer is then a stream of JSON lines —
 *
 *   {"progress": {"stage": "reading the audit log", "done": 120000, "total": 1000000}}
 *   …
 *   {"result": <what the route answers as JSON>}        or, for a CSV or HTML report,
 *   {"result": {"content_type": "text/csv", "text": "…"}}
 *   {"status": 404, "error": {"code", "message", "problems"?}}   when it fails after progress began
 *
 * The stream starts with the first progress line: a request refused before that (bad input, no such
 * version, a role missing) is answered as any other, with its own status, and a job done before it
 * had anything to report is answered as plain JSON.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { asClearanceError, errorBody, statusOf } from "../http/index.js";

export const NDJSON = "application/x-ndjson";

/** What a long route reports as it goes. */
export type Progress = (stage: string, done: number, total: number) => void;

export const wantsProgress = (req: IncomingMessage): boolean =>
  (req.headers.accept ?? "").split(",").some((t) => t.trim().split(";")[0] === NDJSON);

/** Lines at most every 100 ms (and the last of each stage), so that a fast job is not all progress. */
const EVERY_MS = 100;

export class ProgressStream {
  private started = false;
  private last = 0;
  private stage = "";

  constructor(private readonly res: ServerResponse) {}

  /** Whether lines have been sent (errors then go in the stream, not as a status). */
  get streaming(): boolean {
    return this.started;
  }

  readonly report: Progress = (stage, done, total) => {
    const now = Date.now();
    if (stage === this.stage && now - this.last < EVERY_MS && done < total) return;
    this.stage = stage;
    this.last = now;
    this.line({ progress: { stage, done, total } });
  };

  result(value: unknown): void {
    this.line({ result: value });
    this.res.end();
  }

  fail(thrown: unknown): void {
    const err = asClearanceError(thrown);
    this.line({ status: statusOf(err), ...(errorBody(err) as object) });
    this.res.end();
  }

  private line(value: unknown): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(200, { "content-type": `${NDJSON}; charset=utf-8` });
    }
    this.res.write(`${JSON.stringify(value)}\n`);
  }
}

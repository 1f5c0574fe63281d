/**
 * A long job's progress stream over a real socket: lines throttled per stage (the first and the
 * last of each always sent), then the result; a failure midway as a line with its status, its
 * details kept from the caller.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { ClearanceError } from "../errors/index.js";
import { ProgressStream, wantsProgress } from "./progress.js";

/** Runs `job` against a real response and returns the answer's content type and lines. */
async function answer(job: (s: ProgressStream, res: ServerResponse) => void) {
  const server = createServer((_req, res) => job(new ProgressStream(res), res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      lines: text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as unknown),
    };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("a long job's progress stream", () => {
  it("sends the first and last line of each stage, not every step, then the result", async () => {
    const r = await answer((s) => {
      for (let i = 0; i <= 1000; i++) s.report("reading", i, 1000);
      s.report("deciding", 0, 2);
      s.report("deciding", 2, 2);
      s.result({ ok: true });
    });
    expect(r.status).toBe(200);
    expect(r.type).toBe("application/x-ndjson; charset=utf-8");
    expect(r.lines).toEqual([
      { progress: { stage: "reading", done: 0, total: 1000 } },
      { progress: { stage: "reading", done: 1000, total: 1000 } },
      { progress: { stage: "deciding", done: 0, total: 2 } },
      { progress: { stage: "deciding", done: 2, total: 2 } },
      { result: { ok: true } },
    ]);
  });

  it("a failure midway is a line with its status; an unexpected one says nothing of its details", async () => {
    const refused = await answer((s) => {
      s.report("reading", 1, 2);
      s.fail(new ClearanceError("unavailable", "audit_unavailable", "the audit log cannot be read"));
    });
    expect(refused.lines.at(-1)).toEqual({
      status: 503,
      error: { code: "audit_unavailable", message: "the audit log cannot be read" },
    });
    const broken = await answer((s) => {
      s.report("reading", 1, 2);
      s.fail(new Error("ENOENT /srv/secret/path"));
    });
    expect(broken.lines.at(-1)).toEqual({
      status: 500,
      error: { code: "internal_error", message: "internal error" },
    });
  });

  it("is what a client asks for with Accept: application/x-ndjson, among others", () => {
    const req = (accept?: string) => ({ headers: accept === undefined ? {} : { accept } }) as never;
    expect(wantsProgress(req("application/x-ndjson"))).toBe(true);
    expect(wantsProgress(req("application/x-ndjson, application/json"))).toBe(true);
    expect(wantsProgress(req("application/json"))).toBe(false);
    expect(wantsProgress(req())).toBe(false);
  });
});

/**
 * The log, published read-only under /audit/: the checkpoint and tiles (tlog-tiles layout, for
 * any client), plus inclusion and consistency proofs as JSON:
 *   GET /audit/checkpoint
 *   GET /audit/tile/<L>/<N>[.p/<W>], /audit/tile/entries/<N>[.p/<W>]
 *   GET /audit/proof/inclusion?index=I&size=N   → {index, size, proof: [base64…]}
 *   GET /audit/proof/consistency?from=M&to=N    → {from, to, proof: [base64…]}
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { ClearanceError } from "../errors/index.js";
import { sendJson } from "../http/index.js";
import { AuditLogError, type AuditTrail } from "./log.js";
import { TILE_HEIGHT, TILE_WIDTH, parseTilePath, tilePath } from "./tiles.js";

export async function handleAudit(
  log: AuditTrail,
  dir: string,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new ClearanceError("method", "method_not_allowed", "the audit log is read-only: use GET", {
      allow: ["GET", "HEAD"],
    });
  }
  const sub = path.slice("/audit/".length);
  if (sub === "checkpoint") {
    const published = log.published;
    if (published === null)
      throw new ClearanceError("not-found", "not_found", "no checkpoint has been published yet");
    return send(res, 200, "text/plain; charset=utf-8", "no-cache", published.text);
  }
  if (sub.startsWith("tile/")) {
    let tile;
    try {
      tile = parseTilePath(sub);
    } catch (err) {
      throw new ClearanceError("not-found", "not_found", (err as Error).message);
    }
    // The canonical path, rebuilt: nothing the client wrote reaches the file system.
    const read = () => readFile(join(dir, tilePath(tile))).catch(() => null);
    let data = await read();
    // A tile of a tree beyond the checkpoint served: a node of a shared log behind the one whose
    // checkpoint the client read catches up, then looks again.
    const needs =
      (tile.index * BigInt(TILE_WIDTH) + BigInt(tile.width)) << BigInt(TILE_HEIGHT * levelOf(tile));
    if (data === null && log.reach !== undefined && needs > (log.published?.size ?? 0n)) {
      await log.reach(needs);
      data = await read();
    }
    if (data === null) {
      // tlog-tiles lets a log remove a partial tile once the full one is there, which a client then
      // reads. Never a wider partial in its place: a tile's bytes are its width's.
      const fullPath = tilePath({ ...tile, width: TILE_WIDTH });
      const hint =
        tile.width < TILE_WIDTH
          ? `: a partial tile is removed only once its full tile is written — fetch the full tile, ${fullPath}; if that is missing too, no checkpoint of this log has had this width`
          : "";
      throw new ClearanceError("not-found", "not_found", `no tile ${sub}${hint}`);
    }
    const full = tile.width === TILE_WIDTH;
    return send(
      res,
      200,
      "application/octet-stream",
      full ? "public, max-age=31536000, immutable" : "no-cache",
      data,
    );
  }
  const url = new URL(req.url ?? "/", "http://localhost");
  try {
    if (sub === "proof/inclusion") {
      const index = uint64(url, "index");
      const size = uint64(url, "size");
      const proof = await log.inclusion(index, size);
      return sendJson(res, 200, { index: index.toString(), size: size.toString(), proof: proof.map(b64) });
    }
    if (sub === "proof/consistency") {
      const from = uint64(url, "from");
      const to = uint64(url, "to");
      const proof = await log.consistency(from, to);
      return sendJson(res, 200, { from: from.toString(), to: to.toString(), proof: proof.map(b64) });
    }
  } catch (err) {
    if (err instanceof AuditLogError) throw new ClearanceError("invalid", "invalid_request", err.message);
    throw err;
  }
  throw new ClearanceError("not-found", "not_found", `no audit resource ${sub}`);
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/** Indices are 64-bit: parsed as BigInt, never as a float. */
function uint64(url: URL, name: string): bigint {
  const text = url.searchParams.get(name);
  if (text === null || !/^(0|[1-9][0-9]{0,19})$/.test(text) || BigInt(text) >= 1n << 64n) {
    throw new ClearanceError("invalid", "invalid_request", `${name}: expected an unsigned 64-bit integer`, {
      problems: [{ code: "invalid_type", path: [name], message: "expected an unsigned 64-bit integer" }],
    });
  }
  return BigInt(text);
}

function send(res: ServerResponse, status: number, type: string, cache: string, body: string | Buffer): void {
  res.writeHead(status, {
    "content-type": type,
    "cache-control": cache,
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** A tile's level as a number: entry bundles are laid out like level 0. */
const levelOf = (tile: { level: number | "entries" }): number => (tile.level === "entries" ? 0 : tile.level);

/**
 * The bare pass-through proxy of `npm run bench:gateway`: `node:http` in, undici Pool out, nothing
 * else. It is the ceiling for any Node proxy on this machine, so Clearance is compared with it.
 * Run in its own process. argv[2]: the upstream origin (http://127.0.0.1:PORT).
 *
 * It does the least a gateway must: read the (small) request body, send it upstream over a pooled
 * keep-alive connection, relay status, content type, content length (when the upstream sent one)
 * and body chunk by chunk with backpressure. With a length, a small body goes out in one write;
 * without (chunked, as Clearance answers) the end of the body costs a second one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

const origin = process.argv[2];
if (origin === undefined) throw new Error("usage: gateway-bare <upstream origin>");
// The same pool settings as Clearance's openai provider (src/upstream/http.ts).
const pool = new Pool(origin, { connections: 128, keepAliveTimeout: 30_000 });

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    pool
      .request({
        path: req.url ?? "/",
        method: "POST",
        headers: { "content-type": "application/json", "accept-encoding": "identity" },
        body: Buffer.concat(chunks),
      })
      .then((up) => {
        const headers: Record<string, string> = {};
        for (const name of ["content-type", "content-length"]) {
          const value = up.headers[name];
          if (typeof value === "string") headers[name] = value;
        }
        res.writeHead(up.statusCode, headers);
        // By hand rather than stream.pipeline(), which costs an AbortController (and a
        // DOMException on every finish): about a tenth of this process's CPU in a profile.
        up.body.on("data", (chunk: Buffer) => {
          if (!res.write(chunk)) {
            up.body.pause();
            res.once("drain", () => up.body.resume());
          }
        });
        up.body.once("end", () => res.end());
        up.body.once("error", (err) => res.destroy(err));
        res.once("close", () => {
          if (!res.writableFinished) up.body.destroy();
        });
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
        res.end('{"error":"upstream failed"}');
      });
  });
}

const server = createServer({ keepAliveTimeout: 65_000 }, handle);
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

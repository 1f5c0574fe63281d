/**
 * A request whose body is still arriving when something changes: the head and the body's first
 * bytes, then `meanwhile` once the gateway has taken the head, then the rest.
 */
import { request, type IncomingHttpHeaders } from "node:http";
import type { TestGateway } from "./gateway.js";

export interface TrickledAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export async function trickle(
  t: TestGateway,
  path: string,
  headers: Record<string, string>,
  text: string,
  meanwhile: () => Promise<void> | void,
  first = 30,
): Promise<TrickledAnswer> {
  const url = new URL(t.url);
  const req = request({
    host: url.hostname,
    port: url.port,
    path,
    method: "POST",
    agent: false,
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers },
  });
  const answered = new Promise<TrickledAnswer>((resolve, reject) => {
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
  });
  // Told after the gateway's own listener has taken the head (listeners run in order).
  const headTaken = new Promise<void>((resolve) => t.gateway.server.once("request", () => resolve()));
  req.write(text.slice(0, first));
  await headTaken;
  await meanwhile();
  req.end(text.slice(first));
  return answered;
}

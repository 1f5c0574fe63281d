/**
 * A mock model provider on a real loopback socket, for the hardening suites: it records every
 * request that reaches it (the differential oracle's evidence) and misbehaves on demand (the fault
 * suite's upstream faults). Speaks both wire formats; answers carry no usage unless asked. The
 * gateway charges an answer without usage an estimate from the request's and the answer's sizes (a
 * few thousand tokens for the largest generated bodies): far below the example scheme's 50 M quota
 * at the default fuzzing runs, but a very long run could move it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** How the provider answers the next requests. */
export type Behaviour =
  | "ok"
  | "reset-before"
  | "reset-during"
  | "stall-headers"
  | "stall-mid"
  | "status-500"
  | "garbage-sse"
  | "truncated-sse"
  | "endless";

export interface Hit {
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  /** The body's `model`, when it parses. */
  readonly model: string | null;
  readonly at: number;
}

/** Text an upstream error might carry that must never reach a client. */
export const UPSTREAM_SECRET_TEXT = "db-7.internal.corp:5432 password=hunter2";

export interface MockUpstream {
  readonly url: string;
  readonly hits: Hit[];
  behaviour: Behaviour;
  /** Sockets open on the provider's side right now (a client's disconnect should close them). */
  readonly openSockets: () => number;
  /** Never-ending streams still being written (a client's disconnect should end them). */
  readonly activeStreams: () => number;
  /** Stops listening: connections are refused until `listen()` again on the same port. */
  unlisten(): Promise<void>;
  listen(): Promise<void>;
  close(): Promise<void>;
}

export async function startMockUpstream(): Promise<MockUpstream> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state: { behaviour: Behaviour } = { behaviour: "ok" };
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        /* recorded as is */
      }
      const model = typeof json.model === "string" ? json.model : null;
      hits.push({ path: req.url ?? "", headers: req.headers, body, model, at: Date.now() });
      answer(state.behaviour, req, res, model ?? "unknown", json.stream === true, timers);
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(b: Behaviour) {
      state.behaviour = b;
    },
    openSockets: () => sockets.size,
    activeStreams: () => timers.size,
    async unlisten() {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
    },
    async listen() {
      await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    },
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
    },
  };
}

function answer(
  behaviour: Behaviour,
  req: IncomingMessage,
  res: ServerResponse,
  model: string,
  stream: boolean,
  timers: Set<NodeJS.Timeout>,
): void {
  const anthropic = (req.url ?? "").startsWith("/v1/messages");
  const sse = { "content-type": "text/event-stream" };
  switch (behaviour) {
    case "reset-before":
      req.socket.destroy();
      return;
    case "stall-headers":
      return; // never answers: the gateway's first-byte timeout must fire
    case "status-500":
      res.writeHead(500, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: { message: `backend ${UPSTREAM_SECRET_TEXT} failed`, type: "server_error" },
        }),
      );
      return;
    case "garbage-sse":
      res.writeHead(200, sse);
      res.end("data: {not json\n\n\u0000\u00ff\nevent: ??\ndata: ]]]\n\n");
      return;
    case "truncated-sse":
      res.writeHead(200, sse);
      res.write(`data: ${JSON.stringify(chunk(anthropic, model, "par"))}\n\n`);
      res.end('data: {"id":"x","choi');
      return;
    case "reset-during":
      res.writeHead(200, stream ? sse : { "content-type": "application/json" });
      res.write(stream ? `data: ${JSON.stringify(chunk(anthropic, model, "par"))}\n\n` : '{"id":"x",');
      setTimeout(() => req.socket.destroy(), 5);
      return;
    case "stall-mid":
      res.writeHead(200, sse);
      res.write(`data: ${JSON.stringify(chunk(anthropic, model, "par"))}\n\n`);
      return; // then silence: the gateway's idle timeout must fire
    case "endless": {
      res.writeHead(200, sse);
      const t = setInterval(
        () => res.write(`data: ${JSON.stringify(chunk(anthropic, model, "more"))}\n\n`),
        5,
      );
      timers.add(t);
      res.once("close", () => {
        clearInterval(t);
        timers.delete(t);
      });
      return;
    }
    case "ok":
      if (stream) {
        res.writeHead(200, sse);
        if (anthropic) {
          res.write(
            `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "m", model } })}\n\n`,
          );
          res.write(`event: content_block_delta\ndata: ${JSON.stringify(chunk(true, model, "ok"))}\n\n`);
          res.end(`event: message_stop\ndata: {"type":"message_stop"}\n\n`);
        } else {
          res.write(`data: ${JSON.stringify(chunk(false, model, "ok"))}\n\n`);
          res.end("data: [DONE]\n\n");
        }
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          anthropic
            ? {
                id: "msg",
                type: "message",
                role: "assistant",
                model,
                content: [{ type: "text", text: "ok" }],
              }
            : {
                id: "cmpl",
                object: "chat.completion",
                model,
                choices: [{ index: 0, message: { role: "assistant", content: "ok" } }],
              },
        ),
      );
  }
}

function chunk(anthropic: boolean, model: string, text: string): unknown {
  return anthropic
    ? { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }
    : { id: "c", object: "chat.completion.chunk", model, choices: [{ index: 0, delta: { content: text } }] };
}

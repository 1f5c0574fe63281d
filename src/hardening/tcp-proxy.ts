/**
 * A TCP proxy the fault suites control, between the gateway and PostgreSQL or Redis: `cut()` drops
 * every connection and refuses new ones (the server unreachable, or restarting), `restore()` lets
 * them through again. The server itself is never touched: other users of it are unaffected.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Connections open through the proxy now. */
  readonly open: () => number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    pairs.add(client);
    pairs.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => pairs.size / 2,
    cut() {
      down = true;
      for (const s of pairs) s.destroy();
    },
    restore() {
      down = false;
    },
    async close() {
      for (const s of pairs) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

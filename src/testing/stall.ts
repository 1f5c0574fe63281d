/**
 * A TCP proxy that can go silent without closing anything: a paused server, a partition that heals.
 * While paused it accepts connections and holds every byte (and every end) in both directions;
 * resumed, it delivers what it held, in order, and forwards again. Nothing is reset, so only a
 * timeout on the client's side can notice the silence. Test-only.
 */
import net from "node:net";

export interface StallProxy {
  /** The URL with its host and port replaced by the proxy's. */
  readonly url: string;
  /** Connections made through the proxy so far. */
  readonly connections: number;
  /** Stops forwarding: bytes and ends are held, sockets stay open, new connections are accepted. */
  pause(): void;
  /** Delivers what was held and forwards again, on the connections made before as on new ones. */
  resume(): void;
  close(): Promise<void>;
}

interface Direction {
  readonly from: net.Socket;
  readonly to: net.Socket;
  held: Buffer[];
  ended: boolean;
}

export async function stallProxy(url: string, defaultPort = 6379): Promise<StallProxy> {
  const target = new URL(url);
  let paused = false;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const directions = new Set<Direction>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
  };
  const release = (d: Direction) => {
    for (const chunk of d.held.splice(0)) if (!d.to.destroyed) d.to.write(chunk);
    if (d.ended && !d.to.destroyed) d.to.end();
  };
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    track(client);
    const upstream = net.connect({
      port: Number(target.port || defaultPort),
      host: target.hostname,
      allowHalfOpen: true,
    });
    track(upstream);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      const d: Direction = { from, to, held: [], ended: false };
      directions.add(d);
      from.on("data", (chunk: Buffer) => {
        if (paused) d.held.push(chunk);
        else if (!to.destroyed) to.write(chunk);
      });
      from.on("end", () => {
        d.ended = true;
        if (!paused) release(d);
      });
      // A socket destroyed by its owner (no end sent) while paused: the other side hears it on resume.
      from.on("close", () => {
        d.ended = true;
        if (!paused) release(d);
      });
      to.on("close", () => {
        if (from.destroyed) directions.delete(d);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    get connections() {
      return connections;
    },
    pause: () => void (paused = true),
    resume: () => {
      paused = false;
      for (const d of directions) release(d);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy to PostgreSQL that can stop carrying packets without closing anything (a partition, a
 * dead NAT entry, a failover without RST): what a timeout or keepalive must notice. Test-only.
 */
import net from "node:net";

export interface Blackhole {
  /** The URL with its host and port replaced by the proxy's. */
  readonly url: string;
  /** Stops forwarding in both directions; connections stay open, new ones are accepted and ignored. */
  cut(): void;
  /** Forwards again (new connections; the ones cut stay dead). */
  mend(): void;
  close(): Promise<void>;
}

/**
 * `partition`: a cut passes no close either (the blackhole otherwise passes one side's close on), and
 * each side's kernel still answers keepalive probes for its own end: what only a heartbeat with a
 * bound can notice.
 */
export async function blackhole(
  url: string,
  options: { readonly partition?: boolean } = {},
): Promise<Blackhole> {
  const target = new URL(url);
  let cut = false;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    track(client);
    if (cut) return;
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(upstream);
    let dead = false;
    const pipe = (from: net.Socket, to: net.Socket) =>
      from.on("data", (d) => {
        if (cut) dead = true;
        if (!dead) to.write(d);
      });
    pipe(client, upstream);
    pipe(upstream, client);
    const held = () => options.partition === true && cut;
    client.on("close", () => void (held() || upstream.destroy()));
    upstream.on("close", () => void (held() || client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    cut: () => void (cut = true),
    mend: () => void (cut = false),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

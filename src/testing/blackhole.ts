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
  const held = () => options.partition === true && cut;
  // Half-open sockets: a side's FIN is the proxy's to carry on, or (a partition, cut) not to. Node
  // would otherwise answer it with one of its own, and a client waiting for the server to close (a
  // Terminate) would hear back from the proxy through the partition.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    if (cut) {
      client.on("end", () => void (held() || client.end()));
      return;
    }
    const upstream = net.connect({
      port: Number(target.port || 5432),
      host: target.hostname,
      allowHalfOpen: true,
    });
    track(upstream);
    let dead = false;
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on("data", (d) => {
        if (cut) dead = true;
        if (!dead) to.write(d);
      });
      from.on("end", () => {
        if (!cut && !dead) to.end();
        else if (!held()) {
          from.destroy();
          to.destroy();
        }
      });
    };
    pipe(client, upstream);
    pipe(upstream, client);
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

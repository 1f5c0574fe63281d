/**
 * Preloaded (`node --import`) into the Portkey gateway by `npm run bench:gateway`. Portkey's
 * start-server.js has no host option: it calls `serve({ fetch, port })`, which listens on all
 * interfaces. This makes every server that listens without a host listen on 127.0.0.1 instead, and
 * reports the bound address over IPC so the bench can record it. With the bench's IPC channel
 * gone (the bench ended or was killed), the process exits.
 */
import net from "node:net";

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;
const proto = net.Server.prototype as unknown as { listen: Listen };
const listen = proto.listen;

const LOOPBACK = "127.0.0.1";
const ANY = new Set([undefined, null, "", "0.0.0.0", "::"]);

proto.listen = function (this: net.Server, ...args: unknown[]): net.Server {
  const [first, second] = args;
  if (typeof first === "number" || typeof first === "string") {
    // listen(port), listen(port, cb), listen(port, host, ...): force the host.
    if (typeof second === "function" || args.length < 2) args.splice(1, 0, LOOPBACK);
    else if (ANY.has(second as string | undefined)) args[1] = LOOPBACK;
  } else if (typeof first === "object" && first !== null && "port" in first) {
    const options = first as net.ListenOptions;
    if (ANY.has(options.host)) args[0] = { ...options, host: LOOPBACK };
  }
  this.once("listening", () => process.send?.({ listening: this.address() }));
  return listen.apply(this, args);
};

process.on("disconnect", () => process.exit(0));

/**
 * Link-local ranges in trusted_proxies (169.254.0.0/16, fe80::/10) are taken, not refused: they are
 * not ranges that can never match. An IPv6 link-local peer always arrives zoned (seen here on a real
 * socket) and a zoned peer is never trusted; but the same range matches a hop a trusted proxy wrote
 * into X-Forwarded-For (no zone there), and IPv4 has no zones at all: a 169.254.x.y peer (a sidecar or
 * node-local proxy) is trusted like any other listed address.
 */
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { cidrProblem, createLocator } from "./index.js";

const spoofed = { "x-forwarded-for": "89.160.20.112", "cf-ipcountry": "US" };

describe("link-local ranges in trusted_proxies", () => {
  it("loads them", () => {
    for (const entry of ["169.254.0.0/16", "169.254.20.10", "fe80::/10", "fe80::1"]) {
      expect(cidrProblem(entry), entry).toBeNull();
    }
  });

  it("trusts an IPv4 link-local peer (IPv4 addresses carry no zone)", async () => {
    const locator = await createLocator({ header: "cf-ipcountry", trustedProxies: ["169.254.0.0/16"] });
    expect(locator.locate("169.254.20.10", spoofed)).toBe("US");
    expect(locator.locate("::ffff:169.254.20.10", spoofed)).toBe("US");
    expect(locator.client("169.254.20.10", "89.160.20.112")).toBe("89.160.20.112");
  });

  it("walks past an IPv6 link-local hop a trusted proxy forwarded (written without a zone)", async () => {
    const locator = await createLocator({ trustedProxies: ["10.0.0.0/8", "fe80::/10"] });
    expect(locator.client("10.0.0.1", "89.160.20.112, fe80::5")).toBe("89.160.20.112");
    // Not listed, the hop is the client.
    const strict = await createLocator({ trustedProxies: ["10.0.0.0/8"] });
    expect(strict.client("10.0.0.1", "89.160.20.112, fe80::5")).toBe("fe80:0:0:0:0:0:0:5");
  });

  // A real connection to one of this machine's IPv6 link-local addresses, where it has one.
  const local = Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((a) => a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80:"))
      .map((a) => `${a.address}%${name}`),
  )[0];
  it.skipIf(local === undefined)(
    "never trusts an IPv6 link-local peer: Node reports it with its zone",
    async () => {
      const peers: Socket[] = [];
      const server = createServer((socket) => peers.push(socket.end()));
      server.listen(0, "::");
      await once(server, "listening");
      try {
        const client = connect({ host: local!, port: (server.address() as { port: number }).port });
        client.resume();
        await once(client, "connect");
        await once(client, "end");
        const peer = peers[0]!.remoteAddress!;
        expect(peer).toMatch(/^fe80:[0-9a-f:]+%.+$/i);
        const locator = await createLocator({ header: "cf-ipcountry", trustedProxies: ["fe80::/10"] });
        expect(locator.locate(peer, spoofed)).toBeNull();
        // The peer itself is the client, its zone kept; the forwarded address is not believed.
        expect(locator.client(peer, "89.160.20.112")).toMatch(/^fe80:0:0:0:[0-9a-f:]+%.+$/);
      } finally {
        server.close();
      }
    },
  );
});

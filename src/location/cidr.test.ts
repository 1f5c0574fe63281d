import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { parseAddress, parseCidrs, parseForwardedAddress } from "./cidr.js";

describe("parseAddress", () => {
  it("normalises IPv4-mapped IPv6 to IPv4", () => {
    expect(parseAddress("::ffff:10.0.0.1")?.toString()).toBe("10.0.0.1");
    expect(parseAddress("::FFFF:10.0.0.1")?.kind()).toBe("ipv4");
    expect(parseAddress("2001:db8::1")?.kind()).toBe("ipv6");
  });

  it("agrees with ipaddr.process on every valid address, a dotted tail given to it in hex", () => {
    // ipaddr.js reads ::a.b.c.d as ::ffff:a.b.c.d (see the hand-written table below); in hex it is right.
    const hexTail = (text: string): string =>
      text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
        [(+a << 8) | +b, (+c << 8) | +d].map((group) => group.toString(16)).join(":"),
      );
    const address = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4().map((v4) => `::ffff:${v4}`),
      fc.ipV4().map((v4) => `::${v4}`),
    );
    fc.assert(
      fc.property(address, (text) => {
        const expected = ipaddr.process(text.includes(":") ? hexTail(text) : text).toString();
        expect(parseAddress(text)?.toString()).toBe(expected);
        expect(parseAddress(text.toUpperCase())?.toString()).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps IPv4-compatible ::a.b.c.d IPv6; only ::ffff:0:0/96 is IPv4", () => {
    const table: [string, string, string][] = [
      // text, kind, toNormalizedString
      ["::10.0.3.7", "ipv6", "0:0:0:0:0:0:a00:307"], // how Node prints the peer ::a00:307
      ["::a00:307", "ipv6", "0:0:0:0:0:0:a00:307"],
      ["0:0:0:0:0:0:10.0.3.7", "ipv6", "0:0:0:0:0:0:a00:307"],
      ["::ffff:0:10.0.3.7", "ipv6", "0:0:0:0:ffff:0:a00:307"], // IPv4-translated (SIIT), not mapped
      ["64:ff9b::10.0.3.7", "ipv6", "64:ff9b:0:0:0:0:a00:307"],
      ["1:2:3:4:5:6:1.2.3.4", "ipv6", "1:2:3:4:5:6:102:304"],
      ["::ffff:10.0.3.7", "ipv4", "10.0.3.7"],
      ["::ffff:a00:307", "ipv4", "10.0.3.7"],
      ["0:0:0:0:0:FFFF:10.0.3.7", "ipv4", "10.0.3.7"],
      ["0000:0000:0000:0000:0000:ffff:0a00:0307", "ipv4", "10.0.3.7"],
      ["::", "ipv6", "0:0:0:0:0:0:0:0"],
      ["1::", "ipv6", "1:0:0:0:0:0:0:0"],
      ["1::2:3:4:5:6:7", "ipv6", "1:0:2:3:4:5:6:7"],
    ];
    for (const [text, kind, normalized] of table) {
      const address = parseAddress(text);
      expect([address?.kind(), address?.toNormalizedString()], text).toEqual([kind, normalized]);
    }
  });

  it("never throws on a zone Node accepts, keeps the zone, and does not turn a zoned address into IPv4", () => {
    const table: [string, string][] = [
      ["fe80::1%eth0", "fe80:0:0:0:0:0:0:1%eth0"],
      ["fe80::1%br-x1", "fe80:0:0:0:0:0:0:1%br-x1"], // Docker bridges
      ["fe80::1%eth0.100", "fe80:0:0:0:0:0:0:1%eth0.100"], // VLANs
      ["fe80::1%a:b", "fe80:0:0:0:0:0:0:1%a:b"],
      ["::ffff:10.0.3.7%eth0", "0:0:0:0:0:ffff:a00:307%eth0"],
    ];
    for (const [text, normalized] of table) {
      const address = parseAddress(text);
      expect([address?.kind(), address?.toNormalizedString()], text).toEqual(["ipv6", normalized]);
    }
    expect(parseForwardedAddress("[fe80::1%br-x1]:443")?.toNormalizedString()).toBe(
      "fe80:0:0:0:0:0:0:1%br-x1",
    );
  });

  it("rejects the legacy IPv4 spellings ipaddr.js alone would accept", () => {
    for (const text of ["10", "127.1", "0x7f.0.0.1", "010.0.0.1", "1.2.3.04", " 1.2.3.4", "", "[::1]"]) {
      expect(parseAddress(text), text).toBeNull();
    }
  });
});

describe("parseForwardedAddress", () => {
  it("takes bare addresses and the unambiguous port forms", () => {
    expect(parseForwardedAddress(" 81.2.69.1 ")?.toString()).toBe("81.2.69.1");
    expect(parseForwardedAddress("81.2.69.1:5678")?.toString()).toBe("81.2.69.1");
    expect(parseForwardedAddress("[2001:db8::1]")?.toString()).toBe("2001:db8::1");
    expect(parseForwardedAddress("[2001:db8::1]:443")?.toString()).toBe("2001:db8::1");
    expect(parseForwardedAddress("2001:db8::1")?.toString()).toBe("2001:db8::1");
    expect(parseForwardedAddress("[::ffff:81.2.69.1]:80")?.toString()).toBe("81.2.69.1");
  });

  it("rejects everything else", () => {
    const bad = [
      "unknown",
      "_hidden",
      "example.com",
      "81.2.69.1:",
      "81.2.69.1:port",
      "[81.2.69.1]",
      "[2001:db8::1",
    ];
    for (const text of [...bad, "[2001:db8::1]x", "[2001:db8::1]:123456", "127.1:80", ""]) {
      expect(parseForwardedAddress(text), text).toBeNull();
    }
  });
});

describe("parseCidrs", () => {
  it("matches IPv4 and IPv6 networks and single hosts", () => {
    const set = parseCidrs(["10.0.0.0/8", "::1/128", "2001:db8:ffff::/48", "192.0.2.7", " 172.16.0.0/12 "]);
    expect(set.size).toBe(5);
    const has = (text: string): boolean => set.has(parseAddress(text)!);
    expect(has("10.255.0.1")).toBe(true);
    expect(has("11.0.0.1")).toBe(false);
    expect(has("::1")).toBe(true);
    expect(has("::2")).toBe(false);
    expect(has("2001:db8:ffff:1::1")).toBe(true);
    expect(has("192.0.2.7")).toBe(true);
    expect(has("192.0.2.8")).toBe(false);
    expect(has("172.31.255.255")).toBe(true);
    expect(has("::ffff:10.0.0.1")).toBe(true); // normalised before matching
  });

  it("stores an IPv4-mapped IPv6 network as IPv4, since addresses are normalised the same way", () => {
    const set = parseCidrs(["::ffff:10.0.0.0/104"]);
    expect(set.has(parseAddress("10.1.2.3")!)).toBe(true);
    expect(set.has(parseAddress("11.1.2.3")!)).toBe(false);
  });

  it("refuses an IPv6 range wider than /96 that holds ::ffff:0:0/96: mapped peers are IPv4 by then", () => {
    for (const entry of ["::/80", "::/64", "::/1", "::fffe:0:0/95", "::ffff:0:0/95", "::ffff:10.0.0.0/88"]) {
      expect(() => parseCidrs([entry]), entry).toThrow(/holds ::ffff:0:0\/96, every IPv4-mapped address/);
    }
    // Ranges beside it, or inside it (stored as IPv4), still load.
    for (const entry of ["::/96", "::1/128", "::fffe:0:0/96", "1::/16", "::ffff:10.0.0.0/104", "::/0"]) {
      expect(() => parseCidrs([entry]), entry).not.toThrow();
    }
  });

  it("never trusts a zoned address: a range cannot say on which interface", () => {
    const set = parseCidrs(["fe80::/10", "fe80::1/128"]);
    expect(set.has(parseAddress("fe80::1")!)).toBe(true);
    for (const text of ["fe80::1%eth0", "fe80::1%br-x1", "fe80::2%eth1"]) {
      expect(set.has(parseAddress(text)!), text).toBe(false);
    }
  });

  it("refuses ::a.b.c.d, which is IPv6 and not the IPv4 address it shows", () => {
    for (const entry of ["::10.0.0.0/104", "::10.0.3.7", "0:0:0:0:0:0:10.0.3.7/128"]) {
      expect(() => parseCidrs([entry]), entry).toThrow(/is an IPv6 address, not IPv4/);
    }
    // The same IPv6 range in hex is that range: it holds ::a00:307 and not 10.0.3.7.
    const hex = parseCidrs(["::a00:0/104"]);
    expect(hex.has(parseAddress("::a00:307")!)).toBe(true);
    expect(hex.has(parseAddress("::10.0.3.7")!)).toBe(true);
    expect(hex.has(parseAddress("10.0.3.7")!)).toBe(false);
    // Dotted tails elsewhere are fine: NAT64, and ::ffff: (stored as IPv4).
    expect(parseCidrs(["64:ff9b::10.0.0.0/104"]).has(parseAddress("64:ff9b::a00:1")!)).toBe(true);
    expect(parseCidrs(["::ffff:10.0.3.7/128"]).has(parseAddress("10.0.3.7")!)).toBe(true);
  });

  it("an IPv4 proxy's range never holds the IPv4-compatible IPv6 address that prints like it", () => {
    const set = parseCidrs(["10.0.3.7/32"]);
    for (const text of ["::a00:307", "::10.0.3.7", "0:0:0:0:0:0:a00:307", "0:0:0:0:0:0:10.0.3.7"]) {
      expect(set.has(parseAddress(text)!), text).toBe(false);
    }
    for (const text of ["10.0.3.7", "::ffff:10.0.3.7", "::ffff:a00:307", "0:0:0:0:0:ffff:a00:307"]) {
      expect(set.has(parseAddress(text)!), text).toBe(true);
    }
  });

  it("gives every spelling of one IPv6 address the same parse and the same trust answer", () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
    const groups = fc.oneof(
      fc.array(group, { minLength: 8, maxLength: 8 }),
      // Around ::/96 and ::ffff:0:0/96, where ipaddr.js and Node disagree about what is IPv4.
      fc
        .tuple(fc.constantFrom(0, 0xffff), group, group)
        .map(([sixth, g7, g8]) => [0, 0, 0, 0, 0, sixth, g7, g8]),
    );
    fc.assert(
      fc.property(groups, (parts) => {
        const hex = parts.map((part) => part.toString(16));
        const dotted = `${parts[6]! >> 8}.${parts[6]! & 255}.${parts[7]! >> 8}.${parts[7]! & 255}`;
        const spellings = [
          hex.join(":"),
          parts.map((part) => part.toString(16).padStart(4, "0")).join(":"),
          compress(hex),
          `${hex.slice(0, 6).join(":")}:${dotted}`,
          compress([...hex.slice(0, 6), "x", "x"]).replace("x:x", dotted),
          compress(hex).toUpperCase(),
        ];
        // Hand-written: IPv4 exactly when the first 80 bits are zero and the next 16 are one.
        const mapped = parts.slice(0, 5).every((part) => part === 0) && parts[5] === 0xffff;
        const asIPv4 = `${dotted}/32`;
        const v4 = parseCidrs([asIPv4]);
        const v6 = parseCidrs([`${hex.join(":")}/128`]);
        for (const text of spellings) {
          const address = parseAddress(text);
          expect(address?.kind(), text).toBe(mapped ? "ipv4" : "ipv6");
          expect(v4.has(address!), text).toBe(mapped);
          expect(v6.has(address!), text).toBe(true);
          expect(parseAddress(`[${text}]`), text).toBeNull();
          expect(parseForwardedAddress(`[${text}]:80`)?.toString(), text).toBe(address?.toString());
          const refused = text.includes(".") && parts.slice(0, 6).every((part) => part === 0);
          if (refused) expect(() => parseCidrs([`${text}/128`]), text).toThrow(/not IPv4/);
          else expect(parseCidrs([`${text}/128`]).has(address!), text).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts an empty list and /0", () => {
    expect(parseCidrs([]).size).toBe(0);
    expect(parseCidrs(["0.0.0.0/0"]).has(parseAddress("8.8.8.8")!)).toBe(true);
  });

  it("lists every bad entry with its index and value", () => {
    const list = [
      "10.0.0.0/8",
      "10.0.0.0/33",
      "nonsense",
      "10.0.0.1/8",
      "127.1/32",
      "fe80::1%eth0/128",
      "::/129",
    ];
    let message = "";
    try {
      parseCidrs(list);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^invalid trustedProxies: /);
    expect(message).not.toContain("[0]");
    expect(message).toContain('[1] "10.0.0.0/33": prefix length must be 0-32');
    expect(message).toContain('[2] "nonsense": not an IP address or CIDR');
    expect(message).toContain(
      '[3] "10.0.0.1/8": host bits are set (the network is 10.0.0.0/8; for one host use /32)',
    );
    expect(message).toContain('[4] "127.1/32": not an IP address or CIDR');
    expect(message).toContain('[5] "fe80::1%eth0/128": zone IDs');
    expect(message).toContain('[6] "::/129": prefix length must be 0-128');
  });

  it("reports entries that are not strings instead of crashing", () => {
    expect(() => parseCidrs([10 as unknown as string])).toThrow("[0] 10: not a string");
    expect(() => parseCidrs(["10.0.0.0/"])).toThrow(/prefix length/);
    expect(() => parseCidrs(["10.0.0.0/+8"])).toThrow(/prefix length/);
  });
});

/** The longest run of two or more zero groups as "::" (RFC 5952), written here by hand, not by ipaddr.js. */
function compress(hex: readonly string[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < hex.length;) {
    let j = i;
    while (j < hex.length && hex[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

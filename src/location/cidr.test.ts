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

  it("agrees with ipaddr.process on every valid address (the fast paths change nothing)", () => {
    const address = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4().map((v4) => `::ffff:${v4}`),
    );
    fc.assert(
      fc.property(address, (text) => {
        expect(parseAddress(text)?.toString()).toBe(ipaddr.process(text).toString());
        expect(parseAddress(text.toUpperCase())?.toString()).toBe(ipaddr.process(text).toString());
      }),
      { numRuns: 2000 },
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

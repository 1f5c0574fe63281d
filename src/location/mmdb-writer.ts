/**
 * A small MaxMind DB writer for tests: builds GeoLite2-Country-shaped databases so the locator can be tested
 * against real .mmdb bytes read by the real reader, without shipping a third-party database.
 *
 * Layout (https://maxmind.github.io/MaxMind-DB/): binary search tree, 16 zero bytes, data section, then
 * "\xAB\xCD\xEFMaxMind.com" and the metadata map. In an IPv6 database IPv4 networks live under ::/96, and, as in
 * MaxMind's own databases, ::ffff:0:0/96 (IPv4-mapped) and 2002::/16 (6to4) point at that IPv4 subtree.
 */
import { writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { DATA_SECTION_SEPARATOR_BYTES, FieldType, METADATA_MARKER } from "./mmdb-format.js";

export interface CountryEntry {
  readonly cidr: string;
  /** country.iso_code; may be left out to write a record that has only registered_country. */
  readonly country?: string;
  /** registered_country.iso_code */
  readonly registeredCountry?: string;
}

export interface WriteOptions {
  readonly ipVersion?: 4 | 6;
  readonly databaseType?: string;
  /** Defaults to the smallest size that can address the tree and data section. */
  readonly recordSize?: 24 | 28 | 32;
  /** `build_epoch`, seconds since the epoch (default: now); null leaves the key out. */
  readonly buildEpoch?: number | null;
}

/** Writes a country database to `path`. Later entries win where networks overlap. */
export async function writeCountryMmdb(
  path: string,
  entries: readonly CountryEntry[],
  options: WriteOptions = {},
): Promise<void> {
  await writeFile(path, buildCountryMmdb(entries, options));
}

/** A record value is a tree node, an index into the list of data records, or null for "no data". */
class TreeNode {
  constructor(
    public left: Child,
    public right: Child,
  ) {}
}
type Child = TreeNode | number | null;

/** The database as bytes; see writeCountryMmdb. */
export function buildCountryMmdb(entries: readonly CountryEntry[], options: WriteOptions = {}): Buffer {
  const ipVersion = options.ipVersion ?? 6;
  const root = new TreeNode(null, null);
  const records: Buffer[] = [];
  const recordIndex = new Map<string, number>();
  for (const entry of entries) {
    const data = encodeCountryRecord(entry);
    const key = data.toString("hex");
    let index = recordIndex.get(key);
    if (index === undefined) {
      index = records.push(data) - 1;
      recordIndex.set(key, index);
    }
    const [bits, prefix] = networkBits(entry.cidr, ipVersion);
    insert(root, bits, prefix, index);
  }
  if (ipVersion === 6) aliasIpv4(root);

  // Number the nodes breadth-first; a Map (not a field) because aliased subtrees are reached twice.
  const numbers = new Map<TreeNode, number>([[root, 0]]);
  const order = [root];
  for (let i = 0; i < order.length; i++) {
    for (const child of [order[i]!.left, order[i]!.right]) {
      if (child instanceof TreeNode && !numbers.has(child)) {
        numbers.set(child, order.length);
        order.push(child);
      }
    }
  }
  const nodeCount = order.length;
  const offsets: number[] = [];
  let dataBytes = 0;
  for (const record of records) {
    offsets.push(dataBytes);
    dataBytes += record.length;
  }
  const maxRecord = nodeCount + DATA_SECTION_SEPARATOR_BYTES + dataBytes;
  const recordSize = options.recordSize ?? ([24, 28] as const).find((bits) => maxRecord < 2 ** bits) ?? 32;
  if (maxRecord >= 2 ** recordSize) throw new Error(`record size ${recordSize} is too small for this tree`);

  const recordValue = (child: Child): number =>
    child === null
      ? nodeCount // "no data for this address"
      : child instanceof TreeNode
        ? numbers.get(child)!
        : nodeCount + DATA_SECTION_SEPARATOR_BYTES + offsets[child]!;
  const nodeBytes = recordSize / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  order.forEach((node, n) =>
    writeNode(tree, n * nodeBytes, recordSize, recordValue(node.left), recordValue(node.right)),
  );

  const metadata = map([
    ["binary_format_major_version", uint(FieldType.uint16, 2)],
    ["binary_format_minor_version", uint(FieldType.uint16, 0)],
    ...(options.buildEpoch === null
      ? []
      : [
          [
            "build_epoch",
            uint(FieldType.uint64, options.buildEpoch ?? Math.floor(Date.now() / 1000)),
          ] as const,
        ]),
    ["database_type", utf8(options.databaseType ?? "GeoLite2-Country")],
    ["description", map([["en", utf8("Clearance test country database")]])],
    ["ip_version", uint(FieldType.uint16, ipVersion)],
    ["languages", array([utf8("en")])],
    ["node_count", uint(FieldType.uint32, nodeCount)],
    ["record_size", uint(FieldType.uint16, recordSize)],
  ]);
  const separator = Buffer.alloc(DATA_SECTION_SEPARATOR_BYTES);
  return Buffer.concat([tree, separator, ...records, METADATA_MARKER, metadata]);
}

/** Parses a CIDR into its bits as a 4- or 16-byte array; IPv4 in an IPv6 tree goes under ::/96. */
function networkBits(cidr: string, ipVersion: 4 | 6): [Uint8Array, number] {
  const [address = "", prefixText = ""] = cidr.split("/");
  const prefix = Number(prefixText);
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  if (version === 0 || !/^\d{1,3}$/.test(prefixText) || prefix < 1 || prefix > max) {
    throw new Error(`bad CIDR "${cidr}" (an address and a prefix length of 1-${max})`);
  }
  const bytes = Uint8Array.from(ipaddr.parse(address).toByteArray());
  if (version === 4 && ipVersion === 6)
    return [Uint8Array.from([...new Uint8Array(12), ...bytes]), prefix + 96];
  if (version === 6 && ipVersion === 4) throw new Error(`IPv6 network "${cidr}" in an IPv4 database`);
  return [bytes, prefix];
}

function bitAt(bytes: Uint8Array, index: number): 0 | 1 {
  return ((bytes[index >> 3]! >> (7 - (index & 7))) & 1) as 0 | 1;
}

function insert(root: TreeNode, bits: Uint8Array, prefix: number, record: number): void {
  let node = root;
  for (let depth = 0; depth < prefix - 1; depth++) {
    const side = bitAt(bits, depth) ? "right" : "left";
    let next = node[side];
    // Splitting a shorter network that already holds data: both halves inherit its record.
    if (!(next instanceof TreeNode)) node[side] = next = new TreeNode(next, next);
    node = next;
  }
  node[bitAt(bits, prefix - 1) ? "right" : "left"] = record;
}

/** Points ::ffff:0:0/96 and 2002::/16 at the node for ::/96, the root of the IPv4 space. */
function aliasIpv4(root: TreeNode): void {
  let ipv4Root: Child = root;
  for (let depth = 0; depth < 96 && ipv4Root instanceof TreeNode; depth++) ipv4Root = ipv4Root.left;
  if (!(ipv4Root instanceof TreeNode)) return; // no IPv4 networks
  const alias = (address: string, prefix: number): void => {
    const bits = Uint8Array.from(ipaddr.parse(address).toByteArray());
    let node = root;
    for (let depth = 0; depth < prefix - 1; depth++) {
      const side = bitAt(bits, depth) ? "right" : "left";
      const next = node[side];
      node = next instanceof TreeNode ? next : (node[side] = new TreeNode(next, next));
    }
    node[bitAt(bits, prefix - 1) ? "right" : "left"] = ipv4Root;
  };
  alias("::ffff:0:0", 96);
  alias("2002::", 16);
}

function writeNode(tree: Buffer, at: number, recordSize: 24 | 28 | 32, left: number, right: number): void {
  if (recordSize === 24) {
    tree.writeUIntBE(left, at, 3);
    tree.writeUIntBE(right, at + 3, 3);
  } else if (recordSize === 28) {
    // The high nibbles of both records share the middle byte: | left 23..0 | L27..24 R27..24 | right 23..0 |
    tree.writeUIntBE(left & 0xffffff, at, 3);
    tree[at + 3] = ((left >>> 24) << 4) | (right >>> 24);
    tree.writeUIntBE(right & 0xffffff, at + 4, 3);
  } else {
    tree.writeUInt32BE(left, at);
    tree.writeUInt32BE(right, at + 4);
  }
}

/** A GeoLite2-Country record: { country: { iso_code, names }, registered_country: { iso_code, names } }. */
function encodeCountryRecord(entry: CountryEntry): Buffer {
  if (entry.country === undefined && entry.registeredCountry === undefined) {
    throw new Error(`entry "${entry.cidr}" has neither country nor registeredCountry`);
  }
  const place = (code: string): Buffer =>
    map([
      ["iso_code", utf8(code)],
      ["names", map([["en", utf8(`Country ${code}`)]])],
    ]);
  const pairs: [string, Buffer][] = [];
  if (entry.country !== undefined) pairs.push(["country", place(entry.country)]);
  if (entry.registeredCountry !== undefined)
    pairs.push(["registered_country", place(entry.registeredCountry)]);
  return map(pairs);
}

/** Control byte(s): type in the top three bits (extended types in a second byte), then the size. */
function control(type: number, size: number): Buffer {
  const head = type <= 7 ? [type << 5] : [0, type - 7];
  if (size < 29) return Buffer.from([head[0]! | size, ...head.slice(1)]);
  const [code, base, length] = size < 285 ? [29, 29, 1] : size < 65_821 ? [30, 285, 2] : [31, 65_821, 3];
  const extra = Buffer.alloc(length);
  extra.writeUIntBE(size - base, 0, length);
  return Buffer.concat([Buffer.from([head[0]! | code, ...head.slice(1)]), extra]);
}

function utf8(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  return Buffer.concat([control(FieldType.utf8, bytes.length), bytes]);
}

/** Unsigned integers are big-endian with leading zero bytes dropped (zero has no payload at all). */
function uint(type: number, value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = BigInt(value); rest > 0n; rest >>= 8n) bytes.unshift(Number(rest & 0xffn));
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

function map(pairs: readonly (readonly [string, Buffer])[]): Buffer {
  return Buffer.concat([
    control(FieldType.map, pairs.length),
    ...pairs.flatMap(([key, value]) => [utf8(key), value]),
  ]);
}

function array(items: readonly Buffer[]): Buffer {
  return Buffer.concat([control(FieldType.array, items.length), ...items]);
}

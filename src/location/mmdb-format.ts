/**
 * The parts of the MaxMind DB format (https://maxmind.github.io/MaxMind-DB/) that this folder needs itself:
 * the metadata marker, the field type numbers, and a decoder for the metadata map.
 *
 * The geoip2-node reader keeps the parsed metadata private, but the locator must know the database's IP version
 * (an IPv4-only tree silently answers IPv6 look-ups with the record of the IPv4 address formed by their first 32
 * bits) and its type (the reader refuses country() on a City database). Decoding the metadata here also lets a
 * bad file fail at start-up with a message that says what is wrong with it, and tells its age (build_epoch).
 */

/** The metadata section starts after the last occurrence of this marker. */
export const METADATA_MARKER = Buffer.from("abcdef4d61784d696e642e636f6d", "hex"); // "\xAB\xCD\xEFMaxMind.com"
/** The spec caps the metadata section, marker included, at 128 KiB; only the file's tail need be read. */
export const METADATA_MAX_BYTES = 128 * 1024;
/** Sixteen zero bytes between the search tree and the data section. */
export const DATA_SECTION_SEPARATOR_BYTES = 16;

export const FieldType = {
  pointer: 1,
  utf8: 2,
  double: 3,
  bytes: 4,
  uint16: 5,
  uint32: 6,
  map: 7,
  int32: 8,
  uint64: 9,
  uint128: 10,
  array: 11,
  boolean: 14,
  float: 15,
} as const;

export interface MmdbMetadata {
  readonly nodeCount: number;
  readonly recordSize: 24 | 28 | 32;
  readonly ipVersion: 4 | 6;
  readonly databaseType: string;
  readonly binaryFormatMajorVersion: number;
  /**
   * When the database was built (`build_epoch`, seconds since the epoch); null when the file states
   * none (the spec requires it, but a database without it is still read: only its age is unknown).
   */
  readonly buildEpoch: number | null;
}

/** `tail` is the end of the file (at least its metadata section); `fileSize` bounds the search tree. */
export function parseMmdbMetadata(tail: Buffer, fileSize: number = tail.length): MmdbMetadata {
  const at = tail.lastIndexOf(METADATA_MARKER);
  if (at < 0) throw new Error("not a MaxMind DB file (no metadata marker)");
  const raw = decodeField(tail, at + METADATA_MARKER.length, 0).value;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error("not a MaxMind DB file (metadata is not a map)");
  }
  const meta = raw as Record<string, unknown>;
  const { node_count, record_size, ip_version, database_type, binary_format_major_version, build_epoch } =
    meta;
  if (binary_format_major_version !== 2) {
    throw new Error(`unsupported binary format major version ${String(binary_format_major_version)}`);
  }
  if (record_size !== 24 && record_size !== 28 && record_size !== 32) {
    throw new Error(`unsupported record size ${String(record_size)}`);
  }
  if (ip_version !== 4 && ip_version !== 6) throw new Error(`bad ip_version ${String(ip_version)}`);
  if (typeof node_count !== "number" || !Number.isInteger(node_count) || node_count < 1) {
    throw new Error(`bad node_count ${String(node_count)}`);
  }
  if (typeof database_type !== "string") throw new Error("database_type is missing");
  const treeBytes = (node_count * record_size) / 4;
  if (treeBytes + DATA_SECTION_SEPARATOR_BYTES > fileSize) {
    throw new Error(`truncated: the search tree alone needs ${treeBytes} bytes, the file has ${fileSize}`);
  }
  return {
    nodeCount: node_count,
    recordSize: record_size,
    ipVersion: ip_version,
    databaseType: database_type,
    binaryFormatMajorVersion: binary_format_major_version,
    buildEpoch:
      typeof build_epoch === "number" && Number.isSafeInteger(build_epoch) && build_epoch > 0
        ? build_epoch
        : null,
  };
}

interface Decoded {
  readonly value: unknown;
  readonly next: number;
}

/** Decodes one field at `offset`. Metadata never holds pointers, so they are rejected rather than followed. */
function decodeField(buf: Buffer, offset: number, depth: number): Decoded {
  if (depth > 32) throw new Error("metadata nests too deeply");
  const control = byteAt(buf, offset++);
  let type = control >> 5;
  if (type === 0) type = byteAt(buf, offset++) + 7;
  if (type === FieldType.pointer) throw new Error("unexpected pointer in metadata");
  let size = control & 0x1f;
  // Sizes 29-31 say that 1-3 more bytes follow, holding the size minus 29, 285 or 65,821.
  if (size >= 29) {
    const extra = size - 28;
    const base = [29, 285, 65_821][extra - 1] ?? 0;
    size = base + readUint(buf, offset, extra);
    offset += extra;
  }
  switch (type) {
    case FieldType.map: {
      const map: Record<string, unknown> = {};
      for (let i = 0; i < size; i++) {
        const key = decodeField(buf, offset, depth + 1);
        if (typeof key.value !== "string") throw new Error("metadata map key is not a string");
        const value = decodeField(buf, key.next, depth + 1);
        map[key.value] = value.value;
        offset = value.next;
      }
      return { value: map, next: offset };
    }
    case FieldType.array: {
      const items: unknown[] = [];
      for (let i = 0; i < size; i++) {
        const item = decodeField(buf, offset, depth + 1);
        items.push(item.value);
        offset = item.next;
      }
      return { value: items, next: offset };
    }
    case FieldType.boolean:
      return { value: size !== 0, next: offset };
  }
  if (offset + size > buf.length) throw new Error("metadata field runs past the end of the file");
  const next = offset + size;
  switch (type) {
    case FieldType.utf8:
      return { value: buf.toString("utf8", offset, next), next };
    case FieldType.uint16:
    case FieldType.uint32:
    case FieldType.uint64:
    case FieldType.uint128:
      return {
        value: size <= 6 ? readUint(buf, offset, size) : Number(readBigUint(buf, offset, size)),
        next,
      };
    case FieldType.double:
    case FieldType.float:
    case FieldType.bytes:
    case FieldType.int32:
      return { value: undefined, next }; // not used by any metadata key we read
    default:
      throw new Error(`unknown field type ${type} in metadata`);
  }
}

function byteAt(buf: Buffer, offset: number): number {
  const byte = buf[offset];
  if (byte === undefined) throw new Error("metadata runs past the end of the file");
  return byte;
}

function readUint(buf: Buffer, offset: number, length: number): number {
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + byteAt(buf, offset + i);
  return value;
}

function readBigUint(buf: Buffer, offset: number, length: number): bigint {
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(byteAt(buf, offset + i));
  return value;
}

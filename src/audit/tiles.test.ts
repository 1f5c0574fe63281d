import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_UINT64,
  TILE_HEIGHT,
  TILE_WIDTH,
  TileError,
  decodeBundle,
  decodeTile,
  encodeBundle,
  encodeTile,
  parseTilePath,
  storedHashLocation,
  tileLevels,
  tilePath,
  tileSpan,
  tilesForSize,
  type TileLevel,
  type TileRef,
} from "./tiles.js";

function expectTileError(fn: () => unknown, code: string, messagePart?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(TileError);
  expect((caught as TileError).code).toBe(code);
  if (messagePart !== undefined) expect((caught as TileError).message).toContain(messagePart);
}

const arbLevel: fc.Arbitrary<TileLevel> = fc.oneof(
  fc.integer({ min: 0, max: 63 }),
  fc.constant("entries" as const),
);
const arbIndex = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_UINT64 }),
  fc.bigInt({ min: 0n, max: 2_000_000n }),
  fc.constantFrom(0n, 999n, 1000n, 999_999n, 1_000_000n, MAX_UINT64, MAX_UINT64 - 1n),
);
const arbWidth = fc.oneof(fc.integer({ min: 1, max: 256 }), fc.constantFrom(1, 255, 256));
const arbSize = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_UINT64 }),
  fc.bigInt({ min: 0n, max: 1n << 26n }),
  fc.integer({ min: 0, max: 7 }).map((k) => 256n ** BigInt(k)),
  fc.integer({ min: 1, max: 8 }).map((k) => 256n ** BigInt(k) - 1n),
);

describe("tilePath", () => {
  it("encodes the spec's examples", () => {
    expect(tilePath({ level: 0, index: 1234067n, width: 256 })).toBe("tile/0/x001/x234/067");
    expect(tilePath({ level: 0, index: 1234067n, width: 8 })).toBe("tile/0/x001/x234/067.p/8");
    expect(tilePath({ level: 3, index: 1234067n, width: 255 })).toBe("tile/3/x001/x234/067.p/255");
    expect(tilePath({ level: "entries", index: 1234067n, width: 256 })).toBe("tile/entries/x001/x234/067");
    expect(tilePath({ level: "entries", index: 1234067n, width: 8 })).toBe("tile/entries/x001/x234/067.p/8");
  });

  it("pads every group to 3 digits and prefixes all but the last with x", () => {
    const cases: [bigint, string][] = [
      [0n, "000"],
      [5n, "005"],
      [42n, "042"],
      [999n, "999"],
      [1000n, "x001/000"],
      [1001n, "x001/001"],
      [999_999n, "x999/999"],
      [1_000_000n, "x001/x000/000"],
      [1_000_005n, "x001/x000/005"],
      [MAX_UINT64, "x018/x446/x744/x073/x709/x551/615"],
    ];
    for (const [index, n] of cases) {
      expect(tilePath({ level: 0, index, width: TILE_WIDTH })).toBe(`tile/0/${n}`);
      expect(tilePath({ level: 63, index, width: 1 })).toBe(`tile/63/${n}.p/1`);
      expect(tilePath({ level: "entries", index, width: 17 })).toBe(`tile/entries/${n}.p/17`);
    }
  });

  it("writes a full tile without .p and a partial one with its width", () => {
    expect(tilePath({ level: 1, index: 0n, width: 256 })).toBe("tile/1/000");
    expect(tilePath({ level: 1, index: 0n, width: 1 })).toBe("tile/1/000.p/1");
    expect(tilePath({ level: 1, index: 0n, width: 17 })).toBe("tile/1/000.p/17");
  });

  it("rejects out-of-range tiles", () => {
    const bad: [string, TileRef, string][] = [
      ["negative level", { level: -1, index: 0n, width: 256 }, "invalid_level"],
      ["level 64", { level: 64, index: 0n, width: 256 }, "invalid_level"],
      ["fractional level", { level: 1.5, index: 0n, width: 256 }, "invalid_level"],
      ["NaN level", { level: NaN, index: 0n, width: 256 }, "invalid_level"],
      ["unknown level name", { level: "data" as unknown as number, index: 0n, width: 256 }, "invalid_level"],
      ["negative index", { level: 0, index: -1n, width: 256 }, "invalid_index"],
      ["index above 2^64-1", { level: 0, index: MAX_UINT64 + 1n, width: 256 }, "invalid_index"],
      ["number index", { level: 0, index: 5 as unknown as bigint, width: 256 }, "invalid_index"],
      ["width 0", { level: 0, index: 0n, width: 0 }, "invalid_width"],
      ["width 257", { level: 0, index: 0n, width: 257 }, "invalid_width"],
      ["fractional width", { level: 0, index: 0n, width: 2.5 }, "invalid_width"],
    ];
    for (const [name, ref, code] of bad) {
      expect(() => tilePath(ref), name).toThrow(TileError);
      expectTileError(() => tilePath(ref), code);
    }
  });
});

describe("parseTilePath", () => {
  it("parses the spec's examples", () => {
    expect(parseTilePath("tile/0/x001/x234/067")).toEqual({ level: 0, index: 1234067n, width: 256 });
    expect(parseTilePath("tile/0/x001/x234/067.p/8")).toEqual({ level: 0, index: 1234067n, width: 8 });
    expect(parseTilePath("tile/entries/x001/x234/067.p/8")).toEqual({
      level: "entries",
      index: 1234067n,
      width: 8,
    });
    expect(parseTilePath("tile/63/005")).toEqual({ level: 63, index: 5n, width: 256 });
    expect(parseTilePath("tile/entries/000")).toEqual({ level: "entries", index: 0n, width: 256 });
    expect(parseTilePath("tile/2/x018/x446/x744/x073/x709/x551/615.p/255")).toEqual({
      level: 2,
      index: MAX_UINT64,
      width: 255,
    });
  });

  it("round-trips tilePath for any level, index up to 2^64-1 and width", () => {
    fc.assert(
      fc.property(arbLevel, arbIndex, arbWidth, (level, index, width) => {
        const path = tilePath({ level, index, width });
        expect(path).toMatch(
          /^tile\/(?:0|[1-9][0-9]?|entries)\/(?:x[0-9]{3}\/)*[0-9]{3}(?:\.p\/[1-9][0-9]{0,2})?$/,
        );
        expect(parseTilePath(path)).toEqual({ level, index, width });
        expect(tilePath(parseTilePath(path))).toBe(path);
      }),
      { numRuns: 2000 },
    );
  });

  it("encodes <N> as the index's decimal digits, left-padded to whole groups, with no zero leading group", () => {
    fc.assert(
      fc.property(arbIndex, (index) => {
        const n = tilePath({ level: 0, index, width: TILE_WIDTH }).slice("tile/0/".length);
        const groups = n.split("/");
        const digits = index.toString();
        expect(groups).toHaveLength(Math.max(1, Math.ceil(digits.length / 3)));
        expect(groups.map((g) => g.replace(/^x/, "")).join("")).toBe(digits.padStart(groups.length * 3, "0"));
        if (groups.length > 1) expect(groups[0]).not.toBe("x000");
      }),
    );
  });

  it("keeps several partial widths of one tile index apart, and apart from the full tile", () => {
    const paths = [1, 2, 100, 255, 256].map((width) => tilePath({ level: 0, index: 7n, width }));
    expect(new Set(paths).size).toBe(5);
    expect(paths.at(-1)).toBe("tile/0/007");
    for (const p of paths.slice(0, -1)) expect(p.startsWith("tile/0/007.p/")).toBe(true);
  });

  const malformed: [string, string][] = [
    ["empty string", ""],
    ["no tile prefix", "0/000"],
    ["leading slash", "/tile/0/000"],
    ["trailing slash", "tile/0/000/"],
    ["double slash", "tile/0//000"],
    ["wrong root", "tiles/0/000"],
    ["upper-case root", "Tile/0/000"],
    ["missing index", "tile/0"],
    ["missing index with slash", "tile/0/"],
    ["missing level", "tile//000"],
    ["level with leading zero", "tile/00/000"],
    ["level 01", "tile/01/000"],
    ["level 64", "tile/64/000"],
    ["level 100", "tile/100/000"],
    ["negative level", "tile/-1/000"],
    ["level with plus sign", "tile/+1/000"],
    ["level with spaces", "tile/ 1/000"],
    ["non-ascii digit level", "tile/\u0661/000"],
    ["Go-style height segment", "tile/8/0/000"],
    ["entries misspelt", "tile/entry/000"],
    ["data tile (Go sumdb)", "tile/8/data/000"],
    ["index with 1 digit", "tile/0/5"],
    ["index with 2 digits", "tile/0/05"],
    ["index with 4 digits", "tile/0/0005"],
    ["unprefixed inner group", "tile/0/001/234/067"],
    ["x on last group", "tile/0/x001/x234/x067"],
    ["x on the only group", "tile/0/x005"],
    ["short inner group", "tile/0/x1/234"],
    ["long inner group", "tile/0/x0001/234"],
    ["upper-case X", "tile/0/X001/234"],
    ["leading zero group", "tile/0/x000/005"],
    ["two leading zero groups", "tile/0/x000/x000/005"],
    ["hex digits", "tile/0/00a"],
    ["non-ascii digits", "tile/0/\u0660\u0660\u0665"],
    ["index above 2^64-1", "tile/0/x018/x446/x744/x073/x709/x551/616"],
    ["index of 8 groups", "tile/0/x001/x000/x000/x000/x000/x000/x000/000"],
    ["width 0", "tile/0/000.p/0"],
    ["width 256 written as partial", "tile/0/000.p/256"],
    ["width 257", "tile/0/000.p/257"],
    ["width 1000", "tile/0/000.p/1000"],
    ["width with leading zero", "tile/0/000.p/08"],
    ["width 000", "tile/0/000.p/000"],
    ["negative width", "tile/0/000.p/-1"],
    ["width with plus sign", "tile/0/000.p/+8"],
    ["fractional width", "tile/0/000.p/8.0"],
    ["empty width", "tile/0/000.p/"],
    [".p without width", "tile/0/000.p"],
    [".p on its own", "tile/0/.p/8"],
    [".p on an inner group", "tile/0/x001.p/8/067"],
    ["extra segment after width", "tile/0/000.p/8/1"],
    ["width then .p again", "tile/0/000.p/8.p/8"],
    ["other suffix", "tile/0/000.q/8"],
    ["file extension", "tile/0/000.gz"],
    ["query string", "tile/0/000?x=1"],
    ["trailing newline", "tile/0/000\n"],
    ["dot segment", "tile/0/./000"],
    ["dot-dot segment", "tile/0/../000"],
    ["entries with leading zero group", "tile/entries/x000/001"],
    ["entries width 256", "tile/entries/001.p/256"],
    ["entries without index", "tile/entries"],
    ["backslashes", "tile\\0\\000"],
  ];
  for (const [name, path] of malformed) {
    it(`rejects ${name}: ${JSON.stringify(path)}`, () => {
      expectTileError(() => parseTilePath(path), "invalid_path", JSON.stringify(path));
    });
  }

  it("rejects a non-string", () => {
    expectTileError(() => parseTilePath(42 as unknown as string), "invalid_path");
  });

  it("truncates a very long path in its message", () => {
    const path = `tile/0/${"x001/".repeat(10_000)}000`;
    let message = "";
    try {
      parseTilePath(path);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("invalid tile path");
    expect(message.length).toBeLessThan(400);
  });

  it("never throws anything but a TileError on arbitrary input", () => {
    const alphabet = fc.constantFrom(..."tile/entrisx0123456789.p-+ ".split(""));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 40 })), (s) => {
        try {
          const ref = parseTilePath(s);
          expect(tilePath(ref)).toBe(s); // anything accepted is canonical
        } catch (e) {
          expect(e).toBeInstanceOf(TileError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("tilesForSize", () => {
  const full = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => ({ index: BigInt(from + i), width: 256 }));

  const table: [bigint, { index: bigint; width: number }[][]][] = [
    [0n, [[], [], [], []]],
    [1n, [[{ index: 0n, width: 1 }], [], [], []]],
    [255n, [[{ index: 0n, width: 255 }], [], [], []]],
    [256n, [full(0, 1), [{ index: 0n, width: 1 }], [], []]],
    [257n, [[...full(0, 1), { index: 1n, width: 1 }], [{ index: 0n, width: 1 }], [], []]],
    [65535n, [[...full(0, 255), { index: 255n, width: 255 }], [{ index: 0n, width: 255 }], [], []]],
    [65536n, [full(0, 256), full(0, 1), [{ index: 0n, width: 1 }], []]],
    [65537n, [[...full(0, 256), { index: 256n, width: 1 }], full(0, 1), [{ index: 0n, width: 1 }], []]],
    [
      16777216n + 3n,
      [[...full(0, 65536), { index: 65536n, width: 3 }], full(0, 256), full(0, 1), [{ index: 0n, width: 1 }]],
    ],
  ];
  for (const [size, levels] of table) {
    it(`tiles a tree of size ${size} at levels 0..3`, () => {
      for (const [level, want] of levels.entries()) {
        expect(tilesForSize(level, size), `level ${level}`).toEqual(want);
      }
      expect(tilesForSize("entries", size)).toEqual(levels[0]);
      expect(tilesForSize(4, size)).toEqual([]);
    });
  }

  it("matches the spec's example of a tree of size 70,000", () => {
    // 273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile, one
    // partial level 1 tile of width 17, and one partial level 2 tile of width 1.
    expect(tilesForSize(0, 70_000n)).toEqual([...full(0, 273), { index: 273n, width: 112 }]);
    expect(tilesForSize(1, 70_000n)).toEqual([...full(0, 1), { index: 1n, width: 17 }]);
    expect(tilesForSize(2, 70_000n)).toEqual([{ index: 0n, width: 1 }]);
    expect(tilesForSize(3, 70_000n)).toEqual([]);
    expect(tileLevels(70_000n)).toBe(3);
  });

  it("holds floor(size/256^L) hashes at level L, and only full level-L tiles are hashed into L+1", () => {
    fc.assert(
      fc.property(arbSize, fc.integer({ min: 0, max: 9 }), (size, level) => {
        const here = tileSpan(level, size);
        const above = tileSpan(level + 1, size);
        const hashes = here.fullTiles * 256n + BigInt(here.partialWidth);
        expect(hashes).toBe(size / 256n ** BigInt(level));
        expect(here.partialWidth).toBe(Number((size / 256n ** BigInt(level)) % 256n));
        // Level L+1 holds one hash per FULL level-L tile: the partial one is never hashed up.
        expect(above.fullTiles * 256n + BigInt(above.partialWidth)).toBe(here.fullTiles);
      }),
      { numRuns: 2000 },
    );
  });

  it("lists full tiles in order then at most one partial tile, agreeing with tileSpan", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 20n }), fc.integer({ min: 0, max: 3 }), (size, level) => {
        const tiles = tilesForSize(level, size);
        const span = tileSpan(level, size);
        expect(tiles.length).toBe(Number(span.fullTiles) + (span.partialWidth > 0 ? 1 : 0));
        for (const [i, t] of tiles.entries()) {
          expect(t.index).toBe(BigInt(i));
          if (i < tiles.length - 1 || span.partialWidth === 0) expect(t.width).toBe(256);
          else expect(t.width).toBe(span.partialWidth);
          expect(t.width).toBeGreaterThanOrEqual(1);
        }
      }),
    );
  });

  it("refuses to list more tiles than an array holds, but tileSpan answers", () => {
    expectTileError(() => tilesForSize(0, MAX_UINT64), "too_many_tiles");
    expect(tileSpan(0, MAX_UINT64)).toEqual({ fullTiles: (1n << 56n) - 1n, partialWidth: 255 });
    expect(tileSpan(7, MAX_UINT64)).toEqual({ fullTiles: 0n, partialWidth: 255 });
    expect(tileSpan(8, MAX_UINT64)).toEqual({ fullTiles: 0n, partialWidth: 0 });
    expect(tilesForSize(6, MAX_UINT64)).toEqual([...full(0, 255), { index: 255n, width: 255 }]);
  });

  it("rejects bad levels and sizes", () => {
    expectTileError(() => tilesForSize(-1, 1n), "invalid_level");
    expectTileError(() => tilesForSize(64, 1n), "invalid_level");
    expectTileError(() => tilesForSize(0.5, 1n), "invalid_level");
    expectTileError(() => tilesForSize(0, -1n), "invalid_size");
    expectTileError(() => tilesForSize(0, MAX_UINT64 + 1n), "invalid_size");
    expectTileError(() => tilesForSize(0, 1 as unknown as bigint), "invalid_size");
  });
});

describe("tileLevels", () => {
  it("counts the levels that hold anything", () => {
    const cases: [bigint, number][] = [
      [0n, 0],
      [1n, 1],
      [255n, 1],
      [256n, 2],
      [257n, 2],
      [65535n, 2],
      [65536n, 3],
      [65537n, 3],
      [16777215n, 3],
      [16777216n + 3n, 4],
      [MAX_UINT64, 8],
    ];
    for (const [size, levels] of cases) expect(tileLevels(size), `size ${size}`).toBe(levels);
  });

  it("agrees with tileSpan: levels below hold something, levels from it on hold nothing", () => {
    fc.assert(
      fc.property(arbSize, (size) => {
        const levels = tileLevels(size);
        for (let l = 0; l <= 9; l++) {
          const { fullTiles, partialWidth } = tileSpan(l, size);
          expect(fullTiles > 0n || partialWidth > 0).toBe(l < levels);
        }
      }),
    );
  });

  it("rejects bad sizes", () => {
    expectTileError(() => tileLevels(-1n), "invalid_size");
    expectTileError(() => tileLevels(MAX_UINT64 + 1n), "invalid_size");
  });
});

describe("storedHashLocation", () => {
  it("finds leaf hashes and level-8k subtree hashes", () => {
    expect(storedHashLocation(0, 0n)).toEqual({ tileLevel: 0, tileIndex: 0n, offset: 0 });
    expect(storedHashLocation(0, 255n)).toEqual({ tileLevel: 0, tileIndex: 0n, offset: 255 });
    expect(storedHashLocation(0, 256n)).toEqual({ tileLevel: 0, tileIndex: 1n, offset: 0 });
    expect(storedHashLocation(0, 1234067n)).toEqual({ tileLevel: 0, tileIndex: 4820n, offset: 147 });
    expect(storedHashLocation(8, 0n)).toEqual({ tileLevel: 1, tileIndex: 0n, offset: 0 });
    expect(storedHashLocation(8, 17n)).toEqual({ tileLevel: 1, tileIndex: 0n, offset: 17 });
    expect(storedHashLocation(16, 65536n + 3n)).toEqual({ tileLevel: 2, tileIndex: 256n, offset: 3 });
    expect(storedHashLocation(504, 0n)).toEqual({ tileLevel: 63, tileIndex: 0n, offset: 0 });
    expect(storedHashLocation(0, MAX_UINT64)).toEqual({
      tileLevel: 0,
      tileIndex: (1n << 56n) - 1n,
      offset: 255,
    });
  });

  it("returns null for levels tiles do not store", () => {
    for (const level of [1, 2, 3, 4, 5, 6, 7, 9, 15, 17, 63, 511]) {
      expect(storedHashLocation(level, 0n), `level ${level}`).toBeNull();
      expect(storedHashLocation(level, 12345n), `level ${level}`).toBeNull();
    }
  });

  it("points at a tile hash covering exactly the subtree's entries (spec formula)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.bigInt({ min: 0n, max: 1n << 40n }),
        (tileLevel, index) => {
          const loc = storedHashLocation(tileLevel * TILE_HEIGHT, index);
          expect(loc).not.toBeNull();
          if (loc === null) return;
          expect(loc.tileLevel).toBe(tileLevel);
          // Tile n at level l, hash i: MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]).
          const span = 256n ** BigInt(tileLevel);
          const start = (loc.tileIndex * 256n + BigInt(loc.offset)) * span;
          expect(start).toBe(index << BigInt(tileLevel * TILE_HEIGHT));
          expect(start + span).toBe((index + 1n) << BigInt(tileLevel * TILE_HEIGHT));
        },
      ),
    );
  });

  it("lands inside a published tile of any tree containing the subtree", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 1n << 40n }),
        fc.integer({ min: 0, max: 4 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (size, tileLevel, frac) => {
          const subtrees = size >> BigInt(tileLevel * TILE_HEIGHT); // complete subtrees at level 8L
          fc.pre(subtrees > 0n);
          const index = BigInt(Math.floor(frac * Number(subtrees - 1n)));
          const loc = storedHashLocation(tileLevel * TILE_HEIGHT, index);
          if (loc === null) throw new Error("unreachable");
          const { fullTiles, partialWidth } = tileSpan(tileLevel, size);
          if (loc.tileIndex < fullTiles) return;
          expect(loc.tileIndex).toBe(fullTiles);
          expect(loc.offset).toBeLessThan(partialWidth);
        },
      ),
    );
  });

  it("rejects bad levels and indices", () => {
    expectTileError(() => storedHashLocation(-1, 0n), "invalid_level");
    expectTileError(() => storedHashLocation(512, 0n), "invalid_level");
    expectTileError(() => storedHashLocation(8.5, 0n), "invalid_level");
    expectTileError(() => storedHashLocation(0, -1n), "invalid_index");
    expectTileError(() => storedHashLocation(0, MAX_UINT64 + 1n), "invalid_index");
  });
});

describe("hash tiles", () => {
  const hash = (i: number) => Buffer.alloc(32, i);

  it("concatenates 32-byte hashes and splits them back", () => {
    for (const width of [1, 2, 17, 255, 256]) {
      const hashes = Array.from({ length: width }, (_, i) => hash(i));
      const data = encodeTile(hashes);
      expect(data).toHaveLength(width * 32);
      expect(data.subarray(32 * (width - 1))).toEqual(hash(width - 1));
      expect(decodeTile(data, width)).toEqual(hashes);
    }
  });

  it("decodes into copies, not views of the input", () => {
    const data = encodeTile([hash(1), hash(2)]);
    const [first] = decodeTile(data, 2);
    data.fill(0);
    expect(first).toEqual(hash(1));
  });

  it("rejects a tile whose length is not width * 32", () => {
    const data = encodeTile([hash(1), hash(2)]);
    expectTileError(() => decodeTile(data, 1), "tile_length");
    expectTileError(() => decodeTile(data, 3), "tile_length");
    expectTileError(() => decodeTile(data.subarray(1), 2), "tile_length");
    expectTileError(() => decodeTile(Buffer.concat([data, Buffer.alloc(1)]), 2), "tile_length");
    expectTileError(() => decodeTile(new Uint8Array(0), 1), "tile_length");
    expectTileError(() => decodeTile(data, 0), "invalid_width");
    expectTileError(() => decodeTile(new Uint8Array(257 * 32), 257), "invalid_width");
    expectTileError(() => decodeTile("x" as unknown as Uint8Array, 1), "invalid_data");
  });

  it("refuses to encode an empty or too wide tile, or a hash that is not 32 bytes", () => {
    expectTileError(() => encodeTile([]), "invalid_width");
    expectTileError(() => encodeTile(Array.from({ length: 257 }, () => hash(0))), "invalid_width");
    expectTileError(() => encodeTile([hash(0), Buffer.alloc(31)]), "invalid_hash", "tile hash 1");
    expectTileError(() => encodeTile([Buffer.alloc(33)]), "invalid_hash");
  });
});

describe("entry bundles", () => {
  it("writes each entry as a big-endian uint16 length then its bytes", () => {
    const data = encodeBundle([Buffer.from("ab"), new Uint8Array(0), Buffer.alloc(0x0102, 7)]);
    expect(data.subarray(0, 6)).toEqual(Buffer.from([0x00, 0x02, 0x61, 0x62, 0x00, 0x00]));
    expect(data.subarray(6, 8)).toEqual(Buffer.from([0x01, 0x02]));
    expect(data).toHaveLength(6 + 2 + 0x0102);
  });

  it("round-trips, including empty entries, a 65535-byte entry and a full bundle", () => {
    const big = Buffer.alloc(65535, 0xab);
    const cases: Uint8Array[][] = [
      [new Uint8Array(0)],
      [Buffer.from("x")],
      [new Uint8Array(0), new Uint8Array(0), Buffer.from("between"), new Uint8Array(0)],
      [big],
      [Buffer.from("a"), big, new Uint8Array(0)],
      Array.from({ length: 256 }, (_, i) => Buffer.from(`entry ${i}`)),
    ];
    for (const entries of cases) {
      const data = encodeBundle(entries);
      const want = entries.map((e) => Buffer.from(e));
      expect(decodeBundle(data)).toEqual(want);
      expect(decodeBundle(data, entries.length)).toEqual(want);
    }
    expect(encodeBundle([big])).toHaveLength(65537);
    expect(encodeBundle([big]).readUInt16BE(0)).toBe(0xffff);
  });

  it("round-trips arbitrary bundles", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 256 }),
        (entries) => {
          const want = entries.map((e) => Buffer.from(e));
          expect(decodeBundle(encodeBundle(entries))).toEqual(want);
          expect(decodeBundle(encodeBundle(entries), entries.length)).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses to encode an entry over 65535 bytes, or an empty or over-full bundle", () => {
    expectTileError(() => encodeBundle([Buffer.alloc(65536)]), "entry_too_large", "65536");
    expectTileError(
      () => encodeBundle([Buffer.from("a"), Buffer.alloc(70000)]),
      "entry_too_large",
      "entry 1",
    );
    expectTileError(() => encodeBundle([]), "invalid_width");
    expectTileError(
      () => encodeBundle(Array.from({ length: 257 }, () => new Uint8Array(0))),
      "invalid_width",
    );
    expectTileError(() => encodeBundle(["a" as unknown as Uint8Array]), "invalid_data");
  });

  const good = encodeBundle([Buffer.from("abc"), Buffer.from("de")]); // 00 03 a b c 00 02 d e
  const decodeErrors: [string, Uint8Array, number | undefined, string][] = [
    ["truncated inside the first length", good.subarray(0, 1), undefined, "bundle_truncated"],
    ["truncated inside the first entry", good.subarray(0, 4), undefined, "bundle_truncated"],
    ["truncated inside the second length", good.subarray(0, 6), undefined, "bundle_truncated"],
    ["truncated inside the second entry", good.subarray(0, 8), 2, "bundle_truncated"],
    ["a length running past the end", Buffer.from([0xff, 0xff, 1, 2, 3]), undefined, "bundle_truncated"],
    ["one trailing byte", Buffer.concat([good, Buffer.from([0])]), 2, "bundle_trailing_bytes"],
    ["a trailing entry", Buffer.concat([good, Buffer.from([0, 0])]), 2, "bundle_trailing_bytes"],
    ["bytes after the expected first entry", good, 1, "bundle_trailing_bytes"],
    ["fewer entries than expected", good, 3, "bundle_count_mismatch"],
    ["an empty bundle", new Uint8Array(0), undefined, "bundle_count_mismatch"],
    ["an empty bundle with a count", new Uint8Array(0), 1, "bundle_count_mismatch"],
    ["257 entries", new Uint8Array(257 * 2), undefined, "bundle_count_mismatch"],
    ["expected count 0", good, 0, "invalid_width"],
    ["expected count 257", good, 257, "invalid_width"],
  ];
  for (const [name, data, count, code] of decodeErrors) {
    it(`rejects ${name}`, () => {
      expectTileError(() => decodeBundle(data, count), code);
    });
  }

  it("accepts 256 empty entries but not 257", () => {
    expect(decodeBundle(new Uint8Array(256 * 2))).toHaveLength(256);
    expect(decodeBundle(new Uint8Array(256 * 2), 256)).toHaveLength(256);
  });

  it("decodes into copies, not views of the input", () => {
    const data = encodeBundle([Buffer.from("abc")]);
    const [entry] = decodeBundle(data);
    data.fill(0);
    expect(entry).toEqual(Buffer.from("abc"));
  });

  it("rejects non-bytes", () => {
    expectTileError(() => decodeBundle("abc" as unknown as Uint8Array), "invalid_data");
  });
});

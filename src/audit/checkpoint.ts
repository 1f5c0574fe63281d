/**
 * Transparency-log checkpoints (c2sp.org/tlog-checkpoint): a signed note whose text is
 *
 *   <origin>\n
 *   <tree size, decimal, no leading zeros>\n
 *   <base64 of the 32-byte RFC 6962 root hash>\n
 *   [<extension line>\n ...]
 *
 * Every line is non-empty. Parsing is strict: anything formatCheckpoint would not produce is rejected.
 */
import { decodeBase64Strict, openNote, signNote } from "./note.js";
import type { NoteSigner, NoteVerifier, OpenedNote } from "./note.js";
import { quoted } from "../policy/text.js";

export interface Checkpoint {
  origin: string;
  /** Number of leaves, 0 ≤ size ≤ 2^64 − 1. */
  size: bigint;
  /** RFC 6962 Merkle tree root, 32 bytes. */
  root: Buffer;
  /** Optional extension lines (opaque, non-empty, without the final newline). */
  extensions: string[];
}

export type CheckpointErrorCode =
  /** parseCheckpoint: the text is not a checkpoint. */
  | "malformed-checkpoint"
  /** formatCheckpoint: the value cannot be written as a checkpoint. */
  | "invalid-checkpoint"
  /** openCheckpoint: the origin line is not the expected one. */
  | "origin-mismatch";

export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  constructor(code: CheckpointErrorCode, message: string) {
    super(message);
    this.name = "CheckpointError";
    this.code = code;
  }
}

export const MAX_TREE_SIZE = 2n ** 64n - 1n;
const ROOT_BYTES = 32;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** A reason the line cannot appear in a checkpoint, or undefined. */
function badLine(line: string): string | undefined {
  if (line === "") return "is empty";
  if (LONE_SURROGATE.test(line)) return "is not valid UTF-8";
  for (let i = 0; i < line.length; i++) {
    // No ASCII control characters inside a line, newline included.
    if (line.charCodeAt(i) < 0x20) return "contains a control character";
  }
  return undefined;
}

/** The checkpoint's note text; throws CheckpointError("invalid-checkpoint") if `c` is not representable. */
export function formatCheckpoint(c: Checkpoint): string {
  const invalid = (message: string): CheckpointError =>
    new CheckpointError("invalid-checkpoint", `invalid checkpoint: ${message}`);
  const originProblem = badLine(c.origin);
  if (originProblem !== undefined) throw invalid(`origin ${originProblem}`);
  if (typeof c.size !== "bigint" || c.size < 0n || c.size > MAX_TREE_SIZE) {
    throw invalid("tree size must be a bigint between 0 and 2^64-1");
  }
  if (!Buffer.isBuffer(c.root) || c.root.length !== ROOT_BYTES) {
    throw invalid(`root hash must be ${ROOT_BYTES} bytes`);
  }
  let out = `${c.origin}\n${c.size.toString(10)}\n${c.root.toString("base64")}\n`;
  c.extensions.forEach((ext, i) => {
    const problem = badLine(ext);
    if (problem !== undefined) throw invalid(`extension line ${i + 1} ${problem}`);
    out += `${ext}\n`;
  });
  return out;
}

/** Parses a checkpoint note text (the text only, without signatures); strict. */
export function parseCheckpoint(text: string): Checkpoint {
  const malformed = (message: string): CheckpointError =>
    new CheckpointError("malformed-checkpoint", `malformed checkpoint: ${message}`);
  if (!text.endsWith("\n")) throw malformed("text must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) {
    throw malformed(`want at least 3 lines (origin, tree size, root hash), got ${lines.length}`);
  }
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];

  const originProblem = badLine(origin);
  if (originProblem !== undefined) throw malformed(`origin ${originProblem}`);

  if (sizeLine === "") throw malformed("tree size is empty");
  if (!DECIMAL.test(sizeLine)) {
    if (/^[0-9]+$/.test(sizeLine)) throw malformed("tree size has leading zeros");
    if (/^-[0-9]+$/.test(sizeLine)) throw malformed("tree size is negative");
    throw malformed("tree size is not a non-negative decimal integer");
  }
  if (sizeLine.length > 20 || BigInt(sizeLine) > MAX_TREE_SIZE) throw malformed("tree size exceeds 2^64-1");
  const size = BigInt(sizeLine);

  if (rootLine === "") throw malformed("root hash is empty");
  const root = decodeBase64Strict(rootLine);
  if (root === undefined) throw malformed("root hash is not valid standard base64");
  if (root.length !== ROOT_BYTES) throw malformed(`root hash is ${root.length} bytes, want ${ROOT_BYTES}`);

  extensions.forEach((ext, i) => {
    const problem = badLine(ext);
    if (problem !== undefined) throw malformed(`extension line ${i + 1} ${problem}`);
  });
  return { origin, size, root, extensions };
}

/** Formats and signs a checkpoint. (The spec recommends the signer's key name equal the origin.) */
export function signCheckpoint(c: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(c), signer);
}

/**
 * Opens a signed checkpoint: the note must carry a valid signature by `verifier` (NoteError otherwise;
 * other keys' signatures are ignored), its text must be a checkpoint (CheckpointError
 * "malformed-checkpoint"), and, if given, its origin must equal `expectedOrigin` ("origin-mismatch").
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifier: NoteVerifier,
  expectedOrigin?: string,
): { checkpoint: Checkpoint; note: OpenedNote } {
  const opened = openNote(note, [verifier]);
  const checkpoint = parseCheckpoint(opened.text);
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    throw new CheckpointError(
      "origin-mismatch",
      `checkpoint origin ${quoted(checkpoint.origin)} is not the expected ${quoted(expectedOrigin)}`,
    );
  }
  return { checkpoint, note: opened };
}

/**
 * Files read whole, but only so far: what the CLI and the YAML loader read from paths a person
 * names, which may be a pipe (read as its writer writes) or a device that never ends.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** "10 MiB": a byte limit as messages say it. */
export const sizeText = (bytes: number): string =>
  bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes >= 1024 && bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${bytes} bytes`;

/** What fs's errors mean to someone who named a file. */
const WHY: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  ENOTDIR: "no such file (a part of the path is not a directory)",
  EISDIR: "is a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the name is too long",
};

/**
 * Why a named file could not be read, in words (`no such file`, `is a directory`) rather than fs's
 * (`ENOENT: no such file or directory, open '/x.yaml'`, which repeats the path); fs's message for
 * anything else.
 */
export function unreadableWhy(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return WHY[e.code ?? ""] ?? e.message;
}

/**
 * A file's bytes, at most `maxBytes`; null when it holds more. A pipe (`--file <(jq …)`, a FIFO) is
 * read as its writer writes, as `cat` would; a device that never ends (/dev/zero), read whole, held
 * the CLI until memory ran out. A regular file larger than the bound is refused unread.
 * Throws as fs does (a missing file, a directory).
 */
export function readFileBounded(path: string, maxBytes: number): Buffer | null {
  const fd = openSync(path, "r");
  try {
    // Just opened, at its start: a regular file's size is what is left to read.
    if (fstatSync(fd).isFile() && fstatSync(fd).size > maxBytes) return null;
    return readFdBounded(fd, maxBytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * An open file's bytes from where it stands, at most `maxBytes`; null when it holds more. As
 * readFileBounded, for a descriptor already open: standard input (fd 0), which may be a pipe, a
 * terminal or a device as well as a file, read from where the shell left it. The descriptor is
 * left open.
 */
export function readFdBounded(fd: number, maxBytes: number): Buffer | null {
  // No check of a regular file's size here: an inherited descriptor may stand past its start.
  const chunks: Buffer[] = [];
  let length = 0;
  for (;;) {
    const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length));
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) return Buffer.concat(chunks, length);
    chunks.push(chunk.subarray(0, n));
    length += n;
    if (length > maxBytes) return null;
  }
}

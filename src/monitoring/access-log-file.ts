/**
 * The access log's file, opened without waiting for a reader. A plain open for writing of a FIFO
 * blocks until some process opens it for reading, and blocks a thread of libuv's pool of four
 * meanwhile (file system calls, DNS lookups and key derivation share them): a SIGHUP onto a FIFO
 * whose reader was not running waited for ever, each further SIGHUP holding one more thread. The
 * file is first opened with O_NONBLOCK: a FIFO nothing reads fails at once (ENXIO), as any file
 * that cannot be opened, its lines dropped and counted until a reader comes. A FIFO that is open is
 * written through the event loop as Node writes a pipe to stdout, so a reader that stops reading
 * holds no thread either.
 *
 * Anything else is written as before, by libuv's threads, and so must not be non-blocking: a
 * terminal (`destination: /dev/stdout` run interactively, `docker run -t`) whose reader is slower
 * than the log failed its writes with EAGAIN, each failure dropping a chunk of lines and opening
 * the file again (1,900 lines of 2,000 lost to a terminal read at 800 KB/s). A character device is
 * opened again without O_NONBLOCK, through the descriptor already open where the system offers one
 * (/proc/self/fd on Linux: the same device, whatever the name now points to) — an open that cannot
 * block, as it is no FIFO. A regular file keeps its descriptor (O_NONBLOCK changes nothing for
 * one, and a second open by name could find the file a rotator had put in its place).
 */
import { close, constants, createWriteStream, existsSync, fstat, open, stat, type Stats } from "node:fs";
import { Socket } from "node:net";
import { Writable, finished } from "node:stream";

/** O_NOCTTY: a terminal opened by name never becomes the gateway's controlling terminal. */
const WRITING = constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY;
const FLAGS = WRITING | constants.O_CREAT | constants.O_NONBLOCK;

/** Where an open descriptor can be opened again (Linux), if this system has it. */
const OPEN_FDS = existsSync("/proc/self/fd") ? "/proc/self/fd" : null;

/**
 * A stream appending to `path`, created at once and opened in the background: it emits `open` once
 * the file is open, `error` when it cannot be (lines written meanwhile are held, then written or
 * failed with it), as `fs.createWriteStream` does.
 */
export function openLogFile(path: string, mode: number): Writable {
  let inner: Writable | null = null;
  /** The callback of the chunk handed to `inner` and not yet written. */
  let inFlight: ((err?: Error | null) => void) | null = null;
  const out: Writable = new Writable({
    construct(callback) {
      open(path, FLAGS, mode, (err, fd) => {
        if (err !== null) return void explain(path, err).then(callback);
        fstat(fd, (statErr, st) => {
          if (statErr !== null) return void close(fd, () => callback(statErr));
          blocking(path, fd, st, (blockErr, writeFd) => {
            if (blockErr !== null) return void callback(blockErr);
            try {
              inner = st.isFIFO()
                ? new Socket({ fd: writeFd, readable: false, writable: true })
                : createWriteStream(path, { fd: writeFd });
            } catch (cause) {
              return void close(writeFd, () => callback(cause as Error));
            }
            // A reader gone (EPIPE) or a write refused fails this stream too: the log opens the
            // file again at its next chunk.
            inner.on("error", (e) => out.destroy(e));
            out.emit("open", writeFd);
            callback();
          });
        });
      });
    },
    write(chunk: Buffer, encoding, callback) {
      inFlight = callback;
      (inner as Writable).write(chunk, encoding, (err) => {
        if (inFlight !== callback) return;
        inFlight = null;
        callback(err);
      });
    },
    final(callback) {
      const file = inner as Writable;
      finished(file, (err) => callback(err ?? null));
      file.end();
    },
    destroy(err, callback) {
      inner?.destroy();
      callback(err);
      // The chunk under way is failed now, as the ones waiting behind it are: a destroyed socket
      // settles its write only later, and as written (Node), though the pipe took part of it at most.
      const unsettled = inFlight;
      inFlight = null;
      unsettled?.(err ?? new Error("the access log's file was closed before this chunk was written"));
    },
  });
  return out;
}

/**
 * The descriptor to write `fd`'s file with: itself for a FIFO (written through the event loop) and a
 * regular file; for anything else (a terminal, /dev/null) the same file opened again without
 * O_NONBLOCK, `fd` closed.
 */
function blocking(
  path: string,
  fd: number,
  st: Stats,
  callback: (err: Error | null, fd: number) => void,
): void {
  if (st.isFIFO() || st.isFile()) return callback(null, fd);
  open(OPEN_FDS === null ? path : `${OPEN_FDS}/${fd}`, WRITING, (err, again) =>
    close(fd, () => callback(err, again)),
  );
}

/** An open's failure, said plainly when the code alone would puzzle (ENXIO: "no such device"). */
async function explain(path: string, err: NodeJS.ErrnoException): Promise<NodeJS.ErrnoException> {
  if (err.code !== "ENXIO") return err;
  const kind = await new Promise<string | null>((resolve) =>
    stat(path, (e, st) =>
      resolve(
        e !== null
          ? null
          : st.isFIFO()
            ? "a FIFO no process has open for reading: its lines are dropped until its reader opens it"
            : st.isSocket()
              ? "a socket, which cannot be opened as a file — as /dev/stdout is when the gateway's standard output is one, under systemd's journal: for the gateway's own standard output, write `destination: stdout`"
              : null,
      ),
    ),
  );
  if (kind === null) return err;
  return Object.assign(new Error(`${err.message} (${kind})`, { cause: err }), { code: err.code });
}

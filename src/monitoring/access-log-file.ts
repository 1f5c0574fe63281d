/**
 * The access log's file, opened without waiting for a reader. A plain open for writing of a FIFO
 * blocks until some process opens it for reading, and blocks a thread of libuv's pool of four
 * meanwhile (file system calls, DNS lookups and key derivation share them): a SIGHUP onto a FIFO
 * whose reader was not running waited for ever, each further SIGHUP holding one more thread. The
 * file is opened with O_NONBLOCK: a FIFO nothing reads fails at once (ENXIO), as any file that
 * cannot be opened, its lines dropped and counted until a reader comes. A FIFO (or socket) that is
 * open is written through the event loop as Node writes a pipe to stdout, so a reader that stops
 * reading holds no thread either; a regular file or a device is written as before (O_NONBLOCK
 * changes nothing for regular files).
 */
import { close, constants, createWriteStream, fstat, open, stat } from "node:fs";
import { Socket } from "node:net";
import { Writable, finished } from "node:stream";

const FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;

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
          try {
            inner =
              st.isFIFO() || st.isSocket()
                ? new Socket({ fd, readable: false, writable: true })
                : createWriteStream(path, { fd });
          } catch (cause) {
            return void close(fd, () => callback(cause as Error));
          }
          // A reader gone (EPIPE) or a write refused fails this stream too: the log opens the file
          // again at its next chunk.
          inner.on("error", (e) => out.destroy(e));
          out.emit("open", fd);
          callback();
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
              ? "a socket file, which cannot be written as a file"
              : null,
      ),
    ),
  );
  if (kind === null) return err;
  return Object.assign(new Error(`${err.message} (${kind})`, { cause: err }), { code: err.code });
}

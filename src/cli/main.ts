#!/usr/bin/env node
import { processIo, watchOutput } from "./io.js";
import { run } from "./program.js";

// A reader that leaves early (`clearance … | head -1`) or a full disk: said, never a stack trace.
const output = watchOutput();
run(process.argv.slice(2), processIo).then(
  (code) => {
    process.exitCode = code === 0 && output.failed() ? 1 : code;
  },
  (err: unknown) => {
    process.stderr.write(`clearance: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    // Exit now: a half-started gateway may hold connections and timers that would keep us alive.
    process.exit(70);
  },
);

#!/usr/bin/env node
import { processIo } from "./io.js";
import { run } from "./program.js";

run(process.argv.slice(2), processIo).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`clearance: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    // Exit now: a half-started gateway may hold connections and timers that would keep us alive.
    process.exit(70);
  },
);

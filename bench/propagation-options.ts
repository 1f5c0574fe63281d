/**
 * The command-line options of `npm run bench:propagation` (what each one does is described at the
 * top of bench/propagation.ts) and their parsing.
 */

export interface Options {
  samples: number;
  otherSamples: number;
  pollers: number;
  poll: "models" | "chat";
  pauseMs: number;
  timeoutMs: number;
  refreshMs: number | undefined;
}

const USAGE =
  "usage: bench:propagation [-- --samples N] [--other-samples M] [--pollers P] [--poll models|chat] " +
  "[--pause-ms MS] [--timeout-ms MS] [--refresh-ms MS]";

export function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    samples: 100,
    otherSamples: 25,
    pollers: 4,
    poll: "models",
    pauseMs: 250,
    timeoutMs: 10_000,
    refreshMs: undefined,
  };
  const ints: Record<string, [keyof Options, number]> = {
    samples: ["samples", 1],
    "other-samples": ["otherSamples", 0],
    pollers: ["pollers", 1],
    "pause-ms": ["pauseMs", 0],
    "timeout-ms": ["timeoutMs", 100],
    "refresh-ms": ["refreshMs", 1],
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]!);
    const name = m?.[1];
    if (m === null || name === undefined || (name !== "poll" && !(name in ints)))
      throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
    if (name === "poll") {
      if (value !== "models" && value !== "chat") throw new Error(`--poll models|chat\n${USAGE}`);
      o.poll = value;
      continue;
    }
    const [key, min] = ints[name]!;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    (o as unknown as Record<string, number>)[key] = n;
  }
  return o;
}

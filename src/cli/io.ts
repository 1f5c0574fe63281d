/** The CLI's contact with the outside, injectable so tests run commands in-process. */
import { readFileSync } from "node:fs";
import { InvalidInputError } from "../errors/index.js";

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whole standard input, read on demand (for `-`). */
  readonly stdin: () => string;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: () => readFileSync(0, "utf8"),
};

/** Reads a JSON file (or stdin for `-`); a missing file or bad JSON is invalid input naming the file. */
export function readJsonArg(io: Io, path: string, what: string): unknown {
  const file = path === "-" ? "(stdin)" : path;
  let text: string;
  try {
    text = path === "-" ? io.stdin() : readFileSync(path, "utf8");
  } catch (cause) {
    throw new InvalidInputError([
      {
        code: "file_unreadable",
        path: [],
        file,
        message: `cannot read ${what}: ${(cause as Error).message}`,
      },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new InvalidInputError([
      {
        code: "invalid_json",
        path: [],
        file,
        message: `${what} is not valid JSON: ${(cause as Error).message}`,
      },
    ]);
  }
}

/**
 * How a command's end is said, in one place for local verbs (--data-dir) and their remote twins
 * (the admin API), so that the same input gives the same words and exit code either way:
 *
 * - invalid input (a local file, a flag, the server's 400): its problems, one a line, as
 *   `file:line:column: path: message`; exit 2
 * - a refusal (by Clearance locally, by the server remotely): `clearance: <message> (<code>)`; exit 1
 */
import {
  ClearanceError,
  InvalidInputError,
  SetupError,
  formatProblem,
  type Problem,
} from "../errors/index.js";
import { RemoteError } from "./commands/remote-client.js";
import { cellText } from "./io.js";
import { EXIT_INVALID, EXIT_REFUSED } from "./outcome.js";

export interface Rendered {
  readonly text: string;
  readonly exitCode: number;
}

/** The error's words and exit code; null for what is not the CLI's to say (a bug: a stack trace). */
export function renderError(err: unknown): Rendered | null {
  if (err instanceof InvalidInputError) return invalid(err.problems, err.message);
  if (err instanceof SetupError) return { text: `clearance: ${err.message}\n`, exitCode: EXIT_INVALID };
  if (err instanceof RemoteError) {
    const { code, message, problems } = err;
    return err.status === 400 ? invalid(problems, message, code) : refused(code, message, problems);
  }
  if (err instanceof ClearanceError) {
    const { code, message, problems } = err;
    return err.kind === "invalid" ? invalid(problems, message, code) : refused(code, message, problems);
  }
  return cannotListen(err);
}

const LISTEN_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: "the port is in use (another gateway or program holds it): stop it, or choose another --port",
  EACCES: "permission denied (a port below 1024 needs privileges): choose another --port",
  EADDRNOTAVAIL: "the address is not this machine's: check --host (or the config's listen.host)",
};

/** A server that could not take its address (`serve`, `demo`): a refusal by the system, exit 1. */
function cannotListen(err: unknown): Rendered | null {
  const e = err as NodeJS.ErrnoException & { address?: unknown; port?: unknown };
  if (!(err instanceof Error) || e.syscall !== "listen" || typeof e.code !== "string") return null;
  const where = typeof e.port === "number" ? `${String(e.address)}:${e.port}` : String(e.address);
  const why = LISTEN_FAILURES[e.code] ?? e.message;
  return { text: `clearance: cannot listen on ${where}: ${why} (${e.code})\n`, exitCode: EXIT_REFUSED };
}

/** Bad input: each problem as a local file's would be; only the message when there are none. */
function invalid(problems: readonly Problem[], message: string, code?: string): Rendered {
  const text =
    problems.length > 0
      ? problems.map(formatProblem).join("\n")
      : `clearance: ${message}${code === undefined ? "" : ` (${code})`}`;
  return { text: `${text}\n`, exitCode: EXIT_INVALID };
}

/** A refusal: its message and code, then any problem the message does not already say. */
function refused(code: string, message: string, problems: readonly Problem[]): Rendered {
  const more = problems.filter((p) => !message.includes(p.message)).map((p) => `  ${formatProblem(p)}`);
  return { text: `${[`clearance: ${message} (${code})`, ...more].join("\n")}\n`, exitCode: EXIT_REFUSED };
}

/** A principal stored: `created` when the store says whether it was new (the admin API does not). */
export const principalSaved = (id: string, created?: boolean): string =>
  `saved principal ${cellText(id)}${created === undefined ? "" : created ? " (new)" : " (replaced)"}\n`;

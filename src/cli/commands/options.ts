import { HOST_PROBLEM } from "../../config/schema.js";
import { InvalidInputError } from "../../errors/index.js";
import { quoted } from "../../policy/text.js";

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidInputError([
      { code: "usage", path: [], message: `--port: expected 0–65535, got ${quoted(value)}` },
    ]);
  }
  return port;
}

/** An address to bind: Node binds an empty one on every interface. */
export function parseHost(value: string): string {
  if (!/^\S+$/.test(value)) {
    throw new InvalidInputError([{ code: "usage", path: [], message: `--host: ${HOST_PROBLEM}` }]);
  }
  return value;
}

/**
 * Scheme and config files named by a flag (`--scheme`, `--config`, `--active`). Read by the YAML
 * loader, a missing one was said as fs says it ("/x.yaml: ENOENT: no such file or directory, open
 * '/x.yaml'"), naming no flag, and a default (`serve` reads clearance.yaml) not at all. Read here, a
 * file that cannot be read is usage naming the flag and the path; its content is checked as ever
 * (file, line and column).
 */
import { parseConfig, type GatewayConfig } from "../config/index.js";
import { InvalidInputError } from "../errors/index.js";
import { readFileBounded, sizeText, unreadableWhy } from "../files/bounded.js";
import { plainOrQuoted } from "../policy/text.js";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import { MAX_YAML_FILE_BYTES } from "../yaml/index.js";

/** The file's text, at most MAX_YAML_FILE_BYTES (as the YAML loader bounds it). */
export function readFlagFile(flag: string, path: string): string {
  const problem = (code: string, message: string) => new InvalidInputError([{ code, path: [flag], message }]);
  let bytes: Buffer | null;
  try {
    bytes = readFileBounded(path, MAX_YAML_FILE_BYTES);
  } catch (err) {
    throw problem("file_unreadable", `cannot read ${plainOrQuoted(path)}: ${unreadableWhy(err)}`);
  }
  if (bytes === null) {
    throw problem(
      "file_too_large",
      `${plainOrQuoted(path)} holds more than ${sizeText(MAX_YAML_FILE_BYTES)}, more than any scheme or configuration`,
    );
  }
  return bytes.toString("utf8");
}

/** The scheme file a flag names (`--scheme`, `--active`). */
export const schemeFlag = (flag: string, path: string): CompiledScheme =>
  parseScheme(readFlagFile(flag, path), path);

/** The gateway config a flag names (`--config`); the scheme it names is read as ever. */
export const configFlag = (path: string, flag = "--config"): GatewayConfig =>
  parseConfig(readFlagFile(flag, path), path);

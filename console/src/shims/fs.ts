/** node:fs is not in the browser; shared modules import it for file loading the console never does. */
export function readFileSync(): never {
  throw new Error("node:fs is not available in the console");
}

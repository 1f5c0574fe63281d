/** node:fs is not in the browser; shared modules import it for file loading the console never does. */
function unavailable(): never {
  throw new Error("node:fs is not available in the console");
}

export const readFileSync = unavailable;
export const openSync = unavailable;
export const fstatSync = unavailable;
export const readSync = unavailable;
export const closeSync = unavailable;

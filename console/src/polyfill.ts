/** The shared format modules (tiles, notes) use Node's Buffer; the browser gets the `buffer` package. */
import { Buffer } from "buffer";

(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;

/** Bounded free text now lives with the schemas that use it (src/scheme/text.ts), shared with the console. */
export * from "../../scheme/text.js";

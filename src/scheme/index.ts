export * from "./compile.js";
export * from "./load.js";
export { schemeFileSchema, schemeJsonSchema, type SchemeFile, type SetExpression } from "./schema.js";

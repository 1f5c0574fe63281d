export { decide } from "./decide.js";
export { explain } from "./explain.js";
export { principalFacts, relevantNationalities } from "./facts.js";
export * from "./input.js";
export * from "./types.js";
export { settleLocation, type SettledLocation } from "./location.js";

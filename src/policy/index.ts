export { decide, timeOf } from "./decide.js";
export { explain } from "./explain.js";
export { factsOf, organizationIdOf, principalFacts, relevantNationalities } from "./facts.js";
export {
  decidingDetail,
  decisionView,
  describeFailure,
  describeFinding,
  type DecisionView,
} from "./words.js";
export * from "./input.js";
export * from "./types.js";
export { settleLocation, type SettledLocation } from "./location.js";

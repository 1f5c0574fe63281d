/** Reports: the jurisdiction footprint (served, from the audit log; policy, from the scheme in force). */
export { footprintReport, usageFacts, type FootprintReport, type FootprintOptions } from "./footprint.js";
export { FOOTPRINT_TABLES, FORMATS, renderFootprint, type Format, type FootprintTable } from "./format.js";
export { LogUnreadableError, readEntries, decisionOf, type DecisionEntry } from "../audit/read.js";
export { lastDays, parsePeriod, type Period } from "./period.js";
export {
  ACCESS_LEVELS,
  policyFootprint,
  type Access,
  type PolicyFootprint,
  type PolicyRow,
} from "./policy.js";
export { nationalityLabel, principalIndex, type PrincipalIndex } from "./principals.js";
export { ServedCounter, servedFootprint, type ServedFootprint } from "./served.js";

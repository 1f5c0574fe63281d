/** What-if: the impact of a candidate scheme version on people and on past decisions, before it is activated. */
export { historyWhatIf, type HistoryInput } from "./history.js";
export { classKey, populationWhatIf, type PopulationInput } from "./population.js";
export {
  candidateOf,
  candidateScheme,
  seenLocations,
  whatIfReport,
  type WhatIfOptions,
  type WhatIfReport,
} from "./report.js";
export { renderWhatIf, whatIfText } from "./format.js";
export { direction, summaryDigest, type ChangeGroup, type WhatIfPart, type WhatIfSummary } from "./result.js";

/**
 * Request location: the country a request comes from, decided from the socket peer, trusted-proxy headers
 * and a MaxMind-format country database. See locator.ts for the trust rules.
 */
export {
  addressText,
  createLocator,
  isHeaderName,
  type ClientSlot,
  type Disputed,
  type Located,
  type LocationConfig,
  type Locator,
} from "./locator.js";
export { CidrSet, cidrProblem, parseAddress, parseCidrs, type IpAddress } from "./cidr.js";
export { countryDbProblem } from "./country-db.js";
export { describeAge, tooOld, type DatabaseStatus, type LiveCountryDb } from "./live-db.js";

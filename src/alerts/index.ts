/** Anomaly detectors, the alerts they raise, their delivery and the responses that act. */
export { AlertService, networkOf, type AlertsConfig, type SuspendPrincipal } from "./service.js";
export { Detectors, type Draft, type DetectorName, type Sighting } from "./detectors.js";
export { sign, verifySignature, webhookBody, SIGNATURE_HEADER } from "./webhook.js";
export { minimumDistanceKm, countryParts } from "./geo.js";

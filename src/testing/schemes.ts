/** Small schemes and principals shared by tests (never shipped: excluded from the build). */
import { parseScheme } from "../scheme/index.js";
import type { CompiledScheme } from "../scheme/index.js";

export const TEST_SCHEME_YAML = `
version: 1
name: test-scheme
home: [US]
nationality_rule: most-recent
embargoed: [EAR_E1, EAR_E2]
restricted_nationalities: [EAR_D5, MO]
sets:
  trusted: [G7, FIVE_EYES]
models:
  m5: {control: controlled, fallback: m4}
  m4: {control: open}
  eu5: {control: controlled, available_in: [EU], fallback: m4}
  w5: {control: home-only}
  c5: {control: controlled, fallback: c4}
  c4: {control: controlled, fallback: c3}
  c3: {control: open}
  local: {control: open, available_in: [US, CA]}
partners:
  countries:
    - {id: g7, countries: [trusted], assurance: attested, grants: [{models: [m5, c4], actions: [infer, evaluate]}]}
    - {id: norway, countries: [NO], status: suspended, assurance: self, grants: [{models: [m5], actions: [infer]}]}
  organizations:
    - {id: uk-aisi, name: UK AI Security Institute, country: GB, assurance: verified, locations: [GB],
       grants: [{models: [m5], actions: [evaluate, fine_tune]}]}
    - {id: old-lab, country: JP, status: suspended, assurance: none, grants: [{models: [m5], actions: [infer]}]}
licenses:
  - {id: L-ORG, licensee: {organization: bw-cyber}, models: [m5], actions: [infer], destinations: [DE],
     purposes: [cyber-defense], nationalities: [DE], valid_from: 2026-07-01, valid_until: 2027-07-01,
     quota_tokens: 1000, status: approved}
  - {id: L-EXPIRED, licensee: {principal: p-expired}, models: [m5], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2026-06-01, status: approved}
  - {id: L-FUTURE, licensee: {principal: p-future}, models: [m5], actions: [infer], destinations: [IN],
     valid_from: 2027-01-01, valid_until: 2028-01-01, status: approved}
  - {id: L-REVOKED, licensee: {principal: p-revoked}, models: [m5], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2028-01-01, status: revoked}
  - {id: L-PENDING, licensee: {principal: p-pending}, models: [m5], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2028-01-01, status: pending}
  - {id: L-IN, licensee: {principal: p-in}, models: [m5], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2028-01-01, status: approved}
`;

export const testScheme = (): CompiledScheme => parseScheme(TEST_SCHEME_YAML, "test-scheme.yaml");

export const NOW = "2026-11-21T12:00:00Z";

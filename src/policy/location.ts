/**
 * DESIGN.md, "unknown location": sources that disagree about where a request comes from are not
 * "unknown". If any of them names an embargoed country, the embargo applies (the request is decided
 * as coming from there); otherwise the request cannot be placed and is refused as ambiguous.
 */
import type { CompiledScheme } from "../scheme/compile.js";

export type SettledLocation = { readonly location: string } | { readonly ambiguous: readonly string[] };

export function settleLocation(scheme: CompiledScheme, countries: readonly string[]): SettledLocation {
  for (const country of countries) if (scheme.embargoed.has(country)) return { location: country };
  return { ambiguous: countries };
}

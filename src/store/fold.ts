/**
 * Text compared letter case aside (a principal's id or name against a `prefix`): a full case fold,
 * so that what lowercasing alone keeps apart matches. ß and ẞ are "ss" ("STRASS" finds "Straße
 * AG"), and a sigma is σ wherever it stands: lowercased, a prefix "ΑΣ" ends in a word-final "ς"
 * where "Αστέριος" has "σ". Used on both sides of the comparison, by the admin API and the stores.
 */
export function caseFold(text: string): string {
  return text.toUpperCase().toLowerCase().replaceAll("ς", "σ").replaceAll("ß", "ss");
}

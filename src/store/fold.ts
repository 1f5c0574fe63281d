/**
 * Text compared letter case aside (a principal's id or name against a `prefix`): a full case fold,
 * so that what lowercasing alone keeps apart matches. ß and ẞ are "ss" ("STRASS" finds "Straße
 * AG"), and a sigma is σ wherever it stands: lowercased, a prefix "ΑΣ" ends in a word-final "ς"
 * where "Αστέριος" has "σ". Used on both sides of the comparison, by the admin API and the stores.
 *
 * Composed first (NFC): "José" typed with é and stored as e and a combining accent (macOS, some
 * keyboards) is the same text, so it folds the same. Canonical equivalence only, not NFKC's
 * compatibility: that would make visibly different characters one ("²" and "2", "①" and "1",
 * full-width and ASCII letters), so a prefix would find ids nobody typed it for. Case mapping after
 * NFC is the same for every canonically equal text, and a folded text folds to itself (fold.test).
 */
export function caseFold(text: string): string {
  return text.normalize("NFC").toUpperCase().toLowerCase().replaceAll("ς", "σ").replaceAll("ß", "ss");
}

/** Quota periods in UTC: the calendar month, the calendar quarter, or the license's whole life. */
export type QuotaPeriod = "month" | "quarter" | "total";

export function periodKey(period: QuotaPeriod, at: Date): string {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  if (period === "month") return `${y}-${String(m + 1).padStart(2, "0")}`;
  if (period === "quarter") return `${y}-Q${Math.floor(m / 3) + 1}`;
  return "total";
}

/** The first day (YYYY-MM-DD) of the period containing `at`. */
export function periodStart(period: QuotaPeriod, at: Date): string {
  const y = at.getUTCFullYear();
  const m = period === "quarter" ? Math.floor(at.getUTCMonth() / 3) * 3 : at.getUTCMonth();
  return period === "total" ? "0000-01-01" : `${y}-${String(m + 1).padStart(2, "0")}-01`;
}

/** When the period containing `at` ends, in ms since the epoch (Infinity for "total"). */
export function periodEnd(period: QuotaPeriod, at: Date): number {
  if (period === "total") return Infinity;
  const m = at.getUTCMonth();
  return Date.UTC(at.getUTCFullYear(), period === "quarter" ? Math.floor(m / 3) * 3 + 3 : m + 1, 1);
}

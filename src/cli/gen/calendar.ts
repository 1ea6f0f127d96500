/**
 * The `n` business days (Monday-Friday; exchange holidays are not modelled) before `date`, oldest
 * first, as YYYY-MM-DD.
 *
 * @example
 * businessDaysBefore('2024-03-18', 2) // ['2024-03-14', '2024-03-15']
 */
export function businessDaysBefore(date: string, n: number): string[] {
  const out: string[] = [];
  let t = Date.parse(`${date}T00:00:00Z`);
  while (out.length < n) {
    t -= 86_400_000;
    const wd = new Date(t).getUTCDay();
    if (wd !== 0 && wd !== 6) out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out.reverse();
}

/**
 * Minutes after midnight as `HH:MM` (the clock format of day.json).
 *
 * @example
 * clockOf(570) // '09:30'
 */
export function clockOf(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/**
 * Epoch milliseconds of a wall-clock time on a date in an IANA time zone, daylight-saving aware
 * (Intl gives the zone's offset; two passes settle the offset at the target instant).
 *
 * @example
 * zonedEpoch('2024-03-15', '09:30', 'America/New_York') // 1710509400000 (13:30Z, EDT)
 */
export function zonedEpoch(date: string, hhmm: string, timeZone: string): number {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = hhmm.split(':').map(Number) as [number, number];
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const offsetAt = (t: number): number => {
    const p: Record<string, string> = {};
    for (const x of fmt.formatToParts(new Date(t))) p[x.type] = x.value;
    return Date.UTC(+p['year']!, +p['month']! - 1, +p['day']!, +p['hour']!, +p['minute']!, +p['second']!) - t;
  };
  const first = guess - offsetAt(guess);
  return guess - offsetAt(first);
}

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

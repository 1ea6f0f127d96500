import { Observable } from 'rxjs';
import { Multicast } from '../../src/core/multicast.js';
import { Watermark, END_OF_TIME, type Element } from '../../src/core/element.js';
import { mapRecords } from '../../src/operators/map-records.js';
import { windowAggregate } from '../../src/operators/window-aggregate.js';
import { asofJoin } from '../../src/operators/asof-join.js';
import { tumbling, sliding } from '../../src/windows/assigners.js';
import type { AggregateFunction } from '../../src/windows/aggregate.js';
import { best, type BenchRow } from './harness.js';

/**
 * Issue 2's engine benchmark: (a) pass-through, (b) keyed tumbling aggregate, (c) keyed sliding
 * aggregate, (d) as-of join, each on N synthetic events, beside the same computation written by
 * hand without the engine.
 */
interface Ev {
  ts: number;
  key: string;
  v: number;
}
interface Quote {
  ts: number;
  instrument: string;
  mid: number;
}
interface Trade {
  ts: number;
  instrument: string;
  price: number;
}

const KEYS = 1000;
const WM_EVERY = 1000; // a watermark every 1000 records, as a source batch would
const keys = Array.from({ length: KEYS }, (_, i) => `K${i}`);

function makeEvents(n: number): Ev[] {
  const out = new Array<Ev>(n);
  let seed = 42;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out[i] = { ts: 1_700_000_000_000 + i * 0.72, key: keys[seed % KEYS]!, v: (seed >>> 8) / 65536 };
  }
  return out;
}

function source<T extends { ts: number }>(events: T[]): Observable<Element<T>> {
  return new Observable<Element<T>>((sub) => {
    for (let i = 0; i < events.length; i++) {
      sub.next(events[i]!);
      if (i % WM_EVERY === WM_EVERY - 1) sub.next(new Watermark(events[i]!.ts - 1));
    }
    sub.next(END_OF_TIME);
    sub.complete();
  });
}

const sumCount: AggregateFunction<Ev, { s: number; n: number }, { s: number; n: number }> = {
  createAccumulator: () => ({ s: 0, n: 0 }),
  add: (acc, e) => {
    acc.s += e.v;
    acc.n++;
    return acc;
  },
  getResult: (acc) => acc,
  merge: (a, b) => ({ s: a.s + b.s, n: a.n + b.n }),
};

export function runEngineBench(n: number): BenchRow[] {
  const events = makeEvents(n);
  const rows: BenchRow[] = [];
  let sink = 0;

  // (a) pass-through
  const passEngine = best(() => {
    let c = 0;
    source(events)
      .pipe(mapRecords((e: Ev) => e))
      .subscribe((e) => {
        if (!(e instanceof Watermark)) c++;
      });
    sink += c;
  });
  const passHand = best(() => {
    let c = 0;
    const f = (e: Ev): Ev => e;
    for (let i = 0; i < events.length; i++) if (f(events[i]!)) c++;
    sink += c;
  });
  rows.push({ name: '(a) pass-through', events: n, engineMs: passEngine, handMs: passHand, target: '>= 5M/s' });

  // (b) keyed tumbling 1 min, sum + count
  const SIZE = 60_000;
  const tumbEngine = best(() => {
    let c = 0;
    source(events)
      .pipe(windowAggregate({ key: (e: Ev) => e.key, assigner: tumbling(SIZE), aggregate: sumCount }))
      .subscribe((e) => {
        if (!(e instanceof Watermark)) c += e.result.n;
      });
    sink += c;
  });
  const tumbHand = best(() => {
    // The same result by hand: per key, the open window's accumulator; close windows as time passes.
    const open = new Map<string, { start: number; s: number; n: number }>();
    let c = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const start = e.ts - (e.ts % SIZE);
      let a = open.get(e.key);
      if (a === undefined) {
        a = { start, s: 0, n: 0 };
        open.set(e.key, a);
      } else if (a.start !== start) {
        c += a.n;
        a.start = start;
        a.s = 0;
        a.n = 0;
      }
      a.s += e.v;
      a.n++;
    }
    for (const a of open.values()) c += a.n;
    sink += c;
  });
  rows.push({ name: '(b) keyed tumbling aggregate', events: n, engineMs: tumbEngine, handMs: tumbHand, target: '>= 2M/s' });

  // (c) keyed sliding 1 min / 10 s (6 windows per record), sum + count
  const SLIDE = 10_000;
  const slideEngine = best(() => {
    let c = 0;
    source(events)
      .pipe(windowAggregate({ key: (e: Ev) => e.key, assigner: sliding(SIZE, SLIDE), aggregate: sumCount }))
      .subscribe((e) => {
        if (!(e instanceof Watermark)) c += e.result.n;
      });
    sink += c;
  });
  const slideHand = best(() => {
    // By hand: per key a ring of the 6 open windows' accumulators.
    const PANES = SIZE / SLIDE;
    const per = new Map<string, { starts: Float64Array; s: Float64Array; n: Float64Array }>();
    let c = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      let st = per.get(e.key);
      if (st === undefined) {
        st = { starts: new Float64Array(PANES).fill(Number.NaN), s: new Float64Array(PANES), n: new Float64Array(PANES) };
        per.set(e.key, st);
      }
      const last = e.ts - (e.ts % SLIDE);
      for (let start = last - SIZE + SLIDE; start <= last; start += SLIDE) {
        const slot = Math.floor(start / SLIDE) % PANES;
        if (st.starts[slot] !== start) {
          c += st.n[slot]!;
          st.starts[slot] = start;
          st.s[slot] = 0;
          st.n[slot] = 0;
        }
        st.s[slot]! += e.v;
        st.n[slot]!++;
      }
    }
    for (const st of per.values()) for (let k = 0; k < PANES; k++) c += st.n[k]!;
    sink += c;
  });
  rows.push({ name: '(c) keyed sliding aggregate (x6)', events: n, engineMs: slideEngine, handMs: slideHand });

  // (d) as-of join: trades against the latest quote of their instrument; half the events are quotes.
  const quotes: Quote[] = [];
  const trades: Trade[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (i % 2 === 0) quotes.push({ ts: e.ts, instrument: e.key, mid: 100 + e.v });
    else trades.push({ ts: e.ts, instrument: e.key, price: 100 + e.v });
  }
  const joinEngine = best(() => {
    // As the runner feeds it: one time-ordered input split by stream into lean multicasts, both
    // sides carrying watermarks.
    const tradeIn = new Multicast<Element<Trade>>();
    const quoteIn = new Multicast<Element<Quote>>();
    let c = 0;
    tradeIn
      .pipe(
        asofJoin(quoteIn, {
          leftKey: (t: Trade) => t.instrument,
          rightKey: (q: Quote) => q.instrument,
          combine: (t: Trade, q: Quote | undefined) => (q === undefined ? 0 : t.price - q.mid),
        }),
      )
      .subscribe((e) => {
        if (!(e instanceof Watermark)) c++;
      });
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (i % 2 === 0) quoteIn.next(quotes[i >> 1]!);
      else tradeIn.next(trades[i >> 1]!);
      if (i % WM_EVERY === WM_EVERY - 1) {
        const wm = new Watermark(e.ts - 1);
        quoteIn.next(wm);
        tradeIn.next(wm);
      }
    }
    quoteIn.next(END_OF_TIME);
    tradeIn.next(END_OF_TIME);
    quoteIn.complete();
    tradeIn.complete();
    sink += c;
  });
  const joinHand = best(() => {
    // By hand, with the engine's semantics: the same interleaved input with watermarks; trades wait
    // until the watermark passes them (a quote may still arrive for their instant), then join the
    // instrument's latest quote with ts <= the trade's.
    const versions = new Map<string, Quote[]>();
    let pending: Trade[] = [];
    let c = 0;
    const fire = (wm: number): void => {
      let keep = 0;
      for (let p = 0; p < pending.length; p++) {
        const t = pending[p]!;
        if (t.ts > wm) {
          pending[keep++] = t;
          continue;
        }
        const vs = versions.get(t.instrument);
        let q: Quote | undefined;
        if (vs !== undefined) {
          for (let k = vs.length - 1; k >= 0; k--) {
            if (vs[k]!.ts <= t.ts) {
              q = vs[k];
              break;
            }
          }
        }
        if ((q === undefined ? 0 : t.price - q.mid) !== -1) c++;
      }
      pending.length = keep;
      // Keep only each instrument's latest version at or before the watermark, and newer ones.
      for (const vs of versions.values()) {
        let k = vs.length - 1;
        while (k > 0 && vs[k]!.ts > wm) k--;
        if (k > 0) vs.splice(0, k);
      }
    };
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (i % 2 === 0) {
        const q = quotes[i >> 1]!;
        let vs = versions.get(q.instrument);
        if (vs === undefined) versions.set(q.instrument, (vs = []));
        vs.push(q);
      } else pending.push(trades[i >> 1]!);
      if (i % WM_EVERY === WM_EVERY - 1) fire(e.ts - 1);
    }
    fire(Number.POSITIVE_INFINITY);
    pending = [];
    sink += c;
  });
  const joinSorted = best(() => {
    // For reference: a lookup loop that assumes input already sorted by time (no event-time
    // guarantees); the engine cannot take this shortcut without giving up out-of-order input.
    const latest = new Map<string, Quote>();
    let c = 0;
    let qi = 0;
    for (let ti = 0; ti < trades.length; ti++) {
      const t = trades[ti]!;
      while (qi < quotes.length && quotes[qi]!.ts <= t.ts) {
        latest.set(quotes[qi]!.instrument, quotes[qi]!);
        qi++;
      }
      const q = latest.get(t.instrument);
      if ((q === undefined ? 0 : t.price - q.mid) !== -1) c++;
    }
    sink += c;
  });
  rows.push({ name: '(d) as-of join', events: n, engineMs: joinEngine, handMs: joinHand });
  rows.push({ name: '    (vs sorted-input lookup loop)', events: n, engineMs: joinEngine, handMs: joinSorted });
  if (sink === 42) console.log('');
  return rows;
}

import { describe, expect, it, vi } from 'vitest';
import { END_OF_TIME } from '../../../src/core/element.js';
import { SideOutput } from '../../../src/core/context.js';
import { UserFunctionError, TopologyError } from '../../../src/core/errors.js';
import { tumbling, sliding, session } from '../../../src/windows/assigners.js';
import { count, sum, composite, first, last, max } from '../../../src/windows/aggregates.js';
import { windowAggregate } from '../../../src/operators/window-aggregate.js';
import { rec, wm, run, show, results, reference, finals, withWatermarks, lcg, type Rec } from './helpers.js';

const sumV = sum((r: Rec) => r.v);

describe('windowAggregate: tumbling', () => {
  it('windows are end-exclusive and fire when the watermark reaches end - 1', () => {
    const out = run([rec(0), rec(999), rec(1000), wm(998), wm(999), END_OF_TIME], {
      assigner: tumbling(1000),
      aggregate: count(),
    });
    expect(show(out)).toEqual(['W998', 'final a[0,1000) 2', 'W999', 'final a[1000,2000) 1', 'WInfinity']);
    const r = results(out)[0]!;
    expect(r).toEqual({ key: 'a', windowStart: 0, windowEnd: 1000, ts: 999, result: 2, firing: 'final' });
  });

  it('fires by (windowEnd, key) and then forwards the watermark', () => {
    const out = run(
      [rec(12, 'c'), rec(3, 'b'), rec(15, 'a'), rec(1, 'c'), rec(2, 'a'), rec(25, 'b'), wm(19), wm(100)],
      { assigner: tumbling(10), aggregate: count() },
    );
    expect(show(out)).toEqual([
      'final a[0,10) 1',
      'final b[0,10) 1',
      'final c[0,10) 1',
      'final a[10,20) 1',
      'final c[10,20) 1',
      'W19',
      'final b[20,30) 1',
      'W100',
    ]);
  });

  it('orders keys by code unit, not locale', () => {
    const out = run([rec(1, 'b'), rec(1, 'B'), rec(1, 'a'), rec(1, '\u00e9'), rec(1, 'A'), END_OF_TIME], {
      assigner: tumbling(10),
      aggregate: count(),
    });
    expect(results(out).map((r) => r.key)).toEqual(['A', 'B', 'a', 'b', '\u00e9']);
  });

  it('forwards only watermarks that advance', () => {
    const out = run([wm(5), wm(5), wm(3), rec(7), wm(6), wm(20)], { assigner: tumbling(10), aggregate: count() });
    expect(show(out)).toEqual(['W5', 'W6', 'final a[0,10) 1', 'W20']);
  });

  it('END_OF_TIME flushes every window; completing without it flushes nothing', () => {
    const input = [rec(1), rec(50, 'b'), rec(1_000_000, 'c')];
    expect(show(run(input, { assigner: tumbling(10), aggregate: count() }))).toEqual([]);
    expect(show(run([...input, END_OF_TIME], { assigner: tumbling(10), aggregate: count() }))).toEqual([
      'final a[0,10) 1',
      'final b[50,60) 1',
      'final c[1000000,1000010) 1',
      'WInfinity',
    ]);
  });

  it('aligns windows to the offset', () => {
    const out = run([rec(2), rec(3), rec(12), rec(13), END_OF_TIME], { assigner: tumbling(10, 3), aggregate: count() });
    expect(show(out)).toEqual(['final a[-7,3) 1', 'final a[3,13) 2', 'final a[13,23) 1', 'WInfinity']);
  });

  it('keeps separate windows per key and handles out-of-order records', () => {
    const out = run(
      [rec(25, 'a', 1), rec(5, 'a', 2), rec(15, 'b', 3), rec(7, 'a', 4), rec(21, 'a', 5), rec(11, 'b', 6), END_OF_TIME],
      { assigner: tumbling(10), aggregate: sumV },
    );
    expect(show(out)).toEqual(['final a[0,10) 6', 'final b[10,20) 9', 'final a[20,30) 6', 'WInfinity']);
  });

  it('matches the brute-force reference on random data, with and without an offset', () => {
    const rnd = lcg(7);
    const recs: Rec[] = [];
    for (let i = 0; i < 400; i++) recs.push(rec(Math.floor(rnd() * 5000) - 1000, 'k' + Math.floor(rnd() * 5), Math.floor(rnd() * 100)));
    const agg = composite({ n: count(), s: sumV, hi: max((r: Rec) => r.v), f: first((r: Rec) => r.v), l: last((r: Rec) => r.v) });
    for (const assigner of [tumbling(100), tumbling(100, 37), tumbling(1), tumbling(7000)]) {
      const out = run([...recs, END_OF_TIME], { assigner, aggregate: agg });
      expect(finals(out)).toEqual(reference(recs, assigner, agg));
    }
  });

  it('stays correct with many short-lived keys that come back (key-state sweeps)', () => {
    const recs: Rec[] = [];
    // Odd records: 5 hot keys, live in every window; even ones: 3000 keys that come and go.
    for (let i = 0; i < 12_000; i++) recs.push(rec(i, i % 2 ? 'hot' + (i % 5) : 'k' + ((i * 7919) % 3000), i % 13));
    for (const assigner of [tumbling(10), tumbling(2500)]) {
      const out = run(withWatermarks(recs, 5), { assigner, aggregate: sumV });
      expect(finals(out)).toEqual(reference(recs, assigner, sumV));
    }
    const sessions = run(withWatermarks(recs, 5), { assigner: session(4000), aggregate: sumV });
    expect(finals(sessions)).toEqual(reference(recs, session(4000), sumV));
  });

  it('wraps errors from user functions', () => {
    const badKey = (): string => {
      throw new Error('bad key');
    };
    expect(() => run([rec(1)], { id: 'w1', key: badKey, assigner: tumbling(10), aggregate: count() })).toThrow(
      UserFunctionError,
    );
    try {
      run([rec(1)], { id: 'w1', key: badKey, assigner: tumbling(10), aggregate: count() });
    } catch (e) {
      expect((e as UserFunctionError).step).toBe('w1');
      expect((e as UserFunctionError).cause).toBeInstanceOf(Error);
    }
  });

  it('validates its options', () => {
    expect(() => windowAggregate({ key: (r: Rec) => r.k, assigner: tumbling(10), aggregate: count(), allowedLatenessMs: -1 })).toThrow(
      TopologyError,
    );
    expect(() =>
      windowAggregate({ key: (r: Rec) => r.k, assigner: tumbling(10), aggregate: count(), trigger: { earlyEveryCount: 1.5 } }),
    ).toThrow(TopologyError);
  });
});

describe('windowAggregate: sliding', () => {
  it('adds each record to every window holding it', () => {
    const out = run([rec(3), rec(7), rec(12), END_OF_TIME], { assigner: sliding(10, 5), aggregate: count() });
    expect(show(out)).toEqual([
      'final a[-5,5) 1',
      'final a[0,10) 2',
      'final a[5,15) 2',
      'final a[10,20) 1',
      'WInfinity',
    ]);
  });

  it('matches the brute-force reference on random data', () => {
    const rnd = lcg(11);
    const recs: Rec[] = [];
    for (let i = 0; i < 300; i++) recs.push(rec(Math.floor(rnd() * 3000), 'k' + Math.floor(rnd() * 4), Math.floor(rnd() * 50)));
    const agg = composite({ n: count(), s: sumV });
    for (const assigner of [sliding(100, 20), sliding(100, 30, 7), sliding(50, 50), sliding(10, 1)]) {
      const out = run(withWatermarks(recs, 3000), { assigner, aggregate: agg });
      expect(finals(out)).toEqual(reference(recs, assigner, agg));
    }
  });
});

describe('windowAggregate: sessions', () => {
  it('a session [first, last + gap) closes when the watermark reaches end - 1', () => {
    const out = run([rec(0), rec(5), wm(13), wm(14), rec(20), END_OF_TIME], { assigner: session(10), aggregate: count() });
    expect(show(out)).toEqual(['W13', 'final a[0,15) 2', 'W14', 'final a[20,30) 1', 'WInfinity']);
  });

  it('a record exactly gap after the last one starts a new session', () => {
    const out = run([rec(0), rec(10), END_OF_TIME], { assigner: session(10), aggregate: count() });
    expect(show(out)).toEqual(['final a[0,10) 1', 'final a[10,20) 1', 'WInfinity']);
  });

  it('a bridging record merges two sessions (accumulators merged)', () => {
    const agg = composite({ n: count(), s: sumV, f: first((r: Rec) => r.v), l: last((r: Rec) => r.v) });
    const out = run([rec(0, 'a', 1), rec(15, 'a', 2), rec(30, 'a', 4), wm(5), rec(8, 'a', 8), END_OF_TIME], {
      assigner: session(10),
      aggregate: agg,
    });
    expect(show(out)).toEqual([
      'W5',
      'final a[0,25) {"n":3,"s":11,"f":1,"l":2}',
      'final a[30,40) {"n":1,"s":4,"f":4,"l":4}',
      'WInfinity',
    ]);
  });

  it('a record overlapping three sessions merges them all, and extends the start backwards', () => {
    const out = run([rec(10), rec(22), rec(34), rec(3, 'a'), rec(16), rec(28), END_OF_TIME], {
      assigner: session(10),
      aggregate: count(),
    });
    expect(show(out)).toEqual(['final a[3,44) 6', 'WInfinity']);
  });

  it('keys are independent and fire by (end, key)', () => {
    const out = run([rec(0, 'b'), rec(2, 'a'), rec(5, 'b'), rec(1, 'c'), wm(100)], { assigner: session(10), aggregate: count() });
    expect(show(out)).toEqual(['final c[1,11) 1', 'final a[2,12) 1', 'final b[0,15) 2', 'W100']);
  });

  it('matches the brute-force reference on random data', () => {
    const rnd = lcg(3);
    for (let round = 0; round < 5; round++) {
      const recs: Rec[] = [];
      for (let i = 0; i < 200; i++) recs.push(rec(Math.floor(rnd() * 2000), 'k' + Math.floor(rnd() * 3), Math.floor(rnd() * 50)));
      const agg = composite({ n: count(), s: sumV, f: first((r: Rec) => r.v), l: last((r: Rec) => r.v) });
      const assigner = session(5 + Math.floor(rnd() * 40));
      const out = run([...recs, END_OF_TIME], { assigner, aggregate: agg });
      expect(finals(out)).toEqual(reference(recs, assigner, agg));
    }
  });
});

describe('windowAggregate: lateness', () => {
  it('updates a fired window within the allowed lateness, then purges it', () => {
    const late = new SideOutput<Rec>('late');
    const seen: Rec[] = [];
    late.stream.subscribe((r) => seen.push(r));
    const stats = { late: 0 };
    const out = run([rec(1), rec(2), wm(9), rec(3), wm(13), rec(4), rec(5, 'b'), wm(14), rec(6), rec(20), END_OF_TIME], {
      assigner: tumbling(10),
      aggregate: count(),
      allowedLatenessMs: 5,
      late,
      stats,
    });
    expect(show(out)).toEqual([
      'final a[0,10) 2',
      'W9',
      'late a[0,10) 3',
      'W13',
      'late a[0,10) 4',
      'late b[0,10) 1', // a window first seen behind the watermark, within the lateness
      'W14',
      'final a[20,30) 1',
      'WInfinity',
    ]);
    const lateResult = results(out)[1]!;
    expect(lateResult).toMatchObject({ firing: 'late', ts: 9 });
    expect(seen).toEqual([rec(6)]);
    expect(stats.late).toBe(1);
    expect(late.count).toBe(1);
  });

  it('sends records for purged windows to the late output; records after END_OF_TIME too', () => {
    const late = new SideOutput<Rec>('late');
    const seen: Rec[] = [];
    late.stream.subscribe((r) => seen.push(r));
    const out = run([rec(1), wm(9), rec(2), rec(Number.NaN), rec(15), END_OF_TIME, rec(100)], {
      assigner: tumbling(10),
      aggregate: count(),
      late,
    });
    expect(show(out)).toEqual(['final a[0,10) 1', 'W9', 'final a[10,20) 1', 'WInfinity']);
    expect(seen.map((r) => r.ts)).toEqual([2, Number.NaN, 100]);
  });

  it('counts late records in stats without a side output', () => {
    const stats = { late: 0 };
    run([rec(1), wm(20), rec(2), rec(3)], { assigner: tumbling(10), aggregate: count(), stats });
    expect(stats.late).toBe(2);
  });

  it('warns once when late records have nowhere to go', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      run([rec(1), wm(20), rec(2), rec(3)], { id: 'vol', assigner: tumbling(10), aggregate: count() });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]![0])).toMatch(/'vol'.*too late/);
    } finally {
      spy.mockRestore();
    }
  });

  it('sliding: a record that missed some windows updates the others and is reported late', () => {
    const late = new SideOutput<Rec>('late');
    const seen: Rec[] = [];
    late.stream.subscribe((r) => seen.push(r));
    const out = run([rec(1), wm(9), rec(8), END_OF_TIME], { assigner: sliding(10, 5), aggregate: count(), late });
    expect(show(out)).toEqual([
      'final a[-5,5) 1',
      'final a[0,10) 1',
      'W9',
      'final a[5,15) 1', // took the late record; [0,10) could not
      'WInfinity',
    ]);
    expect(seen).toEqual([rec(8)]);
  });

  it('sessions: a late record inside a fired session emits a late update', () => {
    const out = run([rec(0), rec(6), wm(15), rec(3), wm(40), rec(4), END_OF_TIME], {
      assigner: session(10),
      aggregate: count(),
      allowedLatenessMs: 20,
      stats: { late: 0 },
    });
    expect(show(out)).toEqual(['final a[0,16) 2', 'W15', 'late a[0,16) 3', 'W40', 'WInfinity']);
  });

  it('sessions: a late record that extends a fired session reopens it until the watermark passes the new end', () => {
    const out = run([rec(0), wm(9), rec(8), wm(17), END_OF_TIME], {
      assigner: session(10),
      aggregate: count(),
      allowedLatenessMs: 100,
    });
    expect(show(out)).toEqual(['final a[0,10) 1', 'W9', 'late a[0,18) 2', 'W17', 'WInfinity']);
  });

  it('sessions: a record for a purged session is late, a new session behind the watermark within lateness is a late firing', () => {
    const stats = { late: 0 };
    const out = run([rec(0), wm(30), rec(2), rec(25), END_OF_TIME], {
      assigner: session(10),
      aggregate: count(),
      allowedLatenessMs: 10,
      stats,
    });
    // [0,10) purged at W >= 19; [2,12) would end at 11 + 10 <= 30: late. [25,35) is still open.
    expect(show(out)).toEqual(['final a[0,10) 1', 'W30', 'final a[25,35) 1', 'WInfinity']);
    expect(stats.late).toBe(1);
    const out2 = run([rec(0), wm(30), rec(15), END_OF_TIME], {
      assigner: session(10),
      aggregate: count(),
      allowedLatenessMs: 10,
    });
    expect(show(out2)).toEqual(['final a[0,10) 1', 'W30', 'late a[15,25) 1', 'WInfinity']);
  });
});

describe('windowAggregate: early firing', () => {
  it('earlyEveryMs fires at start + k * every, once per watermark, before the end', () => {
    const out = run([rec(5), wm(29), wm(30), rec(40), wm(95), wm(98), wm(99)], {
      assigner: tumbling(100),
      aggregate: count(),
      trigger: { earlyEveryMs: 30 },
    });
    expect(show(out)).toEqual(['W29', 'early a[0,100) 1', 'W30', 'early a[0,100) 2', 'W95', 'W98', 'final a[0,100) 2', 'W99']);
    expect(results(out)[0]).toMatchObject({ ts: 99, firing: 'early' });
  });

  it('earlyEveryMs: early firings follow the finals of the same watermark, by (end, key)', () => {
    const out = run([rec(1, 'b'), rec(2, 'a'), rec(12, 'b'), rec(15, 'a'), rec(5, 'c'), wm(15)], {
      assigner: tumbling(10),
      aggregate: count(),
      trigger: { earlyEveryMs: 5 },
    });
    expect(show(out)).toEqual([
      'final a[0,10) 1',
      'final b[0,10) 1',
      'final c[0,10) 1',
      'early a[10,20) 1',
      'early b[10,20) 1',
      'W15',
    ]);
  });

  it('earlyEveryMs: thresholds already behind the watermark when the window opens do not fire', () => {
    const out = run([wm(35), rec(36), wm(59), wm(60)], {
      assigner: tumbling(100),
      aggregate: count(),
      trigger: { earlyEveryMs: 30 },
    });
    expect(show(out)).toEqual(['W35', 'W59', 'early a[0,100) 1', 'W60']);
  });

  it('earlyEveryMs with sessions follows the session start and growth', () => {
    const out = run([rec(0), wm(3), rec(8), wm(12), rec(1), wm(14), wm(16), END_OF_TIME], {
      assigner: session(10),
      aggregate: count(),
      trigger: { earlyEveryMs: 4 },
    });
    // [0,10): thresholds 4, 8 (< 9); none reached at W3. rec 8 grows it to [0,18): thresholds
    // 4, 8, 12, 16 (< 17); W12 crosses three of them but fires once.
    expect(show(out)).toEqual([
      'W3',
      'early a[0,18) 2',
      'W12',
      'W14',
      'early a[0,18) 3',
      'W16',
      'final a[0,18) 3',
      'WInfinity',
    ]);
  });

  it('earlyEveryCount fires every N records per (key, window), restarting at the final firing', () => {
    const out = run([rec(1), rec(2), rec(3, 'b'), rec(3), rec(4), rec(5), wm(9), rec(11), rec(12)], {
      assigner: tumbling(10),
      aggregate: count(),
      trigger: { earlyEveryCount: 2 },
    });
    expect(show(out)).toEqual([
      'early a[0,10) 2',
      'early a[0,10) 4',
      'final a[0,10) 5',
      'final b[0,10) 1',
      'W9',
      'early a[10,20) 2',
    ]);
  });

  it('earlyEveryCount with sliding windows fires in windowEnd order', () => {
    const out = run([rec(6), rec(7)], { assigner: sliding(10, 5), aggregate: count(), trigger: { earlyEveryCount: 2 } });
    expect(show(out)).toEqual(['early a[0,10) 2', 'early a[5,15) 2']);
  });

  it('earlyEveryCount with sessions adds up the counts of merged sessions', () => {
    const out = run([rec(0), rec(20), rec(10)], { assigner: session(11), aggregate: count(), trigger: { earlyEveryCount: 3 } });
    expect(show(out)).toEqual(['early a[0,31) 3']);
  });
});

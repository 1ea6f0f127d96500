import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { History } from '../../../src/core/reference.js';
import { BUFFER_MAX, selectInPlace, smallestSorted, smallestSortedKernel } from '../../../src/risk/quickselect.js';
import {
  addScaled,
  addScaledMany,
  buildScenarios,
  HistoricalVar,
  lowerRank,
  normalPdf,
  normalQuantile,
  ParametricModel,
  QuadForm,
  ScenarioFold,
  type ScenarioSet,
} from '../../../src/risk/var.js';
import { wasmMemory } from '../../../src/risk/wasm.js';
import { near, prng, refEsLinear, refQuantile7, refVarLower } from './desk-reference.js';

const CONFIDENCES_PERMILLE = [900, 950, 975, 990, 995, 999];

function randomPnl(rnd: () => number, S: number, ties = false): number[] {
  return Array.from({ length: S }, () => (ties ? Math.round((rnd() - 0.5) * 20) * 1000 : (rnd() - 0.52) * 2e5 * (rnd() < 0.05 ? 5 : 1)));
}

describe('selectInPlace', () => {
  it('returns the k-th smallest and partitions around it (random arrays with ties, every k)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 200 }), fc.nat(), (xs, kk) => {
        const k = kk % xs.length;
        const a = Float64Array.from(xs);
        const sorted = xs.slice().sort((x, y) => x - y);
        expect(selectInPlace(a, a.length, k)).toBe(sorted[k]);
        for (let i = 0; i < k; i++) expect(a[i]!).toBeLessThanOrEqual(a[k]!);
        for (let i = k + 1; i < a.length; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[k]!);
        expect(Array.from(a).sort((x, y) => x - y)).toEqual(sorted);
      }),
      { numRuns: 500 },
    );
  });

  it('handles adversarial orders (sorted, reversed, constant, organ pipe) at size 2000', () => {
    const n = 2000;
    const shapes: Array<(i: number) => number> = [(i) => i, (i) => n - i, () => 7, (i) => Math.min(i, n - i), (i) => (i % 2 ? i : -i)];
    for (const f of shapes) {
      for (const k of [0, 1, 19, n >> 1, n - 1]) {
        const xs = Array.from({ length: n }, (_, i) => f(i));
        const a = Float64Array.from(xs);
        expect(selectInPlace(a, n, k)).toBe(xs.sort((x, y) => x - y)[k]);
      }
    }
  });

  it('smallestSorted gives the m smallest in order without touching the input (buffer and quickselect paths)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.nat(), (xs, mm) => {
        const m = 1 + (mm % xs.length);
        const src = Float64Array.from(xs);
        const out = new Float64Array(m);
        smallestSorted(src, src.length, m, out);
        expect(Array.from(out)).toEqual(xs.slice().sort((a, b) => a - b).slice(0, m));
        expect(Array.from(src)).toEqual(Array.from(Float64Array.from(xs)));
      }),
      { numRuns: 500 },
    );
  });

  it('smallestSortedKernel writes the bits of smallestSorted (ties, signed zeros, infinities, NaN, every m up to the buffer)', () => {
    const memory = wasmMemory(1)!;
    const sel = smallestSortedKernel(memory)!;
    expect(sel).toBeDefined();
    const rnd = prng(41);
    const pick = (kind: number): number => {
      const u = rnd();
      if (kind === 0) return (u - 0.52) * 2e5;
      if (kind === 1) return Math.round((u - 0.5) * 8);
      // Signed zeros, infinities and NaN among ties.
      return [0, -0, 1, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 2][Math.floor(u * 8)]!;
    };
    const srcAt = 1024;
    for (let round = 0; round < 3000; round++) {
      const n = 1 + Math.floor(rnd() * (round < 2000 ? 40 : 300));
      const m = 1 + Math.floor(rnd() * Math.min(n, BUFFER_MAX));
      const kind = round % 3 === 2 && rnd() < 0.7 ? (rnd() < 0.5 ? 0 : 1) : round % 3;
      const src = new Float64Array(memory.buffer, srcAt, n);
      for (let i = 0; i < n; i++) src[i] = pick(kind);
      const before = Array.from(src);
      const want = new Float64Array(m);
      smallestSorted(src, n, m, want);
      sel(srcAt, n, m, 0);
      const got = new Float64Array(memory.buffer, 0, m);
      for (let i = 0; i < m; i++) if (!Object.is(got[i], want[i])) throw new Error(`round ${round} n=${n} m=${m} i=${i}: ${got[i]} != ${want[i]}`);
      expect(Array.from(src)).toEqual(before);
    }
  });

  it('rejects a rank outside the range', () => {
    expect(() => selectInPlace(new Float64Array(3), 3, 3)).toThrow(RangeError);
  });
});

describe('historical VaR / ES', () => {
  it('lowerRank is floor((1-c) S), immune to binary rounding', () => {
    expect(lowerRank(0.99, 250)).toBe(2);
    expect(lowerRank(0.99, 500)).toBe(5);
    expect(Math.floor((1 - 0.9) * 250)).toBe(24); // the naive formula is off by one here
    expect(lowerRank(0.9, 250)).toBe(25);
    expect(lowerRank(0.999, 10)).toBe(0);
  });

  it("'lower' matches a full sort: VaR = -L[k], ES = -mean(L[0..k]) (random vectors, several S and c)", () => {
    const rnd = prng(1);
    for (const S of [1, 2, 10, 99, 250, 500, 1000]) {
      for (const cp of CONFIDENCES_PERMILLE) {
        for (const ties of [false, true]) {
          const L = randomPnl(rnd, S, ties);
          const hv = new HistoricalVar(S, { confidence: cp / 1000 });
          hv.compute(Float64Array.from(L));
          const ref = refVarLower(L, cp);
          expect(near(hv.var, ref.var, 0, 1e-12)).toBe(true);
          expect(near(hv.es, ref.es, 1e5, 1e-12)).toBe(true);
        }
      }
    }
  });

  it("'linear' matches R type 7 and the integral of its quantile function (random vectors)", () => {
    const rnd = prng(2);
    for (const S of [2, 3, 10, 250, 500]) {
      for (const cp of CONFIDENCES_PERMILLE) {
        const L = randomPnl(rnd, S);
        const hv = new HistoricalVar(S, { confidence: cp / 1000, quantile: 'linear' });
        hv.compute(Float64Array.from(L));
        const p = 1 - cp / 1000;
        expect(near(hv.var, -refQuantile7(L, p), 1e5, 1e-12)).toBe(true);
        expect(near(hv.es, refEsLinear(L, p), 1e5, 1e-7)).toBe(true);
        expect(hv.es).toBeGreaterThanOrEqual(hv.var - 1e-9);
      }
    }
  });

  it("'linear' by hand on a small vector (R: quantile(x, 0.05, type = 7) = -4.1)", () => {
    // sorted: -5 -3 -2 -1 0 1 2 4 7 10; h = 1 + 9 * 0.05 = 1.45 -> x(1) + 0.45 (x(2) - x(1)) = -5 + 0.45 * 2
    const x = Float64Array.of(-5, -3, -1, 0, 2, 4, 10, 7, 1, -2);
    const hv = new HistoricalVar(10, { confidence: 0.95, quantile: 'linear' });
    hv.compute(x);
    expect(hv.var).toBeCloseTo(4.1, 12);
    // ES = -(1/0.05) * integral_0^0.05 (-5 + 18 u) du = -(1/0.05) * (-0.25 + 9 * 0.0025) = 4.55
    expect(hv.es).toBeCloseTo(4.55, 12);
    // p = 0.25: h = 1 + 9 * 0.25 = 3.25 -> x(3) + 0.25 (x(4) - x(3)) = -2 + 0.25 = -1.75
    const q = new HistoricalVar(10, { confidence: 0.75, quantile: 'linear' });
    q.compute(x);
    expect(q.var).toBeCloseTo(1.75, 12);
    // 'lower' on the same vector: k = floor(0.05 * 10) = 0 -> VaR = ES = 5
    const lo = new HistoricalVar(10, { confidence: 0.95 });
    lo.compute(x);
    expect([lo.var, lo.es]).toEqual([5, 5]);
    expect(Array.from(x)).toEqual([-5, -3, -1, 0, 2, 4, 10, 7, 1, -2]); // the input is not reordered
  });

  it('scales by sqrt(horizon), gives 0 (not -0) for a flat book and 0 without scenarios', () => {
    const rnd = prng(3);
    const L = Float64Array.from(randomPnl(rnd, 250));
    const one = new HistoricalVar(250);
    const ten = new HistoricalVar(250, { horizonDays: 10 });
    one.compute(L);
    ten.compute(L);
    expect(ten.var).toBeCloseTo(one.var * Math.sqrt(10), 6);
    expect(ten.es).toBeCloseTo(one.es * Math.sqrt(10), 6);
    one.compute(new Float64Array(250));
    expect(Object.is(one.var, 0) && Object.is(one.es, 0)).toBe(true);
    const none = new HistoricalVar(0);
    none.compute(new Float64Array(0));
    expect([none.var, none.es]).toEqual([0, 0]);
    expect(() => new HistoricalVar(10, { confidence: 1 })).toThrow(RangeError);
  });

  it('incremental L (addScaled per notional change) equals the full recomputation', () => {
    const rnd = prng(4);
    const S = 500;
    const r = Array.from({ length: 50 }, () => Float64Array.from({ length: S }, () => (rnd() - 0.5) * 0.06));
    const w = new Float64Array(50);
    const L = new Float64Array(S);
    for (let step = 0; step < 5000; step++) {
      const i = Math.floor(rnd() * 50);
      const nw = rnd() < 0.1 ? 0 : (rnd() - 0.5) * 2e6;
      addScaled(L, nw - w[i]!, r[i]!, S);
      w[i] = nw;
    }
    let gross = 0;
    for (const x of w) gross += Math.abs(x);
    for (let s = 0; s < S; s++) {
      let full = 0;
      for (let i = 0; i < 50; i++) full += w[i]! * r[i]![s]!;
      expect(near(L[s]!, full, gross * 0.06)).toBe(true);
    }
  });
});

describe('addScaledMany', () => {
  it('gives the bits of one addScaled per position in order, for every group size and tail', () => {
    const rnd = prng(9);
    for (const S of [1, 3, 250, 257]) {
      const r = Array.from({ length: 24 }, () => Float64Array.from({ length: S }, () => (rnd() - 0.5) * 0.06));
      for (let k = 0; k <= 24; k++) {
        const start = Float64Array.from({ length: S }, () => (rnd() - 0.5) * 1e6);
        const d = Float64Array.from({ length: k + 3 }, () => (rnd() - 0.5) * 2e6);
        const rs = Array.from({ length: k }, () => r[Math.floor(rnd() * r.length)]!);
        const one = start.slice();
        for (let j = 0; j < k; j++) addScaled(one, d[j]!, rs[j]!, S);
        const many = start.slice();
        addScaledMany(many, d, rs, k, S);
        for (let s = 0; s < S; s++) if (!Object.is(many[s], one[s])) throw new Error(`S=${S} k=${k} s=${s}: ${many[s]} != ${one[s]}`);
      }
    }
  });
});

describe('ScenarioFold', () => {
  const scenarioSet = (rnd: () => number, S: number, n: number): ScenarioSet => ({
    size: S,
    requested: S,
    dates: [],
    returns: new Map(Array.from({ length: n }, (_, i) => [`I${i}`, Float64Array.from({ length: S }, () => (rnd() - 0.5) * 0.06)])),
    filled: new Map(),
    warnings: [],
  });
  /** foldStaged against one addScaled per staged position, for every group width (4, 3, 2, 1) and odd S. */
  const checkAgainstAddScaled = (expectSimd: boolean): void => {
    const rnd = prng(17);
    for (const S of [1, 2, 3, 250, 257]) {
      const n = 24;
      const sc = scenarioSet(rnd, S, n);
      const f = new ScenarioFold(sc);
      expect(f.simd).toBe(expectSimd);
      for (const [name, r] of sc.returns) expect(Array.from(f.returnsOf(name)!)).toEqual(Array.from(r));
      expect(f.returnsOf('NONE')).toBeUndefined();
      expect(f.returnsId('NONE')).toBe(-1);
      for (let k = 0; k <= n; k++) {
        const start = Float64Array.from({ length: S }, () => (rnd() - 0.5) * 1e6);
        const one = start.slice();
        const many = start.slice();
        for (let j = 0; j < k; j++) {
          const d = (rnd() - 0.5) * 2e6;
          const name = `I${Math.floor(rnd() * n)}`;
          addScaled(one, d, sc.returns.get(name)!, S);
          f.stage(j, d, f.returnsId(name));
        }
        f.foldStaged(many, k);
        for (let s = 0; s < S; s++) if (!Object.is(many[s], one[s])) throw new Error(`S=${S} k=${k} s=${s}: ${many[s]} != ${one[s]}`);
      }
    }
  };

  it('folds in WebAssembly SIMD with the bits of one addScaled per position in order', () => {
    checkAgainstAddScaled(true);
  });

  it('folds resident L vectors in place with the bits of addScaled, each apart from the others and the returns', () => {
    const rnd = prng(29);
    for (const S of [1, 3, 250, 257]) {
      const n = 12;
      const sc = scenarioSet(rnd, S, n);
      const f = new ScenarioFold(sc, 4, 3);
      const slots = [f.residentL()!, f.residentL()!, f.residentL()!];
      expect(f.residentL()).toBeUndefined();
      expect(new Set(slots.map((x) => x.at)).size).toBe(3);
      for (const x of slots) expect(Array.from(x.L)).toEqual(new Array<number>(S).fill(0));
      // Each resident (and one plain L through the copy path) against addScaled, interleaved.
      const plain = new Float64Array(S);
      const refs = [0, 1, 2, 3].map(() => new Float64Array(S));
      for (let round = 0; round < 40; round++) {
        const which = Math.floor(rnd() * 4);
        const k = 1 + Math.floor(rnd() * (n + 4));
        for (let j = 0; j < k; j++) {
          const d = (rnd() - 0.5) * 2e6;
          const name = `I${Math.floor(rnd() * n)}`;
          addScaled(refs[which]!, d, sc.returns.get(name)!, S);
          f.stage(j, d, f.returnsId(name));
        }
        if (which < 3) f.foldStaged(slots[which]!.L, k, slots[which]!.at);
        else f.foldStaged(plain, k);
        const got = [...slots.map((x) => x.L), plain];
        for (let w = 0; w < 4; w++) for (let s = 0; s < S; s++) if (!Object.is(got[w]![s], refs[w]![s])) throw new Error(`S=${S} round=${round} L${w} s=${s}: ${got[w]![s]} != ${refs[w]![s]}`);
      }
      for (const [name, r] of sc.returns) expect(Array.from(f.returnsOf(name)!)).toEqual(Array.from(r));
    }
  });

  it('computes VaR and ES of resident L vectors with the bits of HistoricalVar.compute (WebAssembly selection, and its fallbacks)', () => {
    const rnd = prng(43);
    for (const S of [1, 7, 8, 250, 257]) {
      const sc = scenarioSet(rnd, S, 6);
      const f = new ScenarioFold(sc, 0, 2);
      const slot = f.residentL()!;
      // c = 0.5 needs more order statistics than the buffer holds (the JavaScript selection).
      for (const [confidence, quantile] of [[0.99, 'lower'], [0.9, 'lower'], [0.95, 'linear'], [0.5, 'lower']] as const) {
        const a = new HistoricalVar(S, { confidence, quantile });
        const b = new HistoricalVar(S, { confidence, quantile });
        for (let round = 0; round < 30; round++) {
          for (let s = 0; s < S; s++) slot.L[s] = round % 5 === 4 ? Math.round((rnd() - 0.5) * 6) * 1000 : (rnd() - 0.52) * 2e5;
          a.compute(slot.L);
          b.computeResident(slot.L, f, slot.at);
          expect([Object.is(a.var, b.var), Object.is(a.es, b.es)]).toEqual([true, true]);
        }
      }
    }
    expect(new ScenarioFold(scenarioSet(rnd, 250, 2), 0, 1).smallestOf(0, 250, BUFFER_MAX + 1)).toBeUndefined();
  });

  it('has no resident L without WebAssembly', () => {
    const g = globalThis as { WebAssembly?: unknown };
    const saved = g.WebAssembly;
    g.WebAssembly = undefined;
    try {
      const sc = scenarioSet(prng(3), 5, 2);
      expect(new ScenarioFold(sc, 0, 4).residentL()).toBeUndefined();
    } finally {
      g.WebAssembly = saved;
    }
  });

  it('falls back to addScaledMany without WebAssembly, with the same bits', () => {
    const g = globalThis as { WebAssembly?: unknown };
    const saved = g.WebAssembly;
    g.WebAssembly = undefined;
    try {
      checkAgainstAddScaled(false);
    } finally {
      g.WebAssembly = saved;
    }
  });
});

describe('buildScenarios', () => {
  const dates = Array.from({ length: 8 }, (_, d) => `2024-01-0${d + 1}`);
  const history: History = {
    dates,
    closes: new Map([
      ['A', Float64Array.of(10, 11, 12, 11, 10, 10, 12, 15)],
      ['B', Float64Array.of(5, 5, Number.NaN, 5, 6, 6, 6, 3)],
    ]),
  };

  it('takes r[s] = close[s] / close[s-1] - 1 over the last S+1 dates', () => {
    const sc = buildScenarios(history, 4);
    expect(sc.size).toBe(4);
    expect(sc.dates).toEqual(dates.slice(4));
    expect(Array.from(sc.returns.get('A')!)).toEqual([10 / 11 - 1, 0, 12 / 10 - 1, 15 / 12 - 1]);
    expect(sc.warnings).toEqual([]);
  });

  it('fills missing closes with a 0 return, counts them, and never yields NaN', () => {
    const sc = buildScenarios(history, 7);
    expect(Array.from(sc.returns.get('B')!)).toEqual([0, 0, 0, 6 / 5 - 1, 0, 0, 3 / 6 - 1]);
    expect(sc.filled.get('B')).toBe(2);
    expect(sc.warnings.some((w) => w.startsWith('B: 2 of 7'))).toBe(true);
    for (const r of sc.returns.values()) expect(r.every(Number.isFinite)).toBe(true);
  });

  it('uses fewer scenarios when the history is short, none without history', () => {
    const sc = buildScenarios(history, 250);
    expect(sc.size).toBe(7);
    expect(sc.warnings[0]).toMatch(/7 VaR scenarios instead of 250/);
    const none = buildScenarios(undefined, 250);
    expect(none.size).toBe(0);
    expect(none.returns.size).toBe(0);
  });
});

describe('parametric VaR', () => {
  it('normalQuantile (AS 241) matches published values', () => {
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0.99)).toBeCloseTo(2.3263478740408408, 14);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 14);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 14);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263478740408408, 14);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 12);
    expect(normalPdf(0)).toBeCloseTo(0.3989422804014327, 15);
  });

  it('VaR = z sqrt(w Sigma w) sqrt(h) with the EWMA covariance, kept incrementally (QuadForm)', () => {
    const rnd = prng(5);
    const T = 300;
    const dates = Array.from({ length: T }, (_, d) => `d${String(d).padStart(3, '0')}`);
    const names = ['A', 'B', 'C', 'D'];
    const closes = new Map<string, Float64Array>();
    for (const nm of names) {
      const c = new Float64Array(T);
      let p = 100;
      for (let d = 0; d < T; d++) c[d] = p *= 1 + (rnd() - 0.5) * 0.05;
      closes.set(nm, c);
    }
    const sc = buildScenarios({ dates, closes }, 250);
    const pm = new ParametricModel(sc, { confidence: 0.99, horizonDays: 4, lambda: 0.94 });
    // Direct EWMA covariance: weights (1 - l) l^j / (1 - l^T), newest return j = 0.
    const lam = 0.94;
    const S = sc.size;
    const cov = (a: string, b: string): number => {
      const ra = sc.returns.get(a)!;
      const rb = sc.returns.get(b)!;
      let s = 0;
      for (let j = 0; j < S; j++) s += ((1 - lam) * lam ** j * ra[S - 1 - j]! * rb[S - 1 - j]!) / (1 - lam ** S);
      return s;
    };
    const w = new Float64Array(pm.n);
    const qf = new QuadForm(pm.n);
    for (let step = 0; step < 200; step++) {
      const i = Math.floor(rnd() * pm.n);
      const nw = (rnd() - 0.5) * 1e6;
      qf.add(pm, i, nw - w[i]!);
      w[i] = nw;
    }
    let q = 0;
    for (const a of names) for (const b of names) q += w[pm.index.get(a)!]! * w[pm.index.get(b)!]! * cov(a, b);
    const want = 2.3263478740408408 * Math.sqrt(q) * 2;
    expect(near(pm.var(qf.q), want, 0, 1e-9)).toBe(true);
    expect(near(pm.es(qf.q), (normalPdf(2.3263478740408408) / 0.01) * Math.sqrt(q) * 2, 0, 1e-9)).toBe(true);
    const fresh = new QuadForm(pm.n);
    fresh.rebuild(pm, w);
    expect(near(fresh.q, q, 0, 1e-9)).toBe(true);
    expect(pm.var(-1e-12)).toBe(0);
  });
});

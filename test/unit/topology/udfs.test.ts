import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TopologyError } from '../../../src/core/errors.js';
import { defaultUdfDir, defineAggregate, defineMap, defineScalar, isUdfDefinition, loadUdfs, parseTopology, UdfRegistry } from '../../../src/topology/index.js';
import { ewma } from '../../../udfs/ewma.js';
import { bps } from '../../../udfs/bps.js';
import { runTopology } from './harness.js';

describe('udfs', () => {
  it('loads the repo udfs/ by default', async () => {
    expect(defaultUdfDir()).toMatch(/[/\\]udfs$/);
    const reg = await loadUdfs();
    expect(reg.names('aggregate')).toContain('ewma');
    expect(reg.names('scalar')).toContain('bps');
    expect(reg.names('process')).toContain('positionCross');
    expect(reg.scalars.get('bps')).toBe(bps);
  });

  it('loads .mjs modules from other directories and rejects duplicate names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-udfs-'));
    const helpers = new URL('../../../src/topology/udfs.ts', import.meta.url).href;
    await writeFile(join(dir, 'a.mjs'), `import { defineScalar } from '${helpers}';\nexport const twice = defineScalar('twice', (x) => 2 * x);\nexport const notAUdf = 5;\n`);
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    const reg = await loadUdfs([dir]);
    expect(reg.names('scalar')).toEqual(['twice']);
    await writeFile(join(dir, 'b.mjs'), `import { defineScalar } from '${helpers}';\nexport const again = defineScalar('twice', (x) => x);\n`);
    await expect(loadUdfs([dir, join(dir, 'missing')])).rejects.toThrow(/two scalar udfs are named 'twice'/);
    expect(await loadUdfs([join(dir, 'does-not-exist')])).toBeInstanceOf(UdfRegistry);
  });

  it('define* helpers tag their values and check names', () => {
    expect(isUdfDefinition(bps)).toBe(true);
    expect(isUdfDefinition({ kind: 'scalar', name: 'x', fn: () => 1 })).toBe(false);
    expect(() => defineScalar('not a name', () => 1)).toThrow(TopologyError);
  });

  it('ewma weights by event time, independent of arrival order, and merges exactly', () => {
    const agg = ewma.factory((r: { v: number }) => r.v, '10s');
    const recs = [
      { ts: 0, v: 10 },
      { ts: 10_000, v: 20 },
      { ts: 20_000, v: 40 },
    ];
    const run = (xs: typeof recs) => agg.getResult(xs.reduce((a, r) => agg.add(a, r), agg.createAccumulator()));
    // weights 0.25, 0.5, 1 (half-life 10s)
    const want = (10 * 0.25 + 20 * 0.5 + 40) / 1.75;
    expect(run(recs)).toBeCloseTo(want, 12);
    expect(run([recs[2]!, recs[0]!, recs[1]!])).toBeCloseTo(want, 12);
    const a = agg.add(agg.createAccumulator(), recs[0]!);
    const b = agg.add(agg.add(agg.createAccumulator(), recs[1]!), recs[2]!);
    expect(agg.getResult(agg.merge(a, b))).toBeCloseTo(want, 12);
    expect(agg.getResult(agg.createAccumulator())).toBeNaN();
    expect(() => ewma.factory((r: { v: number }) => r.v, '-1s')).toThrow();
    expect(structuredClone(b)).toEqual(b);
  });

  it('aggregate and map udfs in a topology; constant args are values, the others extractors', async () => {
    const seen: unknown[] = [];
    const range = defineAggregate('range', (f: (r: unknown) => number, scale: unknown) => {
      seen.push(typeof f, scale);
      return {
        createAccumulator: () => ({ lo: Infinity, hi: -Infinity }),
        add: (a: { lo: number; hi: number }, r: unknown) => ({ lo: Math.min(a.lo, f(r)), hi: Math.max(a.hi, f(r)) }),
        getResult: (a: { lo: number; hi: number }) => (a.hi - a.lo) * (scale as number),
        merge: (a: { lo: number; hi: number }, b: { lo: number; hi: number }) => ({ lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) }),
      };
    });
    const tag = defineMap('tag', (r: { qty: number }, p: { desk: string }) => (r.qty > 1 ? { ...r, desk: p.desk } : undefined));
    const t = await parseTopology(
      `
name: udf-steps
parameters: { scale: 10 }
sources: { trades: { stream: trade } }
steps:
  - { id: tagged, type: map, input: trades, udf: tag, params: { desk: EQ } }
  - { id: w, type: window, input: tagged, keyBy: desk, window: { type: tumbling, size: 1m }, aggregate: { r: "range(price * 2, params.scale)", e: "ewma(price, 1m)" } }
  - { id: out, type: sink, input: w }
`,
      { udfs: UdfRegistry.of([range, tag]) },
    );
    const res = runTopology(t, {
      trades: [
        { ts: 1000, qty: 5, price: 10 },
        { ts: 2000, qty: 1, price: 99 },
        { ts: 3000, qty: 5, price: 12 },
      ],
    });
    expect(seen.slice(-2)).toEqual(['function', 10]);
    expect(res.outputs.out).toHaveLength(1);
    expect(res.outputs.out![0]).toMatchObject({ desk: 'EQ', r: 40 });
    expect(res.outputs.out![0].e).toBeGreaterThan(11);
  });

  it('a throwing map udf stops the run with a UserFunctionError naming step and udf', async () => {
    const bad = defineMap('bad', () => {
      throw new TypeError('no');
    });
    const t = await parseTopology(
      'name: x\nsources: { trades: { stream: trade } }\nsteps:\n  - { id: m, type: map, input: trades, udf: bad }\n  - { id: out, type: sink, input: m }\n',
      { udfs: UdfRegistry.of([bad]) },
    );
    const res = runTopology(t, { trades: [{ ts: 1 }] });
    expect(res.errors).toHaveLength(1);
    expect((res.errors[0] as TopologyError).step).toBe('m');
    expect((res.errors[0] as Error).message).toBe("map udf 'bad' threw in map: no");
  });
});

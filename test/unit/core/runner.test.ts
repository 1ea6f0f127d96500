import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { elementOperator } from '../../../src/operators/internals.js';
import { Runner, type BatchSource, type JobSinks, type RunnableTopology, type SourceBatch } from '../../../src/core/runner.js';
import { CheckpointStore, readCheckpoint, type CheckpointData } from '../../../src/core/checkpoint.js';
import { makeAlert, type Alert } from '../../../src/core/alerts.js';
import { emptyReference } from '../../../src/core/reference.js';
import { ManualClock } from '../../../src/core/time.js';
import type { Timestamped, Watermark } from '../../../src/core/element.js';

interface Rec extends Timestamped {
  k: string;
  v: number;
}

/** An in-memory source of (stream index, record) pairs, cut into batches of `size`. */
class ArraySource implements BatchSource {
  private i = 0;
  constructor(readonly streamNames: string[], private readonly items: Array<[number, Rec]>, private readonly size: number) {}
  async nextBatch(): Promise<SourceBatch | null> {
    if (this.i >= this.items.length) return null;
    const slice = this.items.slice(this.i, this.i + this.size);
    this.i += slice.length;
    return { records: slice.map((x) => x[1]), streams: Uint8Array.from(slice.map((x) => x[0])), length: slice.length };
  }
  position(): unknown {
    return this.i;
  }
  async seek(pos: unknown): Promise<void> {
    this.i = pos as number;
  }
}

/**
 * A test topology: per key, sums `v` of records until the watermark passes each 1000 ms bucket,
 * then alerts with the bucket's sum (so watermarks, buffering and state all matter).
 */
function bucketTopology(name: string, opts: { liveSnapshot?: boolean } = {}): RunnableTopology {
  return {
    name,
    sources: [
      { name: 'a', stream: 'alpha', outOfOrdernessMs: 50, idleTimeoutMs: 2000 },
      { name: 'b', stream: 'beta', outOfOrdernessMs: 0, idleTimeoutMs: 2000 },
    ],
    build(env) {
      const op = elementOperator<Rec, never>(
        () => {
          let buckets = new Map<string, number>(); // "bucket|key" -> sum
          return {
            onRecord(r) {
              const b = Math.floor(r.ts / 1000);
              const k = `${b}|${r.k}`;
              buckets.set(k, (buckets.get(k) ?? 0) + r.v);
            },
            onWatermark(wm: Watermark, emit) {
              const due = [...buckets.keys()].filter((k) => (Number(k.split('|')[0]) + 1) * 1000 - 1 <= wm.ts).sort();
              for (const k of due) {
                const [b, key] = k.split('|');
                env.onAlert(
                  makeAlert(
                    {
                      type: 'BUCKET', severity: 'info', topic: 'market-risk-alerts', rule: 'bucket', topology: name,
                      entity: { instrument: key! }, eventTime: Number(b) * 1000 + 999, value: buckets.get(k)!, threshold: 0,
                      message: '', details: {},
                    },
                    env.ctx.clock.now(),
                  ),
                );
                buckets.delete(k);
              }
              emit(wm);
            },
            // liveSnapshot: hands out the live map (the checkpoint must serialise it at once).
            checkpoint: { snapshot: () => (opts.liveSnapshot ? buckets : new Map(buckets)), restore: (s) => (buckets = new Map(s as Map<string, number>)) },
          };
        },
        { id: `${name}/bucket`, ctx: env.ctx },
      );
      env.inputs.a!.pipe(op).subscribe({ error: (e) => env.onError?.(e) });
      env.inputs.b!.subscribe({ error: (e) => env.onError?.(e) });
    },
  };
}

class MemorySinks implements JobSinks {
  alerts: Alert[] = [];
  onAlert(a: Alert) {
    this.alerts.push(a);
  }
  onOutput() {}
  onLate() {}
  async flush() {}
  snapshot() {
    return this.alerts.length;
  }
  async restore(n: unknown) {
    this.alerts.length = n as number;
  }
}

function items(n: number): Array<[number, Rec]> {
  const out: Array<[number, Rec]> = [];
  let seed = 7;
  for (let i = 0; i < n; i++) {
    seed = (seed * 16807) % 2147483647;
    const jitter = seed % 40; // out of order by up to 40 ms < bound 50
    out.push([i % 5 === 0 ? 1 : 0, { ts: i * 37 - jitter + 100, k: `K${seed % 3}`, v: seed % 100 }]);
  }
  return out;
}

const strip = (a: Alert[]) => a.map(({ emittedAt: _e, ...rest }) => rest);

/** Runs topology `t` over `all` to the end from a checkpoint. */
function resumeRun(all: Array<[number, Rec]>, sinks: MemorySinks, store: CheckpointStore, restore: CheckpointData) {
  return new Runner({
    source: new ArraySource(['alpha', 'beta'], all, 50),
    topologies: [bucketTopology('t')],
    reference: emptyReference(),
    sinks,
    clock: new ManualClock(0),
    checkpoint: { store, fingerprint: 'f', restore },
  }).run();
}

describe('Runner', () => {
  it('pushes records, generates watermarks, flushes everything at the end', async () => {
    const sinks = new MemorySinks();
    const stats = await new Runner({
      source: new ArraySource(['alpha', 'beta'], items(500), 64),
      topologies: [bucketTopology('t')],
      reference: emptyReference(),
      sinks,
      clock: new ManualClock(0),
    }).run();
    expect(stats.completed).toBe(true);
    expect(stats.events).toBe(500);
    expect(stats.eventsByStream).toEqual({ alpha: 400, beta: 100 });
    const total = items(500).filter(([s]) => s === 0).reduce((a, [, r]) => a + r.v, 0);
    expect(sinks.alerts.reduce((a, x) => a + x.value, 0)).toBe(total);
    // every bucket alerted once
    expect(new Set(sinks.alerts.map((a) => a.alertId)).size).toBe(sinks.alerts.length);
  });

  it('every reader of a stream gets the watermarks of its own bound (targets with equal watermarks share one object), in batches of any size', async () => {
    // Batches of 600: push reads event times ahead in chunks of 256 records, so chunk edges are crossed.
    for (const size of [64, 600]) await readerWatermarks(size);
  });

  async function readerWatermarks(size: number): Promise<void> {
    const all = items(600);
    const bounds = [0, 0, 50, 0];
    const seen: number[][] = bounds.map(() => []);
    const topologies: RunnableTopology[] = bounds.map((bound, k) => ({
      name: `w${k}`,
      sources: [{ name: 'a', stream: 'alpha', outOfOrdernessMs: bound, idleTimeoutMs: Number.POSITIVE_INFINITY }],
      build(env) {
        env.inputs.a!.subscribe((e) => {
          if (typeof e === 'object' && e !== null && !('k' in e)) seen[k]!.push((e as Watermark).ts);
        });
      },
    }));
    await new Runner({ source: new ArraySource(['alpha', 'beta'], all, size), topologies, reference: emptyReference(), sinks: new MemorySinks(), clock: new ManualClock(0) }).run();
    // Independent reference: max ts seen minus the bound minus 1, sent once it moved >= 100 ms, then END_OF_TIME.
    bounds.forEach((bound, k) => {
      const want: number[] = [];
      let max = Number.NEGATIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      for (const [s, r] of all) {
        if (s !== 0) continue;
        max = Math.max(max, r.ts);
        const wm = max - bound - 1;
        if (wm - last >= 100) {
          want.push(wm);
          last = wm;
        }
      }
      want.push(Number.POSITIVE_INFINITY);
      expect(seen[k], `batches of ${size}`).toEqual(want);
    });
  }

  it('readers of one stream with equal bounds share a tracker: each sees what it sees alone, across a checkpoint too', async () => {
    // alpha goes quiet from 3000 to 9000 while beta goes on: its readers' watermarks then follow the
    // job's clock once they are idle (after 1000 or 2500 ms), so idleness is exercised as well.
    const all: Array<[number, Rec]> = [];
    for (let t = 0; t < 12_000; t += 7) all.push([(t >= 3000 && t < 9000) || t % 3 === 0 ? 1 : 0, { ts: t - (t % 11), k: 'K', v: 1 }]);
    const readers = [
      { stream: 'alpha', bound: 50, idle: 1000 },
      { stream: 'beta', bound: 0, idle: 1000 },
      { stream: 'alpha', bound: 50, idle: 1000 },
      { stream: 'alpha', bound: 50, idle: 2500 },
      { stream: 'alpha', bound: 0, idle: 1000 },
      { stream: 'beta', bound: 0, idle: 1000 },
      { stream: 'alpha', bound: 50, idle: 1000 },
    ];
    const reader = (k: number, log: string[]): RunnableTopology => ({
      name: `r${k}`,
      sources: [{ name: 'a', stream: readers[k]!.stream, outOfOrdernessMs: readers[k]!.bound, idleTimeoutMs: readers[k]!.idle }],
      build(env) {
        env.inputs.a!.subscribe((e) => log.push('k' in (e as object) ? `r${(e as Rec).ts}` : `w${(e as Watermark).ts}`));
      },
    });
    const run = async (ks: number[], logs: string[][], extra: { stopAfter?: number; restore?: CheckpointData; store?: CheckpointStore } = {}) => {
      const ac = new AbortController();
      let batches = 0;
      return new Runner({
        source: new ArraySource(['alpha', 'beta'], all, 64),
        topologies: ks.map((k, i) => reader(k, logs[i]!)),
        reference: emptyReference(),
        sinks: new MemorySinks(),
        clock: new ManualClock(0),
        checkpoint: extra.store ? { store: extra.store, fingerprint: 'f', everyEventMs: 1e9, restore: extra.restore } : undefined,
        signal: ac.signal,
        checkpointOnStop: true,
        onBatch: () => {
          if (++batches === extra.stopAfter) ac.abort();
        },
      }).run();
    };
    const ks = readers.map((_, k) => k);
    const together = ks.map((): string[] => []);
    await run(ks, together);
    for (const k of ks) {
      const alone: string[][] = [[]];
      await run([k], alone);
      expect(together[k]).toEqual(alone[0]);
      const wms = alone[0]!.filter((x) => x.startsWith('w')).map((x) => Number(x.slice(1)));
      expect(wms.length).toBeGreaterThan(20);
      // While alpha is quiet, its readers' watermarks come from the idle checks alone: once idle,
      // every 100 ms of the job's clock.
      const { stream, idle } = readers[k]!;
      if (stream === 'alpha') expect(wms.filter((w) => w > 3000 + idle && w < 8900).length).toBeGreaterThan((5900 - idle) / 100 - 10);
    }
    // Stopped after 15 of 27 batches (alpha idle by then), checkpointed, restored: the rest follows on.
    const store = new CheckpointStore(await mkdtemp(join(tmpdir(), 'rf-run-')));
    const cut = ks.map((): string[] => []);
    await run(ks, cut, { stopAfter: 15, store });
    const restored = ks.map((): string[] => []);
    await run(ks, restored, { restore: (await store.latest())!, store });
    expect(ks.map((k) => [...cut[k]!, ...restored[k]!])).toEqual(together);
  });

  it('hands the sinks what the topologies give in record-by-record order (records, then topologies), in batches of any size', async () => {
    // Beta stops at record 400, so its readers go idle and the idle checks send their watermarks.
    const all = items(900).filter(([s], i) => s === 0 || i < 400);
    const decls = [
      [{ name: 'a', stream: 'alpha', outOfOrdernessMs: 50, idleTimeoutMs: 3000 }, { name: 'b', stream: 'beta', outOfOrdernessMs: 0, idleTimeoutMs: 3000 }],
      [{ name: 'b', stream: 'beta', outOfOrdernessMs: 0, idleTimeoutMs: 3000 }],
      [{ name: 'x', stream: 'alpha', outOfOrdernessMs: 0, idleTimeoutMs: 1000 }, { name: 'y', stream: 'alpha', outOfOrdernessMs: 0, idleTimeoutMs: 1000 }, { name: 'b', stream: 'beta', outOfOrdernessMs: 10, idleTimeoutMs: 500 }],
    ];
    // Every element a topology reads goes to the sinks at once, by a call of its own kind.
    const topologies: RunnableTopology[] = decls.map((sources, k) => ({
      name: `t${k}`,
      sources,
      build(env) {
        for (const d of sources) {
          let n = 0;
          env.inputs[d.name]!.subscribe((e) => {
            const r = e as Rec;
            if (!('k' in (e as object))) env.onLate(`t${k}`, `${d.name} wm ${r.ts}`);
            else if (++n % 5 === 0) env.onSnapshot?.(`t${k}`, r.ts, [{ from: d.name }]);
            else if (n % 7 === 0) env.onAlert({ alertId: `t${k} ${d.name} ${r.ts}` } as Alert);
            else env.onOutput(`t${k}`, `${d.name} ${r.ts}`);
          });
        }
      },
    }));
    const want = interleaved(all, decls);
    for (const size of [1, 7, 64, 1000]) {
      const got: string[] = [];
      const sinks: JobSinks = {
        onAlert: (a) => got.push(a.alertId),
        onOutput: (name, r) => got.push(`${name} ${String(r)}`),
        onLate: (step, r) => got.push(`${step} ${String(r)}`),
        onSnapshot: (table, time, rows) => got.push(`${table} ${(rows as Array<{ from: string }>)[0]!.from} ${time} snapshot`),
        flush: async () => undefined,
      };
      await new Runner({ source: new ArraySource(['alpha', 'beta'], all, size), topologies, reference: emptyReference(), sinks, clock: new ManualClock(0) }).run();
      expect(got, `batches of ${size}`).toEqual(want);
    }
  });

  /**
   * Independent reference of the sink calls of the test above: the runner's semantics one record
   * at a time. Each record goes to every topology in turn (each of its readers of the record's
   * stream: the record, then that reader's watermark if it moved by 100 ms or more); every 100 ms
   * of event time an idle check moves idle readers to the clock; END_OF_TIME comes last.
   */
  function interleaved(all: Array<[number, Rec]>, decls: Array<Array<{ name: string; stream: string; outOfOrdernessMs: number; idleTimeoutMs: number }>>): string[] {
    const out: string[] = [];
    const groups = new Map<string, { stream: number; bound: number; idle: number; maxTs: number; active: number; clock: number; emitted: number; last: number; send: number | undefined }>();
    const key = (d: { stream: string; outOfOrdernessMs: number; idleTimeoutMs: number }) => `${d.stream}|${d.outOfOrdernessMs}|${d.idleTimeoutMs}`;
    for (const ds of decls) for (const d of ds) if (!groups.has(key(d))) groups.set(key(d), { stream: d.stream === 'alpha' ? 0 : 1, bound: d.outOfOrdernessMs, idle: d.idleTimeoutMs, maxTs: -Infinity, active: -Infinity, clock: -Infinity, emitted: -Infinity, last: -Infinity, send: undefined });
    type G = typeof groups extends Map<string, infer V> ? V : never;
    const moveClock = (g: G, now: number) => {
      if (now <= g.clock) return;
      if (g.clock === -Infinity && g.active === -Infinity) g.active = now;
      g.clock = now;
    };
    const stage = (g: G) => {
      const held = g.clock - g.active >= g.idle ? Math.max(g.maxTs, g.clock) : g.maxTs;
      if (held !== Infinity && held - g.bound - 1 > g.emitted) g.emitted = held - g.bound - 1;
      g.send = g.emitted - g.last >= 100 ? (g.last = g.emitted) : undefined;
    };
    const counters = decls.map((ds) => ds.map(() => 0));
    let globalMax = -Infinity;
    let nextIdle = -Infinity;
    for (const [s, r] of all) {
      globalMax = Math.max(globalMax, r.ts);
      for (const g of groups.values()) {
        if (g.stream !== s) continue;
        moveClock(g, r.ts);
        g.maxTs = Math.max(g.maxTs, r.ts);
        g.active = g.clock;
        stage(g);
      }
      decls.forEach((ds, k) =>
        ds.forEach((d, j) => {
          if ((d.stream === 'alpha' ? 0 : 1) !== s) return;
          const n = ++counters[k]![j]!;
          // Alerts (every 7th) and outputs read alike here; the order is what is checked.
          out.push(n % 5 === 0 ? `t${k} ${d.name} ${r.ts} snapshot` : `t${k} ${d.name} ${r.ts}`);
          const w = groups.get(key(d))!.send;
          if (w !== undefined) out.push(`t${k} ${d.name} wm ${w}`);
        }),
      );
      if (globalMax >= nextIdle) {
        nextIdle = globalMax + 100;
        for (const g of groups.values()) {
          moveClock(g, globalMax);
          stage(g);
        }
        decls.forEach((ds, k) =>
          ds.forEach((d) => {
            const w = groups.get(key(d))!.send;
            if (w !== undefined) out.push(`t${k} ${d.name} wm ${w}`);
          }),
        );
      }
    }
    decls.forEach((ds, k) => ds.forEach((d) => out.push(`t${k} ${d.name} wm Infinity`)));
    return out;
  }

  it('times a sampled record over everything it causes in every topology', async () => {
    const all = items(30);
    // Every topology spends 3 ms on the third record (the first sampled one with latencySampleEvery 3).
    const slow = all[2]![1];
    const topologies: RunnableTopology[] = [0, 1].map((k) => ({
      name: `t${k}`,
      sources: [{ name: 'a', stream: 'alpha', outOfOrdernessMs: 0, idleTimeoutMs: 1000 }, { name: 'b', stream: 'beta', outOfOrdernessMs: 0, idleTimeoutMs: 1000 }],
      build(env) {
        const busy = (e: unknown) => {
          if (e !== slow) return;
          const until = performance.now() + 3;
          while (performance.now() < until);
        };
        env.inputs.a!.subscribe(busy);
        env.inputs.b!.subscribe(busy);
      },
    }));
    const runner = new Runner({ source: new ArraySource(['alpha', 'beta'], all, 16), topologies, reference: emptyReference(), sinks: new MemorySinks(), clock: new ManualClock(0), latencySampleEvery: 3 });
    await runner.run();
    const l = runner.latencyPercentiles()!;
    expect(l.samples).toBe(10);
    expect(l.max).toBeGreaterThanOrEqual(6000);
    expect(l.p50).toBeLessThan(3000);
  });

  it('gives the same output whatever the batch size', async () => {
    const run = async (size: number) => {
      const sinks = new MemorySinks();
      await new Runner({
        source: new ArraySource(['alpha', 'beta'], items(700), size),
        topologies: [bucketTopology('t')],
        reference: emptyReference(),
        sinks,
        clock: new ManualClock(0),
      }).run();
      return strip(sinks.alerts);
    };
    const one = await run(1);
    expect(await run(7)).toEqual(one);
    expect(await run(1000)).toEqual(one);
  });

  it('stop -> checkpoint -> restore -> continue equals an uninterrupted run', async () => {
    const all = items(900);
    const full = new MemorySinks();
    await new Runner({
      source: new ArraySource(['alpha', 'beta'], all, 50),
      topologies: [bucketTopology('t')],
      reference: emptyReference(),
      sinks: full,
      clock: new ManualClock(0),
    }).run();

    for (const stopAfter of [1, 5, 11, 17]) {
      const dir = await mkdtemp(join(tmpdir(), 'rf-run-'));
      const store = new CheckpointStore(dir);
      const sinks = new MemorySinks();
      const ac = new AbortController();
      let batches = 0;
      const first = await new Runner({
        source: new ArraySource(['alpha', 'beta'], all, 50),
        topologies: [bucketTopology('t')],
        reference: emptyReference(),
        sinks,
        clock: new ManualClock(0),
        checkpoint: { store, fingerprint: 'f', everyEventMs: 5000 },
        signal: ac.signal,
        checkpointOnStop: true,
        onBatch: () => {
          if (++batches === stopAfter) ac.abort();
        },
      }).run();
      expect(first.completed).toBe(false);
      // Anything emitted after the checkpoint is discarded by the sink's restore.
      const restore = await store.latest();
      expect(restore).toBeDefined();
      const second = await resumeRun(all, sinks, store, restore!);
      expect(second.completed).toBe(true);
      expect(second.events).toBe(900);
      expect(strip(sinks.alerts)).toEqual(strip(full.alerts));
    }
  });

  it('background checkpoints capture the state of their instant (restoring any of them and continuing equals an uninterrupted run)', async () => {
    const all = items(900);
    const full = new MemorySinks();
    await new Runner({ source: new ArraySource(['alpha', 'beta'], all, 50), topologies: [bucketTopology('t')], reference: emptyReference(), sinks: full, clock: new ManualClock(0) }).run();

    const dir = await mkdtemp(join(tmpdir(), 'rf-run-'));
    const store = new CheckpointStore(dir, { keep: 1000 });
    const first = new MemorySinks();
    const stats = await new Runner({
      source: new ArraySource(['alpha', 'beta'], all, 50),
      topologies: [bucketTopology('t', { liveSnapshot: true })],
      reference: emptyReference(),
      sinks: first,
      clock: new ManualClock(0),
      checkpoint: { store, fingerprint: 'f', everyEventMs: 2000, background: true },
      checkpointOnComplete: true,
    }).run();
    expect(strip(first.alerts)).toEqual(strip(full.alerts));
    const files = await store.list();
    expect(files.length).toBe(stats.checkpoints);
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) {
      const restore = await readCheckpoint(join(dir, f));
      const sinks = new MemorySinks();
      await sinks.restore(restore.sinks);
      sinks.alerts = first.alerts.slice(0, restore.sinks as number);
      const second = await resumeRun(all, sinks, new CheckpointStore(await mkdtemp(join(tmpdir(), 'rf-run-'))), restore);
      expect(second.completed).toBe(true);
      expect(strip(sinks.alerts)).toEqual(strip(full.alerts));
    }
  });

  it('refuses a checkpoint of another job', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-run-'));
    const store = new CheckpointStore(dir);
    const ac = new AbortController();
    ac.abort();
    await new Runner({
      source: new ArraySource(['alpha', 'beta'], items(10), 5),
      topologies: [bucketTopology('t')],
      reference: emptyReference(),
      sinks: new MemorySinks(),
      checkpoint: { store, fingerprint: 'one' },
      signal: ac.signal,
      checkpointOnStop: true,
    }).run();
    const restore = await store.latest();
    await expect(
      new Runner({
        source: new ArraySource(['alpha', 'beta'], items(10), 5),
        topologies: [bucketTopology('t')],
        reference: emptyReference(),
        sinks: new MemorySinks(),
        checkpoint: { store, fingerprint: 'two', restore },
      }).run(),
    ).rejects.toMatchObject({ code: 'E_CHECKPOINT' });
  });

  it('stops with the error a user function raised inside the graph', async () => {
    const topo: RunnableTopology = {
      name: 'bad',
      sources: [{ name: 'a', stream: 'alpha', outOfOrdernessMs: 0, idleTimeoutMs: 1000 }],
      build(env) {
        env.inputs.a!.pipe(
          elementOperator<Rec, Rec>(() => ({
            onRecord(r) {
              if (r.v > 50) throw new Error('boom');
            },
          })),
        ).subscribe({ error: (e) => env.onError?.(e) });
      },
    };
    await expect(
      new Runner({ source: new ArraySource(['alpha'], items(50).map(([, r]) => [0, r]), 10), topologies: [topo], reference: emptyReference(), sinks: new MemorySinks() }).run(),
    ).rejects.toMatchObject({ code: 'E_INTERNAL' });
  });

  it('processing-time idleness: a live source gone quiet still gets its due windows fired (idleWallMs), and only then', async () => {
    /** Delivers its records in one batch, then stays silent until aborted (a live topic at the end of the day). */
    class LiveSource implements BatchSource {
      private sent = false;
      constructor(
        readonly streamNames: string[],
        private readonly recs: Array<[number, Rec]>,
        private readonly signal: AbortSignal,
        /** Silent: an empty batch this often (as the Kafka source does with quietReturnMs), else only at the abort. */
        private readonly emptyEveryMs?: number,
      ) {}
      async nextBatch(): Promise<SourceBatch | null> {
        if (!this.sent) {
          this.sent = true;
          return { records: this.recs.map((x) => x[1]), streams: Uint8Array.from(this.recs.map((x) => x[0])), length: this.recs.length };
        }
        await new Promise<void>((res) => {
          this.signal.addEventListener('abort', () => res(), { once: true });
          if (this.emptyEveryMs !== undefined) setTimeout(res, this.emptyEveryMs);
        });
        return { records: [], streams: new Uint8Array(0), length: 0 };
      }
      position(): unknown {
        return this.sent;
      }
      async seek(): Promise<void> {}
    }
    // Buckets 0 and 1 of key A (ts 100..1900); the last record is at 1900, so with a 50 ms bound
    // the record-driven watermark (1849) closes bucket 0 only.
    const recs: Array<[number, Rec]> = [100, 600, 1200, 1900].map((ts) => [0, { ts, k: 'A', v: 1 }]);
    const live = async (idleWallMs: number | undefined, emptyEveryMs?: number) => {
      const sinks = new MemorySinks();
      const stop = new AbortController();
      const runner = new Runner({
        source: new LiveSource(['alpha', 'beta'], recs, stop.signal, emptyEveryMs),
        topologies: [bucketTopology('t')],
        reference: emptyReference(),
        sinks,
        signal: stop.signal,
        idleWallMs,
      });
      const done = runner.run();
      await new Promise((r) => setTimeout(r, 300));
      const seen = sinks.alerts.map((a) => a.eventTime);
      stop.abort();
      await done;
      return seen;
    };
    expect(await live(undefined)).toEqual([999]);
    expect(await live(50)).toEqual([999, 1999]);
    // A source that returns empty batches while silent: the idle time counts from the last record.
    expect(await live(50, 10)).toEqual([999, 1999]);
    expect(await live(undefined, 10)).toEqual([999]);
  });

  it('wall-clock checkpoints: one after records, none while the source returns empty batches', async () => {
    /** One batch of records, then an empty batch every 10 ms (a live Kafka source while quiet). */
    class QuietSource implements BatchSource {
      readonly streamNames = ['alpha', 'beta'];
      private sent = false;
      async nextBatch(): Promise<SourceBatch | null> {
        if (!this.sent) {
          this.sent = true;
          return { records: [{ ts: 100, k: 'A', v: 1 } as Rec], streams: Uint8Array.of(0), length: 1 };
        }
        await new Promise((r) => setTimeout(r, 10));
        return { records: [], streams: new Uint8Array(0), length: 0 };
      }
      position(): unknown {
        return this.sent;
      }
      async seek(): Promise<void> {}
    }
    const store = new CheckpointStore(await mkdtemp(join(tmpdir(), 'rf-run-')), { keep: 100 });
    const stop = new AbortController();
    const done = new Runner({
      source: new QuietSource(),
      topologies: [bucketTopology('t')],
      reference: emptyReference(),
      sinks: new MemorySinks(),
      signal: stop.signal,
      checkpoint: { store, fingerprint: 'f', everyWallMs: 30 },
    }).run();
    // The first wall-clock checkpoint comes after the records (at the first empty batch 30 ms on).
    for (let i = 0; i < 200 && (await store.list()).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await store.list()).length).toBe(1);
    // Then none while only empty batches come (about 20 of them in 200 ms).
    await new Promise((r) => setTimeout(r, 200));
    expect((await store.list()).length).toBe(1);
    stop.abort();
    await done;
  });
});

import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/core/checkpoint.js';
import {
  DEMO_DAY,
  MARKET_WATCH,
  createTopics,
  drivers,
  readAlerts,
  replayAlerts,
  riskflow,
  riskflowOk,
  scenario,
  sleep,
  startCluster,
  stripEmittedAt,
  tempDir,
  type Cluster,
} from './harness.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

/** A small seeded generator, so a failing run can be repeated (the seed is printed). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Names of every checkpoint file of a job (they carry increasing sequence numbers). */
async function checkpointNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (let p = 0; p < 6; p++) for (const n of await new CheckpointStore(join(dir, `task-${p}`)).list()) out.push(`${p}/${n}`);
  return out;
}

/** Each task's final operator state and event count, from its last checkpoint. */
async function finalState(dir: string, partitions: number): Promise<Array<{ events: number; operators: Map<string, unknown> } | undefined>> {
  const out = [];
  for (let p = 0; p < partitions; p++) {
    const chk = await new CheckpointStore(join(dir, `task-${p}`)).latest();
    out.push(chk ? { events: (chk.runner as { stats: { events: number; completed: boolean } }).stats.events, operators: chk.operators } : undefined);
  }
  return out;
}

// Lower the burst limit so the day has ~300 alerts spread over the hour: kills then land between
// alerts and their commit, which is what the test is about.
const SET = ['--set', 'burst.maxTrades=3'];
// At least 10 kills for the first driver (confluent, transactional, when installed); 4 for the other.
const KILLS: Record<string, number> = Object.fromEntries(drivers().reverse().map((d, i) => [d, i === 0 ? 10 : 4]));

describe.each(drivers())('kill -9 of riskflow run at random moments, with the %s driver', (driver) => {
  it('ends with every expected alert on the committed alert topics (exactly once, or duplicates of identical alertId) and the state of an uninterrupted run', async () => {
    const seed = Number(process.env.KILL_SEED ?? Date.now() % 100_000);
    const random = lcg(seed);
    const b = cluster.bootstrap;
    const common = (prefix: string, group: string, ck: string) => [
      'run', MARKET_WATCH, '--brokers', b, '--bounded', '--topic-prefix', prefix, '--group', group, '--checkpoint-dir', ck,
      '--driver', driver, '--checkpoint-every', '5s', '--batch-size', '100', '--session-timeout', '3s', ...SET,
      // Throttled (the busiest task takes ~13 s) so that kills land in the middle of processing.
      '--max-rate', '500',
    ];
    const want = KILLS[driver]!;

    // The uninterrupted run.
    const base = scenario(`base-${driver}`);
    await createTopics(cluster, base.prefix);
    await riskflowOk(['produce-day', DEMO_DAY, '--brokers', b, '--topic-prefix', base.prefix]);
    const baseCk = await tempDir();
    await riskflowOk([...common(base.prefix, base.group, baseCk), '--quiet']);

    // The same day, killed at least 10 times.
    const s = scenario(`kill-${driver}`);
    await createTopics(cluster, s.prefix);
    await riskflowOk(['produce-day', DEMO_DAY, '--brokers', b, '--topic-prefix', s.prefix]);
    const ck = await tempDir();
    let kills = 0;
    let recovered = 0;
    const resumed: string[] = [];
    for (let attempt = 0; ; attempt++) {
      expect(attempt).toBeLessThan(40);
      const before = new Set(await checkpointNames(join(ck, s.group)));
      const p = riskflow(common(s.prefix, s.group, ck));
      let exited = false;
      void p.done.then(() => (exited = true));
      if (kills < want) {
        // Wait until this run has written a checkpoint (it is processing), then kill at a random
        // moment (reading, between batches, writing a checkpoint, committing a transaction).
        while (!exited && (await checkpointNames(join(ck, s.group))).every((n) => before.has(n))) await sleep(20);
        await sleep(Math.floor(random() * 1000));
        if (!exited) {
          p.proc.kill('SIGKILL');
          kills++;
        }
      }
      const r = await p.done;
      recovered += (r.stderr.match(/recovering the interrupted commit/g) ?? []).length;
      resumed.push(...[...r.stderr.matchAll(/task (\d+): started from checkpoint (\d+)/g)].map((m) => `${m[1]}@${m[2]}`));
      if (r.signal === 'SIGKILL') continue;
      expect(r.code, r.stderr).toBe(0);
      if (kills >= want) break;
      // Finished before enough kills: the test must kill at least that many times.
      throw new Error(`the run completed after only ${kills} kills (seed ${seed})`);
    }
    console.log(`${driver}: ${kills} kills (seed ${seed}), ${recovered} interrupted commits recovered; tasks resumed from checkpoints: ${resumed.join(' ')}`);
    expect(resumed.length).toBeGreaterThan(0);

    // Alerts: every expected one present; any repeat is the same alert (same alertId, same content).
    const replay = await replayAlerts(DEMO_DAY, MARKET_WATCH, SET);
    const got = await readAlerts(b, s.prefix);
    const byId = new Map<string, string>();
    let duplicates = 0;
    for (const m of got) {
      const v = stripEmittedAt(m.value);
      const id = (JSON.parse(v) as { alertId: string }).alertId;
      const seen = byId.get(id);
      if (seen !== undefined) {
        duplicates++;
        expect(v).toBe(seen);
      } else byId.set(id, v);
    }
    expect([...byId.values()].sort()).toEqual(replay.alerts);
    console.log(`${driver}: ${got.length} alert messages, ${byId.size} distinct, ${duplicates} duplicates`);
    if (process.env.KAFKA_BROKERS && driver === 'confluent') {
      // A real cluster hides aborted transactions from read_committed readers: exactly once.
      expect(duplicates).toBe(0);
    }
    expect((await readAlerts(b, base.prefix)).map((m) => stripEmittedAt(m.value)).sort()).toEqual(replay.alerts);

    // Final state equals the uninterrupted run's, task by task.
    const wantState = await finalState(join(baseCk, base.group), 6);
    const have = await finalState(join(ck, s.group), 6);
    for (let p = 0; p < 6; p++) {
      expect(have[p]?.events, `task ${p} events`).toBe(wantState[p]?.events);
      expect(isDeepStrictEqual(have[p]?.operators, wantState[p]?.operators), `task ${p} operator state`).toBe(true);
    }
  });
});

import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/core/checkpoint.js';
import {
  DEMO_DAY,
  MARKET_WATCH,
  SAMPLE_DAY,
  STANDARD,
  createTopics,
  drivers,
  exitWithin,
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

const SET = ['--set', 'burst.maxTrades=3'];

async function operators(dir: string, p: number | 'global'): Promise<Map<string, unknown> | undefined> {
  return (await new CheckpointStore(join(dir, `task-${p}`)).latest())?.operators;
}

// One driver is enough to show the group mechanics (the first: confluent when installed).
const DRIVER = drivers().reverse()[0]!;

describe(`two riskflow run processes in one consumer group (${DRIVER})`, () => {
  it('share the 6 partitions; when one is killed the survivor takes over its partitions and state; output equals the single-process run', async () => {
    const b = cluster.bootstrap;
    const args = (prefix: string, group: string, ck: string) => [
      'run', MARKET_WATCH, '--brokers', b, '--bounded', '--topic-prefix', prefix, '--group', group, '--checkpoint-dir', ck,
      '--driver', DRIVER, '--checkpoint-every', '5s', '--batch-size', '100', '--session-timeout', '3s', '--max-rate', '700', ...SET,
    ];

    // The single-process run.
    const one = scenario('single');
    await createTopics(cluster, one.prefix);
    await riskflowOk(['produce-day', DEMO_DAY, '--brokers', b, '--topic-prefix', one.prefix]);
    const oneCk = await tempDir();
    await riskflowOk([...args(one.prefix, one.group, oneCk), '--quiet']);

    // Two processes, one killed mid-run.
    const two = scenario('pair');
    await createTopics(cluster, two.prefix);
    await riskflowOk(['produce-day', DEMO_DAY, '--brokers', b, '--topic-prefix', two.prefix]);
    const ck = await tempDir();
    const a = riskflow(args(two.prefix, two.group, ck));
    const v = riskflow(args(two.prefix, two.group, ck));
    let vExited = false;
    void v.done.then(() => (vExited = true));
    // Wait until the group has split the tasks and the victim is processing its share.
    const started = (p: { stderr(): string }) => new Set([...p.stderr().matchAll(/task (\d+): started/g)].map((m) => m[1]));
    for (let i = 0; i < 6000 && !vExited && started(v).size === 0; i++) await sleep(10);
    await sleep(1500);
    expect(vExited, `the victim finished before it could be killed:\n${v.stderr()}`).toBe(false);
    v.proc.kill('SIGKILL');
    await v.done;
    const finished = new Set([...v.stderr().matchAll(/task (\d+): complete/g)].map((m) => m[1]));
    const victimTasks = [...started(v)].filter((t) => !finished.has(t));
    expect(victimTasks.length, 'the victim was killed with unfinished tasks').toBeGreaterThan(0);
    const r = await exitWithin(a, 150_000, 'the survivor');
    expect(r.code, r.stderr).toBe(0);
    // The survivor ran the victim's tasks after it died, from the victim's checkpoints.
    const survivorTasks = [...r.stderr.matchAll(/task (\d+): started from (checkpoint \d+|the beginning)/g)].map((m) => `${m[1]} (${m[2]})`);
    console.log(`victim had unfinished tasks ${victimTasks.join(',')}; survivor started: ${survivorTasks.join(', ')}`);
    for (const t of victimTasks) expect(r.stderr).toMatch(new RegExp(`task ${t}: started from checkpoint`));

    const replay = await replayAlerts(DEMO_DAY, MARKET_WATCH, SET);
    const single = (await readAlerts(b, one.prefix)).map((m) => stripEmittedAt(m.value)).sort();
    expect(single).toEqual(replay.alerts);
    const pair = (await readAlerts(b, two.prefix)).map((m) => stripEmittedAt(m.value));
    // The victim's uncommitted output is recomputed by the survivor: on a real cluster its
    // aborted transaction is invisible; otherwise a repeat has the same alertId and content.
    expect([...new Set(pair)].sort()).toEqual(single);
    if (process.env.KAFKA_BROKERS && DRIVER === 'confluent') expect(pair.length).toBe(single.length);
    console.log(`pair: ${pair.length} alert messages, ${new Set(pair).size} distinct`);

    for (let p = 0; p < 6; p++) {
      const want = await operators(join(oneCk, one.group), p);
      const have = await operators(join(ck, two.group), p);
      expect(isDeepStrictEqual(have, want), `task ${p} final state`).toBe(true);
    }
  });
});

describe(`the global task in a group of two processes (${DRIVER})`, () => {
  it('market-watch per partition and the standard topologies in the global task; the owner of the global task is killed; the survivor resumes it from its checkpoint; output equals the single-process run and replay', async () => {
    const b = cluster.bootstrap;
    const TOPOLOGIES = [MARKET_WATCH, ...STANDARD];
    const args = (prefix: string, group: string, ck: string) => [
      'run', ...TOPOLOGIES, '--brokers', b, '--bounded', '--topic-prefix', prefix, '--group', group, '--checkpoint-dir', ck,
      '--driver', DRIVER, '--checkpoint-every', '30s', '--batch-size', '500', '--session-timeout', '3s', '--reference', SAMPLE_DAY, '--json',
    ];

    // The single-process run (unthrottled: throttling changes nothing but the timing).
    const one = scenario('gsingle');
    await createTopics(cluster, one.prefix, 6, one.group);
    await riskflowOk(['produce-day', SAMPLE_DAY, '--brokers', b, '--topic-prefix', one.prefix, '--quiet']);
    const oneCk = await tempDir();
    const single = await exitWithin(riskflow(args(one.prefix, one.group, oneCk)), 120_000, 'the single-process run');
    expect(single.code, single.stderr).toBe(0);
    // market-watch is keyed by instrument: it runs in the 6 partition tasks; the others in the global one.
    expect(single.stderr).toMatch(/topology market-watch: per instrument/);
    for (let p = 0; p < 6; p++) expect(single.stderr).toMatch(new RegExp(`task ${p}: complete`));
    expect(single.stderr).toMatch(/task global: complete/);

    // Two processes; the one that owns the global task is killed while it runs it.
    const two = scenario('gpair');
    await createTopics(cluster, two.prefix, 6, two.group);
    await riskflowOk(['produce-day', SAMPLE_DAY, '--brokers', b, '--topic-prefix', two.prefix, '--quiet']);
    const ck = await tempDir();
    // Throttled (the global task takes ~16 s) so that the kill lands in the middle of it.
    const procs = [0, 1].map(() => riskflow([...args(two.prefix, two.group, ck), '--max-rate', '4000']));
    const exited = [false, false];
    procs.forEach((p, i) => void p.done.then(() => (exited[i] = true)));
    let owner = -1;
    for (let i = 0; i < 6000 && owner < 0 && !exited.some(Boolean); i++) {
      owner = procs.findIndex((p) => /task global: started/.test(p.stderr()));
      if (owner < 0) await sleep(10);
    }
    expect(owner, `nobody started the global task:\n${procs.map((p) => p.stderr()).join('\n---\n')}`).toBeGreaterThanOrEqual(0);
    const victim = procs[owner]!;
    const survivor = procs[1 - owner]!;
    // Kill it once the global task has checkpointed (its consumer must join its own group first).
    const globalStore = new CheckpointStore(join(ck, two.group, 'task-global'));
    for (let i = 0; i < 600 && !exited[owner] && (await globalStore.list()).length < 2; i++) await sleep(50);
    expect(exited[owner], `the owner finished before it could be killed:\n${victim.stderr()}`).toBe(false);
    victim.proc.kill('SIGKILL');
    await victim.done;
    expect(victim.stderr()).not.toMatch(/task global: complete/);
    const r = await exitWithin(survivor, 150_000, 'the survivor');
    expect(r.code, r.stderr).toBe(0);
    // The survivor took the global task over from the victim's last checkpoint.
    expect(r.stderr).toMatch(/task global: started from checkpoint \d+/);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { completed: boolean; tasksRun: unknown[] };
    expect(summary.completed).toBe(true);
    expect(summary.tasksRun).toContain('global');

    const replay = await replayAlerts(SAMPLE_DAY, TOPOLOGIES);
    const singleAlerts = (await readAlerts(b, one.prefix)).map((m) => stripEmittedAt(m.value)).sort();
    expect(singleAlerts).toEqual(replay.alerts);
    expect(new Set(singleAlerts.map((a) => (JSON.parse(a) as { topology: string }).topology))).toEqual(
      new Set(['market-watch', 'desk-risk', 'market-risk', 'surveillance']),
    );
    const pair = (await readAlerts(b, two.prefix)).map((m) => stripEmittedAt(m.value));
    // Repeats of the victim's uncommitted output have the same alertId and content (see above).
    expect([...new Set(pair)].sort()).toEqual(singleAlerts);
    if (process.env.KAFKA_BROKERS && DRIVER === 'confluent') expect(pair.length).toBe(singleAlerts.length);
    console.log(`global pair: ${pair.length} alert messages, ${new Set(pair).size} distinct`);

    for (const t of [0, 1, 2, 3, 4, 5, 'global'] as const) {
      const want = await operators(join(oneCk, one.group), t);
      const have = await operators(join(ck, two.group), t);
      expect(want, `task ${t} has a final checkpoint`).toBeDefined();
      expect(isDeepStrictEqual(have, want), `task ${t} final state`).toBe(true);
    }
  });
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_DAY,
  ROOT,
  exitWithin,
  MALFORMED_DAY,
  MARKET_WATCH,
  SAMPLE_DAY,
  STANDARD,
  createTopics,
  drivers,
  produceRaw,
  hasKcat,
  kafkajsRead,
  kcatRead,
  readAlerts,
  readTopic,
  replayAlerts,
  riskflow,
  riskflowOk,
  sleep,
  scenario,
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

describe.each(drivers())('riskflow run --bounded with the %s driver', (driver) => {
  it('yields exactly the alerts of riskflow replay on the demo day, readable with kcat and kafkajs', async () => {
    const { prefix, group } = scenario(`eq-${driver}`);
    await createTopics(cluster, prefix);
    const produced = await riskflowOk(['produce-day', DEMO_DAY, '--brokers', cluster.bootstrap, '--topic-prefix', prefix, '--driver', driver]);
    expect(produced).toMatch(/produced 20,563 messages/);
    const ck = await tempDir();
    const out = await riskflowOk([
      'run', MARKET_WATCH, '--brokers', cluster.bootstrap, '--bounded', '--topic-prefix', prefix, '--group', group,
      '--checkpoint-dir', ck, '--driver', driver, '--json', '--quiet', '--reference', DEMO_DAY,
    ]);
    const summary = JSON.parse(out.trim().split('\n').pop()!) as { events: number; completed: boolean; transactional: boolean };
    expect(summary.completed).toBe(true);
    expect(summary.events).toBe(16_859);
    expect(summary.transactional).toBe(driver === 'confluent');

    const replay = await replayAlerts(DEMO_DAY, MARKET_WATCH);
    expect(replay.alerts.length).toBeGreaterThan(0);
    const viaKafka = await readAlerts(cluster.bootstrap, prefix);
    expect(viaKafka.map((m) => stripEmittedAt(m.value)).sort()).toEqual(replay.alerts);
    // Message key = the entity id (CONTRACTS.md section 3).
    for (const m of viaKafka) expect(m.key).toBe(Object.values((JSON.parse(m.value) as { entity: Record<string, string> }).entity).join('|'));

    if (hasKcat()) {
      const withKafkajs = (await kafkajsRead(cluster.bootstrap, `${prefix}market-risk-alerts`)).map((m) => stripEmittedAt(m.value)).sort();
      const withKcat = kcatRead(cluster.bootstrap, `${prefix}market-risk-alerts`).map((m) => stripEmittedAt(m.value)).sort();
      expect(withKafkajs).toEqual(withKcat);
    }
  });
});

describe.each(drivers())('topologies that need a global view, with the %s driver', (driver) => {
  it('desk-risk, market-risk and surveillance on 6 partitions: run --bounded yields exactly the alerts of riskflow replay on the sample day', async () => {
    const { prefix, group } = scenario(`global-${driver}`);
    await createTopics(cluster, prefix, 6, group);
    await riskflowOk(['produce-day', SAMPLE_DAY, '--brokers', cluster.bootstrap, '--topic-prefix', prefix, '--driver', driver, '--quiet']);
    if (hasKcat()) {
      // Every message carries its line's index in the day file (the global task's order).
      const h = spawnSync('kcat', ['-b', cluster.bootstrap, '-C', '-t', `${prefix}quotes`, '-p', '0', '-c', '3', '-e', '-q', '-f', '%h\n'], { encoding: 'utf8', timeout: 60_000 });
      expect(h.stdout.trim().split('\n')).toHaveLength(3);
      for (const l of h.stdout.trim().split('\n')) expect(l).toMatch(/^riskflow-seq=\d+$/);
    }
    const ck = await tempDir();
    const r = await riskflow([
      'run', ...STANDARD, '--brokers', cluster.bootstrap, '--bounded', '--topic-prefix', prefix, '--group', group,
      '--checkpoint-dir', ck, '--driver', driver, '--json', '--reference', SAMPLE_DAY,
    ]).done;
    expect(r.code, r.stderr).toBe(0);
    // Every one of them keeps state across instruments: one global task reads all 18 partitions.
    for (const t of ['desk-risk', 'market-risk', 'surveillance']) expect(r.stderr).toMatch(new RegExp(`topology ${t}: global task`));
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { events: number; completed: boolean; tasksRun: unknown[] };
    expect(summary.completed).toBe(true);
    expect(summary.tasksRun).toEqual(['global']);
    expect(summary.events).toBe(65_354);

    // `riskflow replay` without --topology: the same three standard topologies.
    const replay = await replayAlerts(SAMPLE_DAY, undefined);
    const types = new Set(replay.alerts.map((a) => (JSON.parse(a) as { topology: string; type: string }).topology));
    expect([...types].sort()).toEqual(['desk-risk', 'market-risk', 'surveillance']);
    expect(replay.alerts.some((a) => a.includes('"type":"CORRELATION_'))).toBe(true);
    const viaKafka = (await readAlerts(cluster.bootstrap, prefix)).map((m) => stripEmittedAt(m.value)).sort();
    expect(viaKafka).toEqual(replay.alerts);
  });
});

describe.each(drivers())('riskflow run live with the %s driver', (driver) => {
  it('an alert is readable and its transaction committed seconds after its event although no further input comes; SIGTERM stops the run', async () => {
    const { prefix, group } = scenario(`quiet-${driver}`);
    await createTopics(cluster, prefix);
    const ck = await tempDir();
    const p = riskflow([
      'run', join(ROOT, 'test/bench/kafka-bench.yaml'), '--brokers', cluster.bootstrap, '--topic-prefix', prefix, '--group', group,
      '--checkpoint-dir', ck, '--driver', driver, '--checkpoint-interval', '2s', '--json',
    ]);
    for (let i = 0; i < 3000 && (p.stderr().match(/task \d+: started/g) ?? []).length < 6; i++) await sleep(10);
    const read = async () =>
      (await readTopic(cluster.bootstrap, `${prefix}market-risk-alerts`)).map(
        (m) => (JSON.parse(m.value) as { details: { tradeId: string } }).details.tradeId,
      );
    // The commit markers of this job's tasks: one per committed transaction (transactional mode).
    // They show the commit on the mock broker too, whose read_committed readers also see data of
    // open transactions (see the Kafka README).
    const commits = async () =>
      (await readTopic(cluster.bootstrap, `${prefix}riskflow-commits`)).filter((m) => m.key.startsWith(`${group}/`)).length;
    const transactional = driver === 'confluent';
    // A probe trade (an alert at once), then nothing; then a second one just after the first is
    // committed. With transactions an alert is visible only once its interval's transaction
    // commits, which must not wait for more input.
    for (const id of ['P1', 'P2']) {
      const before = transactional ? await commits() : 0;
      const probe = { type: 'trade', ts: Date.now(), tradeId: id, instrument: 'ACME', traderId: 'TR01', side: 'BUY', qty: 1_000_000, price: 100 };
      await produceRaw(cluster.bootstrap, `${prefix}trades`, [{ key: 'ACME', value: JSON.stringify(probe) }]);
      const t0 = Date.now();
      let got: string[] = [];
      let committed = !transactional;
      while (Date.now() - t0 < 15_000 && !(got.includes(id) && committed)) {
        got = await read();
        if (!committed) committed = (await commits()) > before;
        if (!(got.includes(id) && committed)) await sleep(100);
      }
      expect(got, `${id} not readable; engine stderr:\n${p.stderr()}`).toContain(id);
      expect(committed, `${id}: its transaction was not committed; engine stderr:\n${p.stderr()}`).toBe(true);
      expect(Date.now() - t0, `${id}: committed within a few checkpoint intervals`).toBeLessThan(10_000);
    }
    expect(await read()).toEqual(['P1', 'P2']);
    p.proc.kill('SIGTERM');
    const r = await exitWithin(p, 30_000, 'riskflow run after SIGTERM');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { events: number; alerts: number; transactional: boolean };
    expect(summary.events).toBe(2);
    expect(summary.alerts).toBe(2);
    expect(summary.transactional).toBe(driver === 'confluent');
  });
});

describe('malformed messages', () => {
  it('go to riskflow-dead-letters with the reason, topic/partition/offset and raw value, as replay dead-letters them', async () => {
    const { prefix, group } = scenario('dead');
    await createTopics(cluster, prefix);
    await riskflowOk(['produce-day', MALFORMED_DAY, '--brokers', cluster.bootstrap, '--topic-prefix', prefix]);
    const ck = await tempDir();
    await riskflowOk([
      'run', MARKET_WATCH, '--brokers', cluster.bootstrap, '--bounded', '--topic-prefix', prefix, '--group', group, '--checkpoint-dir', ck,
    ]);
    const replay = await replayAlerts(MALFORMED_DAY, MARKET_WATCH);
    const dead = (await kafkajsRead(cluster.bootstrap, `${prefix}riskflow-dead-letters`)).map(
      (m) => JSON.parse(m.value) as { topic: string; partition: number; offset: string; reason: string; raw: string; stream: string },
    );
    expect(dead.length).toBe(replay.deadLetters.length);
    const key = (d: { raw?: unknown; reason?: unknown }) => `${String(d.reason)}\u0000${String(d.raw)}`;
    expect(dead.map(key).sort()).toEqual(replay.deadLetters.map(key).sort());
    for (const d of dead) {
      expect(d.topic).toMatch(new RegExp(`^${prefix.replace('.', '\\.')}(trades|quotes)$`));
      expect(d.partition).toBeGreaterThanOrEqual(0);
      expect(Number(d.offset)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM stops a live run after a final checkpoint; a restart continues from it, ending with the alerts of replay', async () => {
    const driver = drivers().reverse()[0]!;
    const { prefix, group } = scenario('sigterm');
    await createTopics(cluster, prefix);
    await riskflowOk(['produce-day', DEMO_DAY, '--brokers', cluster.bootstrap, '--topic-prefix', prefix]);
    const ck = await tempDir();
    const args = ['run', MARKET_WATCH, '--brokers', cluster.bootstrap, '--topic-prefix', prefix, '--group', group, '--checkpoint-dir', ck, '--driver', driver];
    // Live (unbounded), throttled so that it is still busy when the signal comes.
    const live = riskflow([...args, '--max-rate', '1000', '--batch-size', '100']);
    let exited = false;
    void live.done.then(() => (exited = true));
    while (!exited && !/task \d+: started/.test(live.stderr())) await sleep(10);
    await sleep(1500);
    live.proc.kill('SIGTERM');
    const r = await live.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/SIGTERM: stopping after a final checkpoint/);
    // The bounded restart resumes every task from the checkpoints the stop wrote.
    const out = await riskflowOk([...args, '--bounded', '--json']);
    expect(JSON.parse(out.trim().split('\n').pop()!).completed).toBe(true);
    const replay = await replayAlerts(DEMO_DAY, MARKET_WATCH);
    const got = (await readAlerts(cluster.bootstrap, prefix)).map((m) => stripEmittedAt(m.value)).sort();
    expect([...new Set(got)].sort()).toEqual(replay.alerts);
    expect(got.length).toBe(replay.alerts.length);
  });
});

describe('processing-time idleness', () => {
  it('a live run whose input goes quiet still fires the windows due (the day\'s last bars), without further records', async () => {
    const { prefix, group } = scenario('idle');
    await createTopics(cluster, prefix);
    const dir = await tempDir();
    const topology = join(dir, 'idle.yaml');
    await writeFile(
      topology,
      [
        'name: idle-bars',
        'sources:',
        '  trades: { stream: trade, outOfOrderness: 1s, idleTimeout: 2s }',
        'steps:',
        '  - id: bars',
        '    type: window',
        '    input: trades',
        '    keyBy: instrument',
        '    window: { type: tumbling, size: 10s }',
        '    aggregate: { trades: count() }',
        '  - id: busy',
        '    type: alert',
        '    input: bars',
        '    when: trades >= 3',
        '    alert:',
        '      type: TRADE_BURST',
        '      severity: info',
        '      topic: market-risk-alerts',
        '      entity: { instrument: instrument }',
        '      value: trades',
        '      threshold: 3',
        '      message: "{instrument}: {trades:int} trades"',
        '',
      ].join('\n'),
    );
    // Three trades in the first 2 s of a 10 s bar, then nothing: the records alone move the
    // watermark to t0 + 999 ms, never past the bar's end.
    const t0 = 1_710_509_400_000;
    const trade = (i: number) => ({
      key: 'ACME',
      value: JSON.stringify({ type: 'trade', ts: t0 + i * 1000, tradeId: `T${i}`, instrument: 'ACME', traderId: 'TR01', side: 'BUY', qty: 100, price: 10 }),
    });
    await produceRaw(cluster.bootstrap, `${prefix}trades`, [0, 1, 2].map(trade));
    const ck = await tempDir();
    const live = riskflow(['run', topology, '--brokers', cluster.bootstrap, '--topic-prefix', prefix, '--group', group, '--checkpoint-dir', ck, '--quiet']);
    let alerts: Array<{ key: string; value: string }> = [];
    const deadline = Date.now() + 60_000;
    while (alerts.length === 0 && Date.now() < deadline) {
      await sleep(2000);
      alerts = await readAlerts(cluster.bootstrap, prefix);
    }
    live.proc.kill('SIGTERM');
    const r = await live.done;
    expect(r.code, r.stderr).toBe(0);
    expect(alerts.length).toBe(1);
    const a = JSON.parse(alerts[0]!.value) as { type: string; value: number; entity: { instrument: string }; eventTime: number };
    expect(a).toMatchObject({ type: 'TRADE_BURST', value: 3, entity: { instrument: 'ACME' }, eventTime: t0 + 9_999 });
  });
});

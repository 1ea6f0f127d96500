import { describe, expect, it } from 'vitest';
import { readFile, writeFile, appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEMO_DAY, MALFORMED_DAY, MARKET_WATCH, copyDay, readJsonl, riskflow, tempDir, alertsWithoutEmittedAt } from './helpers.js';

describe('riskflow replay (the built CLI, as a user runs it)', () => {
  it('runs the demo day: alerts, summary, outputs; exit 0', async () => {
    const out = await tempDir();
    const r = riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--out', out, '--no-progress']);
    // The only stderr output is the detection table (the demo day labels its incidents).
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.stderr).toMatch(/^detection: /);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/replayed 16,859 events/);
    const alerts = await readJsonl(join(out, 'alerts.jsonl'));
    expect(alerts.map((a) => `${a.type}:${JSON.stringify(a.entity)}`).sort()).toEqual([
      'OFF_MARKET_TRADE:{"traderId":"TR07"}',
      'PRICE_DROP:{"instrument":"ACME"}',
      'TRADE_BURST:{"instrument":"BOLT"}',
    ]);
    for (const a of alerts) {
      expect(Object.keys(a).slice(0, 8)).toEqual(['alertId', 'type', 'severity', 'topic', 'rule', 'topology', 'entity', 'eventTime']);
      expect(typeof a.emittedAt).toBe('number');
    }
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.events.total).toBe(16859);
    expect(summary.alerts.total).toBe(3);
    expect(summary.completed).toBe(true);
    expect((await readJsonl(join(out, 'outputs/minute-bars.jsonl'))).length).toBe(summary.outputs['minute-bars']);
  });

  it('a malformed day: bad records go to dead letters with file, line, field and reason; the good records all run', async () => {
    const out = await tempDir();
    const r = riskflow(['replay', MALFORMED_DAY, '--topology', MARKET_WATCH, '--out', out, '--no-progress']);
    expect(r.status).toBe(0);
    const dead = await readJsonl<{ source: string; line: number; field?: string; reason: string; raw: string }>(join(out, 'dead-letters.jsonl'));
    const where = dead.map((d) => `${d.source.split('/').pop()}:${d.line}:${d.field ?? '-'}`).sort();
    expect(where).toEqual([
      'quotes.jsonl:120:ask', // "NaN"
      'quotes.jsonl:40:bid', // bid > ask
      'trades.jsonl:15:qty', // negative qty
      'trades.jsonl:22:side', // unknown side
      'trades.jsonl:4:-', // not JSON
      'trades.jsonl:9:price', // missing field
    ]);
    for (const d of dead) {
      expect(d.reason.length).toBeGreaterThan(5);
      expect(d.raw.length).toBeGreaterThan(0);
    }
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    // 200 good quotes + 50 good trades (one with an ISO-8601 ts) all went through.
    expect(summary.events.byStream).toEqual({ quote: 200, trade: 50 });
    expect(summary.deadLetters).toBe(6);
  });

  it('an unknown topology step type exits 2 naming file, line, step and field', async () => {
    const dir = await tempDir();
    const topo = join(dir, 'bad.yaml');
    await writeFile(
      topo,
      ['name: bad', 'sources:', '  trades: { stream: trade }', 'steps:', '  - id: big', '    type: filtre', '    input: trades', "    where: 'qty > 1'", ''].join('\n'),
    );
    const r = riskflow(['replay', DEMO_DAY, '--topology', topo, '--out', join(dir, 'out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:6: step 'big': field 'type': .*filtre.*filter/);
    expect(r.stdout).toBe('');
  });

  it('a bad expression and a bad duration are reported together, each with its line', async () => {
    const dir = await tempDir();
    const topo = join(dir, 'bad.yaml');
    await writeFile(
      topo,
      [
        'name: bad',
        'sources:',
        '  trades: { stream: trade }',
        'steps:',
        '  - id: big',
        '    type: filter',
        '    input: trades',
        "    where: 'qty > > 1'",
        '  - id: w',
        '    type: window',
        '    input: big',
        '    window: { type: tumbling, size: 5 minutes }',
        '    aggregate: { n: count() }',
        '  - { id: out, type: sink, input: w }',
        '',
      ].join('\n'),
    );
    const r = riskflow(['validate', topo]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:8: step 'big': field 'where'/);
    expect(r.stderr).toMatch(/bad\.yaml:12: step 'w': field 'window\.size'/);
  });

  it('a reference file with a bad value exits 2 naming file, line and field', async () => {
    const day = await copyDay(MALFORMED_DAY);
    const inst = join(day, 'instruments.csv');
    const lines = (await readFile(inst, 'utf8')).split('\n');
    lines[2] = lines[2]!.replace(/,(\d+\.\d+),/, ',cheap,');
    await writeFile(inst, lines.join('\n'));
    const r = riskflow(['replay', day, '--topology', MARKET_WATCH, '--out', join(day, 'out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/instruments\.csv:3: field 'prevClose'/);
  });

  it('an unreadable (corrupt gzip) event file exits 2 naming the file', async () => {
    const day = await copyDay(MALFORMED_DAY);
    const good = gzipSync(await readFile(join(day, 'trades.jsonl')));
    // Keep the gzip header, break the body: the file cannot be read, it is not a bad record.
    const broken = Buffer.concat([good.subarray(0, 40), Buffer.alloc(200, 0x41)]);
    await writeFile(join(day, 'trades.jsonl.gz'), broken);
    const { rm } = await import('node:fs/promises');
    await rm(join(day, 'trades.jsonl'));
    const r = riskflow(['replay', day, '--topology', MARKET_WATCH, '--out', join(day, 'out'), '--no-progress']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/trades\.jsonl\.gz/);
  });

  it('a missing trades file exits 2; a day directory that does not exist exits 2', async () => {
    const day = await copyDay(MALFORMED_DAY);
    const { rm } = await import('node:fs/promises');
    await rm(join(day, 'trades.jsonl'));
    const r = riskflow(['replay', day, '--topology', MARKET_WATCH, '--out', join(day, 'out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/trades/);
    const r2 = riskflow(['replay', join(day, 'nope'), '--topology', MARKET_WATCH]);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/not a directory/);
  });

  it('bad usage exits 2: unknown command, unknown option, unknown --set parameter, bad --speed', async () => {
    expect(riskflow(['frobnicate']).status).toBe(2);
    const opt = riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--colour']);
    expect(opt.status).toBe(2);
    expect(opt.stderr).toMatch(/colour/);
    const set = riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--set', 'move.pctt=0.1']);
    expect(set.status).toBe(2);
    expect(set.stderr).toMatch(/move\.pctt/);
    const speed = riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--speed', 'fast']);
    expect(speed.status).toBe(2);
  });

  it('--set changes the control being backtested', async () => {
    const out = await tempDir();
    const r = riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--out', out, '--no-progress', '--set', 'move.pct=0.09', '--set', 'burst.maxTrades=100']);
    expect(r.status).toBe(0);
    const alerts = await readJsonl(join(out, 'alerts.jsonl'));
    expect(alerts.map((a) => a.type)).toEqual(['OFF_MARKET_TRADE']);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.overrides).toEqual(['move.pct=0.09', 'burst.maxTrades=100']);
  });

  it('describe and validate', () => {
    const d = riskflow(['describe', MARKET_WATCH, '--set', 'move.pct=0.07']);
    expect(d.status).toBe(0);
    expect(d.stdout).toMatch(/sharp-drop\s+alert\s+<- swings/);
    expect(d.stdout).toMatch(/move\.pct\s+= 0\.07/);
    const v = riskflow(['validate', MARKET_WATCH]);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^ok /);
  });

  it('replaying the same day twice gives byte-identical alerts once emittedAt is removed', async () => {
    const a = await tempDir();
    const b = await tempDir();
    expect(riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--out', a, '--quiet']).status).toBe(0);
    expect(riskflow(['replay', DEMO_DAY, '--topology', MARKET_WATCH, '--out', b, '--quiet']).status).toBe(0);
    const ta = await alertsWithoutEmittedAt(join(a, 'alerts.jsonl'));
    expect(ta.length).toBeGreaterThan(0);
    expect(await alertsWithoutEmittedAt(join(b, 'alerts.jsonl'))).toBe(ta);
    expect(await readFile(join(b, 'outputs/minute-bars.jsonl'), 'utf8')).toBe(await readFile(join(a, 'outputs/minute-bars.jsonl'), 'utf8'));
  });

  it('late records go to late.jsonl, never silently dropped', async () => {
    const day = await copyDay(MALFORMED_DAY);
    // A trade 10 minutes behind everything else, appended at the end of the file.
    await appendFile(
      join(day, 'trades.jsonl'),
      `${JSON.stringify({ type: 'trade', ts: Date.parse('2024-03-15T13:29:00Z'), tradeId: 'LATE1', instrument: 'ACME', traderId: 'TR01', side: 'BUY', qty: 100, price: 142 })}\n`,
    );
    const out = join(day, 'out');
    await mkdir(out, { recursive: true });
    const r = riskflow(['replay', day, '--topology', MARKET_WATCH, '--out', out, '--no-progress']);
    expect(r.status).toBe(0);
    const late = await readJsonl<{ step: string; record: { tradeId: string } }>(join(out, 'late.jsonl'));
    expect(late.map((l) => `${l.step}:${l.record.tradeId}`)).toContain('bars:LATE1');
  });
});

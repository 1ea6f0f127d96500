import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONTRACT_ALERT_TYPES,
  evaluateDetection,
  formatDetectionTable,
  loadDetectionInputs,
  type DetectionAlert,
  type DetectionIncident,
} from '../../../src/cli/detection.js';
import { loadDay } from '../../../src/connectors/replay/index.js';
import { InputError } from '../../../src/core/errors.js';
import { SAMPLE_DAY } from './helpers.js';

const T0 = Date.parse('2024-03-15T13:45:00Z');
const incidents: DetectionIncident[] = [
  { type: 'FLASH_CRASH', instrument: 'ACME', start: new Date(T0).toISOString(), end: T0 + 100_000, related: { traders: ['TR07'] } },
  { type: 'LOSS_LIMIT', traderId: 'TR07', start: T0, end: T0 + 100_000, related: { instruments: ['ACME'] } },
  { type: 'CORRELATION_HIGH', instrument: 'CHIP|LOGI', instrumentA: 'CHIP', instrumentB: 'LOGI', start: T0, end: T0 + 310_000 },
  { type: 'CORRELATION_BREAK', instrument: 'BANK|TRST', start: T0 + 300_000, end: T0 + 610_000 },
  { type: 'WASH_TRADE', instrument: 'LOAN', traderId: 'TR18', counterpartyTraderId: 'TR21', start: T0, end: T0 + 60_000 },
  { type: 'SPOOFING', instrument: 'GENE', traderId: 'TR26', start: T0, end: T0 + 67_000 },
];
const calm = { instruments: ['IDX', 'BYTE', 'CART'], traders: ['TR01', 'TR03'] };
const alert = (type: string, entity: Record<string, string>, dt: number, message = ''): DetectionAlert => ({ type, entity, eventTime: T0 + dt, message });

describe('evaluateDetection', () => {
  it('matches by type, entity and time window, and measures time to detect from the first match', () => {
    const r = evaluateDetection(incidents, [
      alert('FLASH_CRASH', { instrument: 'ACME' }, 30_000),
      alert('FLASH_CRASH', { instrument: 'ACME' }, 26_000),
      alert('LOSS_LIMIT', { traderId: 'TR07' }, 25_000),
      alert('CORRELATION_HIGH', { instrumentA: 'LOGI', instrumentB: 'CHIP' }, 300_000),
      alert('CORRELATION_BREAK', { instrumentA: 'BANK', instrumentB: 'TRST' }, 600_000),
      alert('WASH_TRADE', { traderId: 'TR21' }, 0),
    ]);
    const row = (t: string) => r.rows.find((x) => x.type === t)!;
    expect(row('FLASH_CRASH')).toEqual({ type: 'FLASH_CRASH', labelled: 1, detected: 1, falseAlerts: 0, toleratedAlerts: 0, matchedAlerts: 2, medianTimeToDetectMs: 26_000 });
    expect(row('LOSS_LIMIT').medianTimeToDetectMs).toBe(25_000);
    expect(row('CORRELATION_HIGH').detected).toBe(1);
    expect(row('CORRELATION_BREAK').detected).toBe(1);
    expect(row('WASH_TRADE').detected).toBe(1);
    expect(r.missed.map((m) => [m.type, m.entity])).toEqual([['SPOOFING', 'TR26 GENE']]);
    expect(r.totals).toMatchObject({ labelled: 6, detected: 5, falseAlerts: 0, alerts: 6 });
    expect(r.rows.map((x) => x.type).slice(0, CONTRACT_ALERT_TYPES.length)).toEqual([...CONTRACT_ALERT_TYPES]);
  });

  it('does not match outside the window, on another entity or another type', () => {
    const r = evaluateDetection(incidents, [
      alert('FLASH_CRASH', { instrument: 'ACME' }, -1),
      alert('FLASH_CRASH', { instrument: 'ACME' }, 100_001),
      alert('FLASH_CRASH', { instrument: 'BYTE' }, 20_000),
      alert('LULD_LIMIT_STATE', { instrument: 'ACME' }, 20_000),
      alert('CORRELATION_HIGH', { instrumentA: 'CHIP', instrumentB: 'BANK' }, 1000),
    ]);
    expect(r.rows.find((x) => x.type === 'FLASH_CRASH')!.detected).toBe(0);
    expect(r.rows.find((x) => x.type === 'CORRELATION_HIGH')!.detected).toBe(0);
    expect(r.totals.detected).toBe(0);
  });

  it('counts as false alarms only unmatched alerts on entities no incident involves (and calm ones when calm is given)', () => {
    const alerts = [
      alert('LULD_LIMIT_STATE', { instrument: 'ACME' }, 30_000), // side effect of the crash: tolerated
      alert('FLASH_CRASH', { instrument: 'ACME' }, 900_000), // late, but ACME is involved: tolerated
      alert('DRAWDOWN', { traderId: 'TR07' }, 30_000), // the loss trader: tolerated
      alert('CORRELATION_BREAK', { instrumentA: 'ACME', instrumentB: 'IDX' }, 60_000), // one member involved: tolerated
      alert('LOSS_LIMIT', { traderId: 'TR21' }, 5_000), // the wash counterparty: tolerated
      alert('CORRELATION_BREAK', { instrumentA: 'IDX', instrumentB: 'BYTE' }, 60_000, 'IDX|BYTE broke'), // both calm: false
      alert('POSITION_LIMIT', { traderId: 'TR01' }, 1000), // calm trader: false
      alert('FLASH_CRASH', { instrument: 'ZZZZ' }, 1000), // unknown entity: false without calm, unscored with it
    ];
    const loose = evaluateDetection(incidents, alerts);
    expect(loose.totals).toMatchObject({ falseAlerts: 3, toleratedAlerts: 5, matchedAlerts: 0 });
    const strict = evaluateDetection(incidents, alerts, { calm });
    expect(strict.totals).toMatchObject({ falseAlerts: 2, toleratedAlerts: 6 });
    expect(strict.falseAlarms.map((f) => `${f.type} ${f.entity}`)).toEqual(['POSITION_LIMIT TR01', 'CORRELATION_BREAK IDX|BYTE']);
    expect(strict.rows.find((x) => x.type === 'CORRELATION_BREAK')).toMatchObject({ falseAlerts: 1, toleratedAlerts: 1, labelled: 1, detected: 0 });
  });

  it('without related fields (incidents as loadDay returns them) a counterparty alert is only unscored if calm is given', async () => {
    const day = await loadDay(SAMPLE_DAY);
    const wash = day.reference.incidents.find((i) => i.type === 'WASH_TRADE' && i.instrument === 'LOAN')!;
    const raw = await loadDetectionInputs(SAMPLE_DAY);
    const contra = (raw!.incidents.find((i) => i.type === 'WASH_TRADE' && i.instrument === 'LOAN') as DetectionIncident).counterpartyTraderId!;
    const alerts = [alert('LOSS_LIMIT', { traderId: contra }, 0)];
    expect(evaluateDetection(day.reference.incidents, alerts).totals.falseAlerts).toBe(1);
    expect(evaluateDetection(day.reference.incidents, alerts, { calm: raw!.calm }).totals.falseAlerts).toBe(0);
    expect(evaluateDetection(raw!.incidents, alerts).totals.falseAlerts).toBe(0);
    expect(wash.traderId).toBeDefined();
    // A pair survives loadDay as "A|B".
    expect(day.reference.incidents.find((i) => i.type === 'CORRELATION_HIGH')!.instrument).toMatch(/^[A-Z]+\|[A-Z]+$/);
  });

  it('reports the median over several incidents of a type and extra types after the contract ones', () => {
    const xs: DetectionIncident[] = [0, 1, 2].map((k) => ({ type: 'WASH_TRADE', traderId: `W${k}`, start: k * 1000, end: k * 1000 + 60_000 }));
    xs.push({ type: 'OFF_MARKET_TRADE', instrument: 'BANK', start: 0, end: 10 });
    const r = evaluateDetection(xs, [
      { type: 'WASH_TRADE', entity: { traderId: 'W0' }, eventTime: 100 },
      { type: 'WASH_TRADE', entity: { traderId: 'W1' }, eventTime: 1300 },
      { type: 'WASH_TRADE', entity: { traderId: 'W2' }, eventTime: 2900 },
      { type: 'VOLUME_BURST', entity: { instrument: 'BOLT' }, eventTime: 5 },
    ]);
    expect(r.rows.find((x) => x.type === 'WASH_TRADE')!.medianTimeToDetectMs).toBe(300);
    expect(r.rows.slice(-2).map((x) => x.type)).toEqual(['OFF_MARKET_TRADE', 'VOLUME_BURST']);
  });
});

describe('formatDetectionTable', () => {
  it('prints aligned columns, totals, missed incidents and false alarms', () => {
    const r = evaluateDetection(
      incidents,
      [alert('FLASH_CRASH', { instrument: 'ACME' }, 26_500), alert('POSITION_LIMIT', { traderId: 'TR01' }, 1000, 'TR01 holds 40,000 BYTE')],
      { calm },
    );
    const text = formatDetectionTable(r);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('detection: 1/6 incidents detected, 1 false alarms (2 alerts)');
    expect(lines[1]).toMatch(/^ {2}type +labelled +detected +false +tolerated +median TTD$/);
    const header = lines[1]!;
    const flash = lines.find((l) => l.trimStart().startsWith('FLASH_CRASH'))!;
    expect(flash).toMatch(/FLASH_CRASH +1 +1 +0 +0 +26\.5 s$/);
    // Right-aligned numeric columns end where their headers end.
    expect(flash.indexOf('26.5 s') + '26.5 s'.length).toBe(header.length);
    expect(lines.some((l) => /^ {2}total +6 +1 +1 +0$/.test(l))).toBe(true);
    expect(text).toContain('missed (5):');
    expect(text).toContain('false alarms (1):\n  POSITION_LIMIT TR01 at 2024-03-15T13:45:01.000Z  TR01 holds 40,000 BYTE');
    expect(lines.some((l) => l.includes('LULD_PAUSE'))).toBe(false);
  });
});

describe('loadDetectionInputs', () => {
  it('reads incidents.json with every field and calm.json; undefined without incidents', async () => {
    const d = await loadDetectionInputs(SAMPLE_DAY);
    expect(d!.incidents.length).toBeGreaterThanOrEqual(21);
    expect(d!.incidents.find((i) => i.type === 'CORRELATION_BREAK')!.instrumentA).toBeDefined();
    expect(d!.calm!.instruments).toContain('IDX');
    const empty = mkdtempSync(join(tmpdir(), 'riskflow-det-'));
    expect(await loadDetectionInputs(empty)).toBeUndefined();
    writeFileSync(join(empty, 'incidents.json'), '{');
    await expect(loadDetectionInputs(empty)).rejects.toBeInstanceOf(InputError);
  });

  it('scores the sample day against a perfect detector: every incident detected, no false alarm', async () => {
    const d = (await loadDetectionInputs(SAMPLE_DAY))!;
    const alerts: DetectionAlert[] = d.incidents.map((i) => {
      const entity: Record<string, string> = i.instrumentA
        ? { instrumentA: i.instrumentA, instrumentB: i.instrumentB! }
        : i.traderId
          ? { traderId: i.traderId }
          : { instrument: i.instrument! };
      return { type: i.type, entity, eventTime: Date.parse(String(i.end)) - 1 };
    });
    const r = evaluateDetection(d.incidents, alerts, { calm: d.calm });
    expect(r.totals.detected).toBe(r.totals.labelled);
    expect(r.totals.falseAlerts).toBe(0);
    expect(r.rows.filter((x) => x.labelled > 0).length).toBe(CONTRACT_ALERT_TYPES.length);
  });
});

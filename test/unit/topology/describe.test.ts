import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../../src/topology/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/market-watch.yaml', import.meta.url));

describe('describe', () => {
  it('prints sources, steps in topological order and parameters with --set marks', async () => {
    const t = await loadTopology(FIXTURE, { set: ['drop.pct=0.07', 'drop.window=90s'] });
    const text = t.describe();
    const lines = text.split('\n');
    expect(lines[0]).toBe('topology market-watch - Flash moves, off-market trades and position crossings');
    expect(text).toContain('  trades  stream trade  out-of-orderness 2s  idle timeout 1m\n  quotes  stream quote  out-of-orderness 0s  idle timeout 5m');
    expect(text).toMatch(/\n {2}marked +asofJoin +<- left trades, right mids\n +on instrument = instrument, right record as 'quote', max lag 5m\n/);
    expect(text).toMatch(/\n {2}swings +window +<- mids\n +key instrument, sliding 1m30s every 10s\n +allowed lateness 0s, early every 20s\n +aggregate hi = max\(mid\), lo = min\(mid\), last = last\(mid\), n = count\(\), smooth = ewma\(mid, 30s\)\n/);
    expect(text).toMatch(/\n {2}drop-alert +alert +<- swings\n +=> PRICE_DROP \(warning\) on market-risk-alerts, entity instrument=instrument\n +when firing == 'final' and last <= hi \* \(1 - params.drop.pct\)\n/);
    expect(text).toMatch(/fills +intervalJoin +<- left trades, right orders\n +on orderId = orderId, right.ts - left.ts in \[-5s, 0s\], right record as 'order'/);
    expect(text).toMatch(/crossings +process +<- trades\n +key traderId, udf positionCross \{"limit":1000\}/);
    expect(text).toContain("=> output 'mid-swings'");
    expect(text).toContain('parameters (* = set by --set)\n* drop.pct     = 0.07   (default 0.05)\n* drop.window  = 90s   (default 60s)\n  minNotional  = 100000\n');
    // every step appears once, after its inputs
    const order = lines.filter((l) => /^ {2}\S+ +\S+ +<- /.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    expect(order).toEqual(t.order);
    expect(order.indexOf('mids')).toBeLessThan(order.indexOf('swings'));
  });
});

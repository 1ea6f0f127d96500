import { describe, expect, it } from 'vitest';
import type { Trader } from '../../../src/core/reference.js';
import { DEFAULT_LIMIT_POLICY, LIMIT_TOPICS, LimitChecker, money, pct, TraderLimitState, type LimitBreach, type VarFigures } from '../../../src/risk/limits.js';
import { PositionBook } from '../../../src/risk/positions.js';

const TR07: Trader = {
  traderId: 'TR07',
  desk: 'EQ',
  beneficialOwner: 'TR07',
  maxPosition: 30_000,
  maxNotional: 10_000_000,
  maxLoss: 300_000,
  varLimit: 700_000,
  maxConcentration: 0.65,
};

/** A book with TR07 only, a checker, and a helper that applies an event and runs the book checks. */
function setup(lim: Trader = TR07) {
  const book = new PositionBook(() => 100);
  const checker = new LimitChecker(DEFAULT_LIMIT_POLICY);
  const st = new TraderLimitState();
  const out: LimitBreach[] = [];
  let ts = 0;
  const check = () => {
    const t = book.trader('TR07')!;
    checker.checkBook(t, st, lim, ts, out);
  };
  return {
    book,
    checker,
    st,
    out,
    trade(instrument: string, side: 'BUY' | 'SELL', qty: number, price: number) {
      const p = book.applyTrade(++ts, 'TR07', instrument, side, qty, price)!;
      checker.checkPosition(p, lim, ts, out);
      check();
    },
    quote(instrument: string, mid: number) {
      book.applyQuote(++ts, instrument, mid, mid);
      check();
    },
    types: () => out.map((b) => b.type),
  };
}

describe('limit episodes', () => {
  it('NOTIONAL_LIMIT fires once per episode, re-arms at or below 90%, then fires again', () => {
    const s = setup({ ...TR07, maxLoss: Infinity });
    s.trade('A', 'BUY', 20_000, 100); // 2.0M
    s.trade('B', 'BUY', 20_000, 100); // 4.0M
    s.trade('C', 'BUY', 20_000, 100);
    s.trade('D', 'BUY', 20_000, 100);
    s.trade('E', 'BUY', 20_000, 100); // 10.0M: not above
    expect(s.out).toEqual([]);
    s.quote('A', 106.2); // 10.124M
    expect(s.out.map((b) => b.message)).toEqual(['TR07 gross exposure 10.1M exceeds limit 10.0M']);
    s.quote('A', 110);
    s.quote('A', 95.5); // 9.91M: under the limit but above 90%: still disarmed
    s.quote('A', 106); // back above: no second alert
    expect(s.out).toHaveLength(1);
    s.quote('A', 50); // 9.0M = 90%: re-armed
    s.quote('A', 130); // 10.6M
    expect(s.out).toHaveLength(2);
    expect(s.out[1]!).toMatchObject({ type: 'NOTIONAL_LIMIT', traderId: 'TR07', value: 10_600_000, threshold: 10_000_000, severity: 'warning', eventTime: 11 });
  });

  it('is critical from 1.5x the limit', () => {
    const s = setup({ ...TR07, maxConcentration: Infinity });
    s.trade('A', 'BUY', 25_000, 100);
    s.trade('B', 'BUY', 25_000, 100);
    s.trade('C', 'BUY', 25_000, 100);
    s.trade('D', 'BUY', 25_000, 100); // 10M: at the limit
    s.trade('E', 'BUY', 25_000, 100); // 12.5M
    expect(s.out.map((b) => [b.type, b.severity])).toEqual([['NOTIONAL_LIMIT', 'warning']]);
    const s2 = setup({ ...TR07, maxConcentration: Infinity });
    for (const i of ['A', 'B', 'C', 'D']) s2.trade(i, 'BUY', 25_000, 100); // 10M
    s2.quote('A', 300); // one jump to 15M
    expect(s2.out.map((b) => [b.type, b.severity])).toEqual([['NOTIONAL_LIMIT', 'critical']]);
  });

  it('POSITION_LIMIT per instrument on |qty|, long or short, re-armed per position', () => {
    const s = setup({ ...TR07, maxNotional: Infinity, maxConcentration: Infinity });
    s.trade('A', 'SELL', 31_000, 10);
    expect(s.out.map((b) => b.message)).toEqual(['TR07 A position short 31,000 exceeds limit 30,000']);
    s.trade('A', 'SELL', 1_000, 10);
    s.trade('B', 'BUY', 45_000, 10);
    expect(s.out.map((b) => [b.type, b.severity, b.details.instrument])).toEqual([
      ['POSITION_LIMIT', 'warning', 'A'],
      ['POSITION_LIMIT', 'critical', 'B'],
    ]);
    s.trade('A', 'BUY', 5_000, 10); // 27,000 = 90%: re-armed
    s.trade('A', 'SELL', 4_000, 10);
    expect(s.out).toHaveLength(3);
  });

  it('LOSS_LIMIT on -pnl > maxLoss, value = the loss', () => {
    const s = setup({ ...TR07, maxNotional: Infinity, maxConcentration: Infinity });
    s.trade('A', 'BUY', 10_000, 100);
    s.quote('A', 71); // -290k
    expect(s.types()).toEqual(['DRAWDOWN']);
    s.quote('A', 69.5); // -305k
    expect(s.types()).toEqual(['DRAWDOWN', 'LOSS_LIMIT']);
    expect(s.out[1]!.message).toBe('TR07 day P&L -305.0k breaches loss limit 300.0k');
    expect([s.out[1]!.value, s.out[1]!.threshold]).toEqual([305_000, 300_000]);
  });

  it('DRAWDOWN when P&L falls half the loss limit below the day peak (>=), re-armed near the peak', () => {
    const s = setup({ ...TR07, maxNotional: Infinity, maxConcentration: Infinity });
    s.trade('A', 'BUY', 10_000, 100);
    s.quote('A', 120); // peak +200k
    s.quote('A', 105.01); // drawdown 149.9k
    expect(s.out).toEqual([]);
    s.quote('A', 105); // drawdown 150k = 50% of 300k: fires (>=)
    expect(s.out.map((b) => b.message)).toEqual(["TR07 P&L 50.0k is 150.0k below today's peak 200.0k (limit 150.0k)"]);
    s.quote('A', 106); // 140k: under the limit, not yet at 90%
    s.quote('A', 100);
    expect(s.out).toHaveLength(1);
    s.quote('A', 106.5); // 135k = 90%: re-armed
    s.quote('A', 104);
    expect(s.types()).toEqual(['DRAWDOWN', 'DRAWDOWN']);
  });

  it('CONCENTRATION_LIMIT only once gross exposure reaches 25% of maxNotional', () => {
    const s = setup({ ...TR07, maxPosition: Infinity });
    s.trade('A', 'BUY', 20_000, 100); // 100% concentrated but only 2M gross of 10M
    expect(s.out).toEqual([]);
    s.trade('A', 'BUY', 5_000, 100); // 2.5M = 25%: now it counts
    expect(s.out.map((b) => b.message)).toEqual(['TR07 A is 100% of gross exposure 2.5M (limit 65%)']);
    expect(s.out[0]!.severity).toBe('critical');
    s.trade('B', 'BUY', 25_000, 100); // 50%: re-armed (<= 58.5%)
    s.trade('A', 'BUY', 25_000, 100); // 66.7%
    expect(s.types()).toEqual(['CONCENTRATION_LIMIT', 'CONCENTRATION_LIMIT']);
    expect(s.out[1]!.value).toBeCloseTo(50 / 75, 12);
  });

  it('VAR_LIMIT on var > varLimit with the ES in the message', () => {
    const s = setup();
    s.trade('A', 'BUY', 100, 100);
    const t = s.book.trader('TR07')!;
    const f: VarFigures = { var: 812_500, es: 950_100, confidence: 0.99, horizonDays: 1, method: 'historical', scenarios: 250 };
    s.checker.checkVar(t, s.st, TR07, f, 5, s.out);
    s.checker.checkVar(t, s.st, TR07, { ...f, var: 900_000 }, 6, s.out);
    expect(s.out.map((b) => [b.type, b.message, b.eventTime])).toEqual([['VAR_LIMIT', 'TR07 1-day 99% VaR 812.5k exceeds limit 700.0k (ES 950.1k)', 5]]);
    s.checker.checkVar(t, s.st, TR07, { ...f, var: 630_000 }, 7, s.out); // 90%: re-armed
    s.checker.checkVar(t, s.st, TR07, { ...f, var: 1_050_000, horizonDays: 10 }, 8, s.out);
    expect(s.out[1]).toMatchObject({ severity: 'critical', message: 'TR07 10-day 99% VaR 1.1M exceeds limit 700.0k (ES 950.1k)' });
    expect(LIMIT_TOPICS.VAR_LIMIT).toBe('portfolio-risk-alerts');
    expect(LIMIT_TOPICS.DRAWDOWN).toBe('position-risk-alerts');
  });

  it('skips limits that traders.csv leaves empty (Infinity) and traders it does not know', () => {
    const s = setup({ ...TR07, maxPosition: Infinity, maxNotional: Infinity, maxLoss: Infinity, maxConcentration: Infinity });
    s.trade('A', 'BUY', 1e6, 100);
    s.quote('A', 1);
    expect(s.out).toEqual([]);
    const book = new PositionBook(() => 1);
    const p = book.applyTrade(1, 'X', 'A', 'BUY', 1e9, 1)!;
    const out: LimitBreach[] = [];
    new LimitChecker(DEFAULT_LIMIT_POLICY).checkPosition(p, undefined, 1, out);
    new LimitChecker(DEFAULT_LIMIT_POLICY).checkBook(p.trader, new TraderLimitState(), undefined, 1, out);
    expect(out).toEqual([]);
  });

  it('validates its policy', () => {
    expect(() => new LimitChecker({ ...DEFAULT_LIMIT_POLICY, rearmBelow: 1.2 })).toThrow(RangeError);
    expect(() => new LimitChecker({ ...DEFAULT_LIMIT_POLICY, criticalAt: 0.5 })).toThrow(RangeError);
  });
});

describe('formatting', () => {
  it('money and percentages read like a risk desk writes them', () => {
    expect([money(12_437_000), money(10e6), money(412_300), money(-80_200), money(950), money(999_960), money(2.5e9)]).toEqual([
      '12.4M',
      '10.0M',
      '412.3k',
      '-80.2k',
      '950',
      '1.0M',
      '2.5B',
    ]);
    expect([pct(0.65), pct(0.724), pct(1)]).toEqual(['65%', '72.4%', '100%']);
  });
});

import { describe, expect, it } from 'vitest';
import { Pacer, parseSpeed, type PacerClock } from '../../../src/connectors/replay/pacer.js';
import { UsageError } from '../../../src/core/errors.js';

/** Virtual wall time: sleeping advances the clock instantly and is recorded. */
class FakeClock implements PacerClock {
  t = 1_000_000;
  sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

describe('parseSpeed', () => {
  it('reads max and <N>x', () => {
    expect(parseSpeed('max')).toBe(Infinity);
    expect(parseSpeed('MAX')).toBe(Infinity);
    expect(parseSpeed('1x')).toBe(1);
    expect(parseSpeed('10x')).toBe(10);
    expect(parseSpeed('0.5x')).toBe(0.5);
    expect(parseSpeed(' 60X ')).toBe(60);
    expect(parseSpeed('25')).toBe(25);
  });

  it('rejects junk with a UsageError', () => {
    for (const junk of ['', 'x', 'fast', '0x', '-2x', '2xx', '1e999x', 'NaNx', 'Infinityx', '10 x', '0x10']) {
      expect(() => parseSpeed(junk), junk).toThrow(UsageError);
    }
  });
});

describe('Pacer', () => {
  it('starts the clock at the first event and keeps event time N times faster than wall time', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer(10, clock);
    await pacer.pace(50_000); // first batch: starts both clocks, no wait
    expect(clock.sleeps).toEqual([]);
    clock.t += 20; // processing took 20 ms
    await pacer.pace(51_000); // 1 s of event time = 100 ms of wall time at 10x
    expect(clock.sleeps).toEqual([80]);
    clock.t += 300; // a slow batch: already behind schedule, no wait
    await pacer.pace(52_000);
    expect(clock.sleeps).toEqual([80]);
    await pacer.pace(60_000); // due at start + 1000 ms; now is start + 400
    expect(clock.sleeps).toEqual([80, 600]);
    expect(clock.t).toBe(1_000_000 + 1000);
  });

  it('never waits for an event time at or behind the furthest seen, nor for sub-ms gaps', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer(1, clock);
    await pacer.pace(1000);
    await pacer.pace(900);
    await pacer.pace(1000);
    await pacer.pace(1000.5);
    expect(clock.sleeps).toEqual([]);
    await pacer.pace(1500);
    expect(clock.sleeps).toEqual([500]);
  });

  it('does not wait at all at max speed or for non-finite event times', async () => {
    const clock = new FakeClock();
    const max = new Pacer(parseSpeed('max'), clock);
    for (const ts of [0, 1e9, 2e9]) await max.pace(ts);
    const slow = new Pacer(2, clock);
    await slow.pace(-Infinity);
    await slow.pace(0);
    await slow.pace(Infinity);
    expect(clock.sleeps).toEqual([]);
  });

  it('restarts its clocks after reset()', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer(2, clock);
    await pacer.pace(0);
    pacer.reset();
    clock.t += 10_000;
    await pacer.pace(100_000);
    await pacer.pace(102_000);
    expect(clock.sleeps).toEqual([1000]);
  });

  it('rejects a non-positive speed', () => {
    expect(() => new Pacer(0)).toThrow(UsageError);
  });
});

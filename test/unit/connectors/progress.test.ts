import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/time.js';
import {
  formatCount,
  formatEta,
  formatProgress,
  ProgressReporter,
  type ProgressSnapshot,
} from '../../../src/observability/progress.js';

class FakeStream {
  chunks: string[] = [];
  constructor(readonly isTTY: boolean) {}
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const T0 = Date.UTC(2024, 2, 15, 14, 2, 11, 456);
const snap = (events: number, bytesRead: number, extra: Partial<ProgressSnapshot> = {}): ProgressSnapshot => ({
  events,
  eventTime: T0,
  bytesRead,
  totalBytes: 100,
  deadLetters: 0,
  ...extra,
});

describe('progress formatting', () => {
  it('formats counts and durations compactly', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(950)).toBe('950');
    expect(formatCount(9_540)).toBe('9.5k');
    expect(formatCount(812_345)).toBe('812k');
    expect(formatCount(1_234_567)).toBe('1.2M');
    expect(formatCount(3.45e9)).toBe('3.4G');
    expect(formatEta(7_000)).toBe('0:07');
    expect(formatEta(6_001)).toBe('0:07');
    expect(formatEta(754_000)).toBe('12:34');
    expect(formatEta(3_725_000)).toBe('1:02:05');
    expect(formatEta(Infinity)).toBe('--:--');
  });

  it('renders the bar line', () => {
    expect(formatProgress(snap(1_218_000, 43), 1500)).toBe(
      '[####......] 43% 1.2M ev  812k ev/s  event time 2024-03-15T14:02:11Z  ETA 0:02',
    );
    expect(formatProgress(snap(100, 100, { deadLetters: 3 }), 1000)).toBe(
      '[##########] 100% 100 ev  100 ev/s  event time 2024-03-15T14:02:11Z  ETA 0:00  3 dead letters',
    );
    expect(formatProgress(snap(0, 0, { totalBytes: 0, eventTime: -Infinity }), 0, 0)).toBe(
      '?% 0 ev  0 ev/s  event time -  ETA --:--',
    );
  });
});

describe('ProgressReporter', () => {
  it('on a TTY redraws one line in place, at most every intervalMs, and ends with a newline', () => {
    const stream = new FakeStream(true);
    const clock = new ManualClock(0);
    const p = new ProgressReporter({ stream, clock, intervalMs: 100 });
    p.update(snap(0, 0));
    expect(stream.chunks).toHaveLength(1);
    clock.advance(50);
    p.update(snap(10, 10));
    expect(stream.chunks).toHaveLength(1);
    clock.advance(60);
    p.update(snap(20_000, 50));
    expect(stream.chunks).toHaveLength(2);
    expect(stream.chunks[1]).toBe('\r[#####.....] 50% 20k ev  181k ev/s  event time 2024-03-15T14:02:11Z  ETA 0:01');
    expect(stream.text).not.toContain('\n');
    clock.advance(1000);
    p.update(snap(30_000, 60));
    p.finish(snap(40_000, 100));
    const last = stream.chunks.at(-1)!;
    expect(last.startsWith('\r[##########] 100% 40k ev')).toBe(true);
    expect(last.endsWith('\n')).toBe(true);
    expect(stream.text.split('\n')).toHaveLength(2);
    p.update(snap(50_000, 100));
    p.finish();
    expect(stream.chunks.at(-1)).toBe(last);
  });

  it('pads over the tail of a longer previous line', () => {
    const stream = new FakeStream(true);
    const clock = new ManualClock(0);
    const p = new ProgressReporter({ stream, clock, intervalMs: 0 });
    p.update(snap(5, 10, { deadLetters: 12_345 }));
    clock.advance(1);
    p.update(snap(6, 10, { deadLetters: 0 }));
    const [a, b] = stream.chunks;
    expect(b!.length).toBe(a!.length);
    expect(b!.trimEnd()).not.toContain('dead');
  });

  it('on a non-TTY prints plain lines, the first after ~5 s, then at most every 5 s', () => {
    const stream = new FakeStream(false);
    const clock = new ManualClock(1000);
    const p = new ProgressReporter({ stream, clock });
    p.update(snap(1, 1));
    clock.advance(4999);
    p.update(snap(2, 2));
    expect(stream.chunks).toEqual([]);
    clock.advance(1);
    p.update(snap(3, 3));
    clock.advance(1000);
    p.update(snap(4, 4));
    expect(stream.chunks).toEqual(['progress 3% 3 ev  1 ev/s  event time 2024-03-15T14:02:11Z  ETA 2:42\n']);
    clock.advance(5000);
    p.update(snap(5, 5));
    expect(stream.chunks).toHaveLength(2);
    p.finish();
    expect(stream.chunks).toHaveLength(3);
    expect(stream.chunks[2]).toMatch(/^progress 5% 5 ev .*\n$/);
    expect(stream.text).not.toContain('\r');
  });

  it('prints nothing on finish() when nothing was ever reported', () => {
    const stream = new FakeStream(false);
    new ProgressReporter({ stream, clock: new ManualClock(0) }).finish();
    expect(stream.chunks).toEqual([]);
  });
});

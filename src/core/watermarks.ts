/**
 * Bounded-out-of-orderness watermarks per source partition, with idleness.
 *
 * Each partition's watermark is `maxTs - outOfOrderness - 1` (no record with `ts <= wm` is
 * expected any more). The source's watermark is the minimum over its partitions. A partition
 * that has produced nothing for `idleTimeout` of the job's event-time clock (the largest event
 * time seen anywhere in the job) is idle: it no longer holds the minimum back and instead follows
 * the clock, as if it had seen a record at the clock's time. Judging idleness against event time
 * rather than the wall clock keeps replays deterministic; live sources feed the same clock.
 *
 * @example
 * const wm = new WatermarkTracker({ outOfOrdernessMs: 2000, idleTimeoutMs: 30_000 });
 * wm.observe('trades-0', 1_000_000); wm.current(); // 997_999
 */
export interface WatermarkOptions {
  /** How far behind the newest record a record may arrive and still be on time. */
  outOfOrdernessMs: number;
  /** After this much event time without a record a partition is idle. Infinity = never idle. */
  idleTimeoutMs?: number;
}

interface PartitionState {
  maxTs: number;
  lastActivity: number;
}

export interface WatermarkTrackerSnapshot {
  partitions: Array<[string, number, number]>;
  clock: number;
  emitted: number;
}

export class WatermarkTracker {
  private readonly bound: number;
  private readonly idleTimeout: number;
  private readonly partitions = new Map<string, PartitionState>();
  private clock = Number.NEGATIVE_INFINITY;
  private emitted = Number.NEGATIVE_INFINITY;

  constructor(opts: WatermarkOptions) {
    this.bound = opts.outOfOrdernessMs;
    this.idleTimeout = opts.idleTimeoutMs ?? Number.POSITIVE_INFINITY;
  }

  /** Declares a partition before it has data, so that it holds the watermark back until idle. */
  addPartition(partition: string): void {
    if (!this.partitions.has(partition)) {
      this.partitions.set(partition, { maxTs: Number.NEGATIVE_INFINITY, lastActivity: this.clock });
      this.noteOnly();
    }
  }

  /** The state of the only partition, when there is exactly one (the per-record fast path). */
  private only: PartitionState | undefined;
  private onlyName: string | undefined;

  private noteOnly(): void {
    if (this.partitions.size === 1) {
      const [name, state] = this.partitions.entries().next().value as [string, PartitionState];
      this.onlyName = name;
      this.only = state;
    } else {
      this.onlyName = undefined;
      this.only = undefined;
    }
  }

  /** Records a record's event time on a partition; also moves the event-time clock. */
  observe(partition: string, ts: number): void {
    let p = partition === this.onlyName ? this.only : this.partitions.get(partition);
    if (ts > this.clock) this.moveClock(ts);
    if (p === undefined) {
      p = { maxTs: ts, lastActivity: this.clock };
      this.partitions.set(partition, p);
      this.noteOnly();
    } else if (ts > p.maxTs) {
      p.maxTs = ts;
    }
    // Activity is the clock at the record's arrival: an old straggler still proves the partition alive.
    p.lastActivity = this.clock;
  }

  /**
   * `observe(partition, ts)` then `current()` in one call (the runner's per-record path), with the
   * same results; the common case (the only partition) touches no map.
   */
  observeCurrent(partition: string, ts: number): number {
    const p = this.only;
    if (p === undefined || partition !== this.onlyName) {
      this.observe(partition, ts);
      return this.current();
    }
    if (ts > this.clock) this.moveClock(ts);
    if (ts > p.maxTs) p.maxTs = ts;
    const clock = this.clock;
    p.lastActivity = clock;
    const held = clock - clock >= this.idleTimeout ? Math.max(p.maxTs, clock) : p.maxTs;
    if (held === Number.POSITIVE_INFINITY) return this.emitted;
    const wm = held - this.bound - 1;
    if (wm > this.emitted) this.emitted = wm;
    return this.emitted;
  }

  /** Moves the event-time clock (the job-wide max event time) without a record here. */
  advanceClock(now: number): void {
    if (now > this.clock) this.moveClock(now);
  }

  private moveClock(now: number): void {
    // Partitions declared before the clock started count their silence from its first value.
    if (this.clock === Number.NEGATIVE_INFINITY) {
      for (const p of this.partitions.values()) if (p.lastActivity === Number.NEGATIVE_INFINITY) p.lastActivity = now;
    }
    this.clock = now;
  }

  /** Where partition p holds the watermark: its largest event time, or the clock once it is idle. */
  private heldAt(p: PartitionState): number {
    return this.clock - p.lastActivity >= this.idleTimeout ? Math.max(p.maxTs, this.clock) : p.maxTs;
  }

  /** The watermark now: never lower than one returned before. */
  current(): number {
    let min = Number.POSITIVE_INFINITY;
    if (this.only !== undefined) {
      // One partition (a replayed stream): no iteration.
      min = this.heldAt(this.only);
    } else {
      for (const p of this.partitions.values()) {
        const ts = this.heldAt(p);
        if (ts < min) min = ts;
      }
    }
    if (min === Number.POSITIVE_INFINITY) return this.emitted;
    const wm = min - this.bound - 1;
    if (wm > this.emitted) this.emitted = wm;
    return this.emitted;
  }

  snapshot(): WatermarkTrackerSnapshot {
    return {
      partitions: [...this.partitions].map(([k, p]) => [k, p.maxTs, p.lastActivity]),
      clock: this.clock,
      emitted: this.emitted,
    };
  }

  restore(s: WatermarkTrackerSnapshot): void {
    this.partitions.clear();
    for (const [k, maxTs, lastActivity] of s.partitions) this.partitions.set(k, { maxTs, lastActivity });
    this.noteOnly();
    this.clock = s.clock;
    this.emitted = s.emitted;
  }
}

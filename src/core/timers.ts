/**
 * Event-time timers per key (Flink's timer service) and the binary heap that the engine's
 * time-ordered queues share (timers, state TTL, join buffers).
 */

/**
 * A binary min-heap ordered by a `less` function. Shared by every time-ordered queue in the engine
 * so that each one does not carry its own; `less` must be a strict order that is total on the
 * items, which makes pop order deterministic (e.g. compare ts, then a sequence number).
 *
 * @example
 * const h = new BinaryHeap<{ ts: number; seq: number }>((a, b) => a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq));
 * h.push({ ts: 5, seq: 0 }); h.push({ ts: 1, seq: 1 });
 * h.pop()?.ts; // 1
 */
export class BinaryHeap<T> {
  private items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as T;
      if (!this.less(item, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const n = a.length;
    if (n === 0) return undefined;
    const top = a[0] as T;
    const last = a.pop() as T;
    if (n > 1) this.siftDown(last, 0);
    return top;
  }

  /** Every item, in no particular order (for snapshots and compaction). */
  toArray(): T[] {
    return this.items.slice();
  }

  /** Replaces the content; O(n) heapify. */
  reset(items: T[]): void {
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(items[i] as T, i);
  }

  clear(): void {
    this.items = [];
  }

  private siftDown(item: T, start: number): void {
    const a = this.items;
    const n = a.length;
    let i = start;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && this.less(a[r] as T, a[c] as T)) c = r;
      const child = a[c] as T;
      if (!this.less(child, item)) break;
      a[i] = child;
      i = c;
    }
    a[i] = item;
  }
}

interface Timer {
  ts: number;
  seq: number;
  key: string;
  live: boolean;
}

/**
 * Checkpoint form of a `TimerQueue`: live timers as [key, ts, seq] in firing order, plus the next
 * sequence number, so that timers registered after a restore still fire after the restored ones.
 *
 * @example
 * const snap: TimerQueueSnapshot = queue.snapshot(); // { timers: [['ACME', 1000, 0]], seq: 1 }
 */
export interface TimerQueueSnapshot {
  timers: Array<[string, number, number]>;
  seq: number;
}

const timerLess = (a: Timer, b: Timer): boolean => a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);

/**
 * Event-time timers per key. A (key, ts) pair is registered at most once (registering it again is a
 * no-op, as in Flink); `fireUpTo(wm)` fires every timer with `ts <= wm` in (ts, registration
 * sequence) order. Timers registered from inside the callback with `ts <= wm` fire in the same
 * pass, after the one running, so a timer chain that stays behind the watermark completes before
 * the watermark moves on. Deleting is lazy (the heap entry is marked dead and skipped), with a
 * compaction when dead entries outnumber live ones, so register/delete churn stays bounded.
 *
 * @example
 * const q = new TimerQueue();
 * q.register('ACME', 1_000); q.register('ACME', 1_000); q.register('XYZ', 500);
 * q.fireUpTo(1_000, (key, ts) => console.log(key, ts)); // XYZ 500, then ACME 1000
 */
export class TimerQueue {
  private readonly heap = new BinaryHeap<Timer>(timerLess);
  private readonly byKey = new Map<string, Map<number, Timer>>();
  private seq = 0;
  private live = 0;
  private dead = 0;

  /** Number of pending timers. */
  get size(): number {
    return this.live;
  }

  register(key: string, ts: number): void {
    let m = this.byKey.get(key);
    if (m === undefined) {
      m = new Map();
      this.byKey.set(key, m);
    } else if (m.has(ts)) {
      return;
    }
    const t: Timer = { ts, seq: this.seq++, key, live: true };
    m.set(ts, t);
    this.heap.push(t);
    this.live++;
  }

  delete(key: string, ts: number): void {
    const m = this.byKey.get(key);
    const t = m?.get(ts);
    if (m === undefined || t === undefined) return;
    t.live = false;
    m.delete(ts);
    if (m.size === 0) this.byKey.delete(key);
    this.live--;
    this.dead++;
    if (this.dead > 1024 && this.dead > this.live) this.compact();
  }

  has(key: string, ts: number): boolean {
    return this.byKey.get(key)?.has(ts) ?? false;
  }

  /** Earliest pending timer's ts, or +Infinity when none. */
  nextTimestamp(): number {
    this.dropDeadTop();
    return this.heap.peek()?.ts ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Fires, in (ts, seq) order, every timer with `ts <= wm`, including those that `onTimer`
   * registers while this runs. Returns how many fired.
   */
  fireUpTo(wm: number, onTimer: (key: string, ts: number) => void): number {
    let fired = 0;
    for (;;) {
      const t = this.heap.peek();
      if (t === undefined || t.ts > wm) break;
      this.heap.pop();
      if (!t.live) {
        this.dead--;
        continue;
      }
      // Unregister before the callback so that it may register the same (key, ts) again.
      const m = this.byKey.get(t.key);
      if (m !== undefined) {
        m.delete(t.ts);
        if (m.size === 0) this.byKey.delete(t.key);
      }
      t.live = false;
      this.live--;
      fired++;
      onTimer(t.key, t.ts);
    }
    return fired;
  }

  snapshot(): TimerQueueSnapshot {
    const timers: Array<[string, number, number]> = [];
    for (const t of this.heap.toArray()) if (t.live) timers.push([t.key, t.ts, t.seq]);
    timers.sort((a, b) => a[1] - b[1] || a[2] - b[2]);
    return { timers, seq: this.seq };
  }

  restore(s: TimerQueueSnapshot): void {
    this.byKey.clear();
    const items: Timer[] = [];
    for (const [key, ts, seq] of s.timers) {
      const t: Timer = { ts, seq, key, live: true };
      items.push(t);
      let m = this.byKey.get(key);
      if (m === undefined) {
        m = new Map();
        this.byKey.set(key, m);
      }
      m.set(ts, t);
    }
    this.heap.reset(items);
    this.seq = s.seq;
    this.live = items.length;
    this.dead = 0;
  }

  private dropDeadTop(): void {
    for (let t = this.heap.peek(); t !== undefined && !t.live; t = this.heap.peek()) {
      this.heap.pop();
      this.dead--;
    }
  }

  private compact(): void {
    this.heap.reset(this.heap.toArray().filter((t) => t.live));
    this.dead = 0;
  }
}

import { describe, expect, it } from 'vitest';
import { Observable, share } from 'rxjs';
import { deferredMulticast, shareLean } from '../../../src/core/multicast.js';

/** What each of two readers saw: values, then 'E:<message>' or 'C'. */
function record(subscribe: (observer: { next(v: number): void; error(e: unknown): void; complete(): void }) => void): string[] {
  const log: string[] = [];
  subscribe({ next: (v) => log.push(String(v)), error: (e) => log.push(`E:${(e as Error).message}`), complete: () => log.push('C') });
  return log;
}

/** A source that goes on sending after it ended (a misbehaving upstream): RxJS drops what comes after. */
const sources: Record<string, () => Observable<number>> = {
  values: () =>
    new Observable<number>((s) => {
      for (let i = 0; i < 5; i++) s.next(i);
      s.complete();
    }),
  'after complete': () =>
    new Observable<number>((s) => {
      s.next(1);
      s.complete();
      s.next(2);
      s.error(new Error('late'));
    }),
  'after error': () =>
    new Observable<number>((s) => {
      s.next(1);
      s.error(new Error('boom'));
      s.next(2);
      s.complete();
    }),
};

describe('deferredMulticast and shareLean', () => {
  for (const [name, make] of Object.entries(sources)) {
    it(`give every reader what RxJS share() gives (${name})`, () => {
      const want: string[][] = [];
      const shared = make().pipe(share());
      want.push(record((o) => shared.subscribe(o)));
      want.push(record((o) => shared.subscribe(o)));
      // share() connects on the first subscription: the second reader sees nothing of a synchronous source.

      const { stream, connect } = deferredMulticast(make());
      const a: string[] = [];
      const b: string[] = [];
      stream.subscribe({ next: (v) => a.push(String(v)), error: (e) => a.push(`E:${(e as Error).message}`), complete: () => a.push('C') });
      stream.subscribe({ next: (v) => b.push(String(v)), error: (e) => b.push(`E:${(e as Error).message}`), complete: () => b.push('C') });
      connect();
      // Both readers subscribed before data flowed: each sees what share()'s first reader saw.
      expect(a).toEqual(want[0]);
      expect(b).toEqual(want[0]);

      const lean = make().pipe(shareLean());
      expect(record((o) => lean.subscribe(o))).toEqual(want[0]);
    });
  }
});

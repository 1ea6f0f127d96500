import { describe, expect, it } from 'vitest';
import { from } from 'rxjs';
import { elementOperator, type ElementHandler } from '../../../src/operators/internals.js';
import { twoInputOperator } from '../../../src/operators/join-internals.js';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';

interface Rec {
  ts: number;
  v: number;
}

/** A handler written as a class: its methods read their state through `this`. */
class Doubler implements ElementHandler<Rec, Rec> {
  private count = 0;
  constructor(private readonly factor: number) {}
  onRecord(r: Rec, emit: (e: Element<Rec>) => void): void {
    this.count++;
    emit({ ts: r.ts, v: r.v * this.factor + this.count });
  }
}

describe('elementOperator', () => {
  it('calls a class handler as a method (with its own this), forwards watermarks, and keeps one handler per subscription', () => {
    const input: Array<Element<Rec>> = [{ ts: 1, v: 1 }, new Watermark(1), { ts: 2, v: 5 }, END_OF_TIME];
    const op = elementOperator<Rec, Rec>(() => new Doubler(10));
    const run = (): Array<Element<Rec>> => {
      const out: Array<Element<Rec>> = [];
      from(input).pipe(op).subscribe((e) => out.push(e));
      return out;
    };
    const want = [{ ts: 1, v: 11 }, new Watermark(1), { ts: 2, v: 52 }, END_OF_TIME];
    expect(run()).toEqual(want);
    expect(run()).toEqual(want);
  });
});

describe('twoInputOperator', () => {
  it('calls a class handler as a method (with its own this) for each input', () => {
    class Tagger {
      private n = 0;
      constructor(private readonly scope: { emit(o: string): void }) {}
      onLeft(l: Rec): void {
        this.scope.emit(`L${l.v}#${++this.n}`);
      }
      onRight(r: Rec): void {
        this.scope.emit(`R${r.v}#${++this.n}`);
      }
      onWatermark(): void {}
    }
    const out: Array<Element<string>> = [];
    from<Array<Element<Rec>>>([{ ts: 1, v: 1 }, { ts: 2, v: 2 }])
      .pipe(twoInputOperator<Rec, Rec, string>(from<Array<Element<Rec>>>([{ ts: 1, v: 9 }]), (scope) => new Tagger(scope), { name: 'tag' }))
      .subscribe((e) => out.push(e));
    // The right input is subscribed first (see twoInputOperator).
    expect(out.filter((e) => typeof e === 'string')).toEqual(['R9#1', 'L1#2', 'L2#3']);
  });
});

import type { KeyedProcessFunction } from '../src/operators/keyed-process.js';
import { defineProcess } from '../src/topology/udfs.js';

/** A record `positionCross` emits when a running position crosses its limit. */
export interface PositionCross {
  ts: number;
  /** The step's key (e.g. the trader id). */
  key: string;
  traderId: unknown;
  instrument: unknown;
  tradeId: unknown;
  /** Signed position after the trade (BUY adds qty, SELL subtracts it). */
  position: number;
  limit: number;
  /** 'above' when |position| went over the limit, 'below' when it came back within it. */
  direction: 'above' | 'below';
}

/**
 * `positionCross`: per key (typically `keyBy: traderId`, or `[traderId, instrument]`), the running
 * signed position of the trades (BUY +qty, SELL -qty) and a record each time |position| crosses
 * `params.limit`: `direction: above` when it goes over, then (with `params.reportBack: true`,
 * default) `below` once it is back within it. The position lives in keyed state, so it is
 * checkpointed. Params: `limit` (number > 0, required), `reportBack` (boolean).
 *
 * @example
 * - { id: crossings, type: process, input: trades, keyBy: traderId, udf: positionCross, params: { limit: "${params.maxPosition}" } }
 */
export const positionCross = defineProcess('positionCross', (params): KeyedProcessFunction<any, PositionCross> => {
  const limit = Number(params.limit);
  if (!(limit > 0)) throw new Error(`params.limit must be a number > 0, got ${JSON.stringify(params.limit)}`);
  const reportBack = params.reportBack === undefined ? true : params.reportBack === true;
  return {
    processElement(t, ctx, out) {
      const qty = Number(t.qty);
      if (!Number.isFinite(qty)) return;
      const pos = ctx.value<number>('position');
      const above = ctx.value<boolean>('above');
      const next = (pos.value() ?? 0) + (t.side === 'SELL' ? -qty : qty);
      pos.update(next);
      const was = above.value() ?? false;
      const is = Math.abs(next) > limit;
      if (is === was) return;
      above.update(is);
      if (!is && !reportBack) return;
      out({
        ts: t.ts,
        key: ctx.key,
        traderId: t.traderId,
        instrument: t.instrument,
        tradeId: t.tradeId,
        position: next,
        limit,
        direction: is ? 'above' : 'below',
      });
    },
  };
});

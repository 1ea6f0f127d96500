import { asofJoin } from '../../operators/asof-join.js';
import { intervalJoin } from '../../operators/interval-join.js';
import { union } from '../../operators/union.js';
import { mapRecords } from '../../operators/map-records.js';
import type { Timestamped } from '../../core/element.js';
import type { AsofJoinStep, EnrichStep, IntervalJoinStep, StepTypeDefinition, UnionStep, ValidateContext } from '../schema.js';
import { parseDuration } from '../../core/time.js';
import { formatDuration, parseSignedDuration } from '../util.js';
import { FIELD_NAME, keyText } from './util.js';

type Rec = Timestamped & Record<string, unknown>;

function validateAs(v: ValidateContext): void {
  v.string('as', { required: true, pattern: FIELD_NAME, patternText: 'a field name (letters, digits, _)' });
}

/** `asofJoin`: each left record with the right record of its key current at its event time. */
export const asofJoinStep: StepTypeDefinition<AsofJoinStep> = {
  inputFields: ['left', 'right'],
  fields: ['leftKey', 'rightKey', 'as', 'maxLag'],
  validate(_step, v) {
    v.key('leftKey', { required: true });
    v.key('rightKey', { required: true });
    validateAs(v);
    v.duration('maxLag');
  },
  build(step, [left, right], env) {
    const as = step.as;
    return left!.pipe(
      asofJoin<Rec, Rec, Rec>(right!, {
        id: env.operatorId,
        ctx: env.ctx,
        leftKey: env.key(step.leftKey, 'leftKey'),
        rightKey: env.key(step.rightKey, 'rightKey'),
        combine: (l, r) => ({ ...l, [as]: r }),
        maxLagMs: step.maxLag === undefined ? undefined : parseDuration(step.maxLag),
        late: env.late(),
        lateRight: env.late(),
      }),
    );
  },
  describe: (step) => [
    `on ${keyText(step.leftKey)} = ${keyText(step.rightKey)}, right record as '${step.as}'${step.maxLag !== undefined ? `, max lag ${formatDuration(parseDuration(step.maxLag))}` : ''}`,
  ],
};

/** `intervalJoin`: pairs with `right.ts - left.ts` within `between`, one output per pair. */
export const intervalJoinStep: StepTypeDefinition<IntervalJoinStep> = {
  inputFields: ['left', 'right'],
  fields: ['leftKey', 'rightKey', 'as', 'between'],
  validate(step, v) {
    v.key('leftKey', { required: true });
    v.key('rightKey', { required: true });
    validateAs(v);
    const b = v.get('between');
    if (b === undefined) v.error('between', "missing required field 'between' ([lower, upper], e.g. [-5s, 5s])");
    else if (!Array.isArray(b) || b.length !== 2) v.error('between', "'between' must be a list [lower, upper], e.g. [-5s, 5s]");
    else {
      const lo = v.duration('between.0', { signed: true });
      const hi = v.duration('between.1', { signed: true });
      if (lo !== undefined && hi !== undefined && lo > hi) v.error('between', `'between' lower bound ${String(step.between[0])} is above the upper bound ${String(step.between[1])}`);
    }
  },
  build(step, [left, right], env) {
    const as = step.as;
    return left!.pipe(
      intervalJoin<Rec, Rec, Rec>(right!, {
        id: env.operatorId,
        ctx: env.ctx,
        leftKey: env.key(step.leftKey, 'leftKey'),
        rightKey: env.key(step.rightKey, 'rightKey'),
        lowerBoundMs: parseSignedDuration(step.between[0], 'between'),
        upperBoundMs: parseSignedDuration(step.between[1], 'between'),
        combine: (l, r, ts) => ({ ...l, ts, [as]: r }),
        late: env.late(),
        lateRight: env.late(),
      }),
    );
  },
  describe: (step) => [
    `on ${keyText(step.leftKey)} = ${keyText(step.rightKey)}, right.ts - left.ts in [${formatDuration(parseSignedDuration(step.between[0], 'between'))}, ${formatDuration(parseSignedDuration(step.between[1], 'between'))}], right record as '${step.as}'`,
  ],
};

/** `union`: merges streams; the watermark is the minimum of the inputs'. */
export const unionStep: StepTypeDefinition<UnionStep> = {
  inputFields: ['inputs'],
  fields: [],
  validate(step, v) {
    if (!Array.isArray(step.inputs)) v.error('inputs', "'inputs' must be a list of sources or steps");
  },
  build(_step, inputs, env) {
    return union<unknown>(...inputs, { id: env.operatorId, ctx: env.ctx });
  },
};

/** `enrich`: adds the reference record (instrument or trader) of the record's key under `as`. */
export const enrichStep: StepTypeDefinition<EnrichStep> = {
  fields: ['from', 'key', 'as'],
  validate(_step, v) {
    v.string('from', { required: true, oneOf: ['instruments', 'traders'] });
    v.key('key', { required: true });
    validateAs(v);
  },
  build(step, [input], env) {
    const table: Map<string, unknown> = step.from === 'instruments' ? env.reference.instruments : env.reference.traders;
    const key = env.key(step.key, 'key');
    const as = step.as;
    return input!.pipe(mapRecords((r: Rec) => ({ ...r, [as]: table.get(key(r)) })));
  },
  describe: (step) => [`${step.from}[${keyText(step.key)}] as '${step.as}'`],
};

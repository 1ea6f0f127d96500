import type { Timestamped } from '../../core/element.js';
import { keyedProcess } from '../../operators/keyed-process.js';
import type { ProcessStep, StepTypeDefinition } from '../schema.js';
import { guardProcess, type ProcessUdf } from '../udfs.js';
import { keyText } from './util.js';

type Rec = Timestamped & Record<string, unknown>;

/** `process`: a keyed process function from a process UDF, with keyed state and event-time timers. */
export const processStep: StepTypeDefinition<ProcessStep> = {
  fields: ['keyBy', 'udf', 'params'],
  validate(step, v) {
    v.key('keyBy');
    const udf = v.udf('udf', 'process') as ProcessUdf | undefined;
    const params = v.mapping('params');
    if (udf && (params !== undefined || step.params === undefined)) {
      // The factory sees its params now, so it can reject bad ones as a validation error.
      try {
        const fn = udf.factory(step.params ?? {});
        if (!fn || typeof fn.processElement !== 'function') v.error('udf', `process udf '${udf.name}' must return { processElement, onTimer? }`);
      } catch (e) {
        v.error('params', `process udf '${udf.name}' rejected its params: ${(e as Error).message}`);
      }
    }
  },
  build(step, [input], env) {
    const udf = env.udfs.processes.get(step.udf)!;
    const make = env.guard(udf.factory, step.udf);
    return input!.pipe(
      keyedProcess<Rec, Rec>({
        id: env.operatorId,
        ctx: env.ctx,
        key: env.key(step.keyBy, 'keyBy'),
        fn: guardProcess(make(step.params ?? {}), step.udf, env.stepId),
      }),
    );
  },
  describe: (step) => [`key ${keyText(step.keyBy)}, udf ${step.udf}${step.params ? ` ${JSON.stringify(step.params)}` : ''}`],
};

import { elementOperator } from '../../operators/internals.js';
import { filterRecords } from '../../operators/filter-records.js';
import type { DeriveStep, FilterStep, MapStep, SinkStep, StepTypeDefinition } from '../schema.js';
import { guardMap } from '../udfs.js';
import { exprText, FIELD_NAME } from './util.js';



/** `filter`: keeps the records for which `where` is true. */
export const filterStep: StepTypeDefinition<FilterStep> = {
  fields: ['where'],
  validate(_step, v) {
    v.expression('where', { required: true });
  },
  build(step, [input], env) {
    const where = env.expression(step.where, 'where');
    return input!.pipe(filterRecords((r) => !!where(r)));
  },
  describe: (step) => [`where ${exprText(step.where)}`],
};

/** `derive`: adds or replaces fields, each an expression that may use the fields defined before it. */
export const deriveStep: StepTypeDefinition<DeriveStep> = {
  fields: ['fields'],
  validate(_step, v) {
    const fields = v.mapping('fields', { required: true, nonEmpty: true });
    if (!fields) return;
    for (const name of Object.keys(fields)) {
      if (!FIELD_NAME.test(name)) v.error(`fields.${name}`, `field name '${name}' must be an identifier so expressions can use it`);
      else v.expression(`fields.${name}`, { required: true });
    }
  },
  build(step, [input], env) {
    const names = Object.keys(step.fields);
    const fns = names.map((n) => env.expression(step.fields[n]!, `fields.${n}`));
    const k = names.length;
    return input!.pipe(
      elementOperator<Record<string, unknown>, Record<string, unknown>>(() => ({
        onRecord(r, emit) {
          const o: Record<string, unknown> = { ...r };
          // Evaluated on the output record, so a later field can use an earlier one.
          for (let i = 0; i < k; i++) o[names[i]!] = fns[i]!(o);
          emit(o);
        },
      })),
    );
  },
  describe: (step) => Object.entries(step.fields).map(([k, e]) => `${k} = ${exprText(e)}`),
};

/** `map`: a map UDF per record; null/undefined drops the record. */
export const mapStep: StepTypeDefinition<MapStep> = {
  fields: ['udf', 'params'],
  validate(_step, v) {
    v.udf('udf', 'map');
    v.mapping('params');
  },
  build(step, [input], env) {
    const udf = env.udfs.maps.get(step.udf)!;
    const fn = guardMap(udf.fn, step.udf, env.stepId);
    const params = step.params ?? {};
    return input!.pipe(
      elementOperator<unknown, unknown>(() => ({
        onRecord(r, emit) {
          const o = fn(r, params);
          if (o !== undefined && o !== null) emit(o);
        },
      })),
    );
  },
  describe: (step) => [`udf ${step.udf}${step.params ? ` ${JSON.stringify(step.params)}` : ''}`],
};

/** `sink`: hands every record to the runner's named output. */
export const sinkStep: StepTypeDefinition<SinkStep> = {
  fields: ['name'],
  terminal: true,
  sinkName: (step) => (typeof step.name === 'string' ? step.name : step.id),
  validate(_step, v) {
    v.string('name', { pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, patternText: 'letters, digits, _, . and -' });
  },
  build(step, [input], env) {
    const name = step.name ?? step.id;
    return input!.pipe(
      elementOperator<unknown, unknown>(() => ({
        onRecord(r, emit) {
          env.output(name, r);
          emit(r);
        },
      })),
    );
  },
  describe: (step) => [`=> output '${step.name ?? step.id}'`],
};

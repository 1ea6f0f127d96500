import { ALERT_TOPICS, canonicalJson, makeAlert, type Severity } from '../../core/alerts.js';
import { parseDuration } from '../../core/time.js';
import { UserFunctionError } from '../../core/errors.js';
import { elementOperator } from '../../operators/internals.js';
import type { AlertStep, StepTypeDefinition } from '../schema.js';
import { didYouMean } from '../util.js';
import { exprText } from './util.js';

const SEVERITIES: readonly string[] = ['info', 'warning', 'critical'];
const ALERT_FIELDS = ['type', 'severity', 'topic', 'entity', 'value', 'threshold', 'message', 'details'];
/** Names that alert templates and details read from the alert being built rather than the record. */
export const ALERT_LOCALS = ['value', 'threshold', 'severity', 'type'] as const;

type Rec = Record<string, unknown> & { ts: number };

/**
 * `alert`: for each record where `when` holds, an alert of CONTRACTS.md section 3 (via makeAlert):
 * eventTime = the record's ts, windowStart/windowEnd when the record has them, rule = step id.
 * Its output stream carries the alerts.
 */
export const alertStep: StepTypeDefinition<AlertStep> = {
  fields: ['when', 'alert', 'throttle'],
  terminal: true,
  validate(_step, v) {
    v.expression('when');
    v.duration('throttle', { positive: true });
    const a = v.mapping('alert', { required: true });
    if (!a) return;
    for (const k of Object.keys(a)) {
      if (!ALERT_FIELDS.includes(k)) v.error(`alert.${k}`, `unknown alert field '${k}'${didYouMean(k, ALERT_FIELDS)} (fields: ${ALERT_FIELDS.join(', ')})`);
    }
    v.string('alert.type', { required: true, pattern: /^[A-Z][A-Z0-9_]*$/, patternText: 'upper-case letters, digits and _ (e.g. PRICE_DROP)' });
    const sev = v.get('alert.severity');
    if (sev === undefined) v.error('alert.severity', `missing required field 'alert.severity' (${SEVERITIES.join(', ')}, or an expression giving one)`);
    else if (typeof sev !== 'string') v.error('alert.severity', `'alert.severity' must be ${SEVERITIES.join(', ')} or an expression, got ${typeof sev}`);
    else if (/^\s*[A-Za-z_]\w*\s*$/.test(sev) && !SEVERITIES.includes(sev.trim())) {
      // A bare word is almost always a misspelt severity; a field must be written as an expression, e.g. "(sev)".
      v.error('alert.severity', `'alert.severity' must be ${SEVERITIES.join(', ')} or an expression giving one, got '${sev}'${didYouMean(sev, SEVERITIES)}`);
    } else if (!SEVERITIES.includes(sev)) v.expression('alert.severity', { locals: ALERT_LOCALS });
    v.string('alert.topic', { required: true, oneOf: ALERT_TOPICS });
    const entity = v.mapping('alert.entity', { required: true, nonEmpty: true });
    for (const k of Object.keys(entity ?? {})) v.expression(`alert.entity.${k}`, { required: true });
    v.expression('alert.value', { required: true });
    v.expression('alert.threshold', { required: true });
    v.template('alert.message', { required: true, locals: ALERT_LOCALS });
    const details = v.mapping('alert.details');
    for (const k of Object.keys(details ?? {})) v.expression(`alert.details.${k}`, { required: true, locals: ALERT_LOCALS });
  },
  build(step, [input], env) {
    const a = step.alert;
    const when = step.when === undefined ? undefined : env.expression(step.when, 'when');
    const fixedSeverity = SEVERITIES.includes(a.severity) ? (a.severity as Severity) : undefined;
    const severityOf = fixedSeverity === undefined ? env.expression(a.severity, 'alert.severity', ALERT_LOCALS) : undefined;
    const entityNames = Object.keys(a.entity);
    const entityFns = entityNames.map((k) => env.expression(a.entity[k]!, `alert.entity.${k}`));
    const valueOf = env.expression(a.value, 'alert.value');
    const thresholdOf = env.expression(a.threshold, 'alert.threshold');
    const message = env.template(a.message, 'alert.message', ALERT_LOCALS);
    const detailNames = Object.keys(a.details ?? {});
    const detailFns = detailNames.map((k) => env.expression(a.details![k]!, `alert.details.${k}`, ALERT_LOCALS));
    const type = a.type;
    const topic = a.topic;
    const rule = env.stepId;
    const topology = env.topology;
    const clock = env.ctx.clock;
    const throttleMs = step.throttle === undefined ? 0 : parseDuration(step.throttle, 'throttle');
    return input!.pipe(
      elementOperator<Rec, unknown>(() => {
        // Event time of the last alert per entity, for `throttle` (one alert per entity per period).
        let last = new Map<string, number>();
        return {
        checkpoint: throttleMs > 0 ? { snapshot: () => new Map(last), restore: (st) => (last = new Map(st as Map<string, number>)) } : undefined,
        onRecord(r, emit) {
          if (when !== undefined && !when(r)) return;
          const value = Number(valueOf(r));
          const threshold = Number(thresholdOf(r));
          const locals: { value: number; threshold: number; severity: Severity | undefined; type: string } = { value, threshold, severity: fixedSeverity, type };
          if (locals.severity === undefined) {
            // The severity expression may use value and threshold (e.g. "abs(value) > 2 * threshold ? 'critical' : 'warning'").
            const s = severityOf!(r, locals);
            if (typeof s !== 'string' || !SEVERITIES.includes(s)) {
              throw new UserFunctionError(`alert severity expression gave ${JSON.stringify(s)}, not one of ${SEVERITIES.join(', ')}`, env.where('alert.severity'));
            }
            locals.severity = s as Severity;
          }
          const severity = locals.severity;
          const entity: Record<string, string> = {};
          for (let i = 0; i < entityNames.length; i++) {
            const v = entityFns[i]!(r);
            entity[entityNames[i]!] = v === undefined || v === null ? '' : String(v);
          }
          if (throttleMs > 0) {
            const k = canonicalJson(entity);
            const prev = last.get(k);
            if (prev !== undefined && r.ts >= prev && r.ts - prev < throttleMs) return;
            last.set(k, r.ts);
          }
          const details: Record<string, unknown> = {};
          for (let i = 0; i < detailNames.length; i++) details[detailNames[i]!] = detailFns[i]!(r, locals);
          const alert = makeAlert(
            {
              type,
              severity,
              topic,
              rule,
              topology,
              entity,
              eventTime: r.ts,
              windowStart: typeof r.windowStart === 'number' ? r.windowStart : undefined,
              windowEnd: typeof r.windowEnd === 'number' ? r.windowEnd : undefined,
              value,
              threshold,
              message: message(r, locals),
              details,
            },
            clock.now(),
          );
          env.alert(alert);
          emit(alert);
        },
        };
      }, { id: env.operatorId, ctx: env.ctx }),
    );
  },
  describe(step) {
    const a = step.alert;
    const lines = [`=> ${a.type} (${a.severity}) on ${a.topic}, entity ${Object.entries(a.entity).map(([k, e]) => `${k}=${exprText(e)}`).join(', ')}`];
    if (step.when !== undefined) lines.push(`when ${exprText(step.when)}`);
    if (step.throttle !== undefined) lines.push(`at most one alert per entity every ${String(step.throttle)}`);
    lines.push(`value ${exprText(a.value)}, threshold ${exprText(a.threshold)}`);
    lines.push(`message "${a.message}"`);
    if (a.details) lines.push(`details ${Object.entries(a.details).map(([k, e]) => `${k}=${exprText(e)}`).join(', ')}`);
    return lines;
  },
};

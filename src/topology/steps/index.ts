import { getStepType, registerStepType, type StepTypeDefinition } from '../schema.js';
import { alertStep } from './alert.js';
import { deriveStep, filterStep, mapStep, sinkStep } from './basic.js';
import { asofJoinStep, enrichStep, intervalJoinStep, unionStep } from './joins.js';
import { processStep } from './process.js';
import { windowStep } from './window.js';

/**
 * The built-in step types, by `type`, registered through {@link registerStepType} when this
 * module loads (the compiler imports it).
 *
 * @example Object.keys(BUILTIN_STEP_TYPES); // ['filter', 'derive', 'map', ...]
 */
export const BUILTIN_STEP_TYPES: Readonly<Record<string, StepTypeDefinition>> = {
  filter: filterStep,
  derive: deriveStep,
  map: mapStep,
  asofJoin: asofJoinStep,
  intervalJoin: intervalJoinStep,
  union: unionStep,
  enrich: enrichStep,
  window: windowStep,
  process: processStep,
  alert: alertStep,
  sink: sinkStep,
};

// Registered through the public registry, exactly like library step types.
for (const [type, def] of Object.entries(BUILTIN_STEP_TYPES)) {
  if (getStepType(type) !== def) registerStepType(type, def, { replace: true });
}

export { alertStep, deriveStep, filterStep, mapStep, sinkStep, asofJoinStep, enrichStep, intervalJoinStep, unionStep, processStep, windowStep };
export { BUILTIN_AGGREGATES, compileAggregateCall } from './window.js';

// The risk and surveillance library's step types (issue 3), registered through the same registry.
import './desk-risk.js';
import './market-risk.js';
import './surveillance.js';

/**
 * The declarative topology layer: a topology (YAML or `defineTopology({...})`) is loaded,
 * validated with file/line/step/field errors, and compiled into RxJS pipelines on the engine's
 * operators. Library step types plug in through `registerStepType`.
 */
export {
  defineTopology,
  registerStepType,
  getStepType,
  stepTypeNames,
  inputsOf,
  type TopologySpec,
  type StepSpec,
  type StepTypes,
  type StepBase,
  type SourceSpec,
  type InputStream,
  type Duration,
  type Expr,
  type KeySpec,
  type ParameterTree,
  type FilterStep,
  type DeriveStep,
  type MapStep,
  type AsofJoinStep,
  type IntervalJoinStep,
  type UnionStep,
  type EnrichStep,
  type WindowStep,
  type WindowSpec,
  type ProcessStep,
  type AlertStep,
  type AlertSpec,
  type SinkStep,
  type StepTypeDefinition,
  type ValidateContext,
  type StepBuildEnv,
  type KeyFunction,
} from './schema.js';
export { loadTopology, parseTopology, type LoadOptions } from './load.js';
export { compileTopology, type LoadedTopology, type CompileOptions, type TopologySource, type BuildEnv, type SourceDecl } from './compile.js';
export { validateSpec, TopologyValidationError, parseSignedDuration, type ValidateOptions, type ValidationResult } from './validate.js';
export {
  compileExpression,
  compileTemplate,
  compileNode,
  parseExpressionSource,
  formatValue,
  BUILTIN_FUNCTIONS,
  TEMPLATE_FORMATS,
  type CompiledExpression,
  type CompiledTemplate,
  type ExpressionOptions,
  type TemplateFormat,
} from './expressions.js';
export { resolveParameters, resolveParamRefs, flattenParams, lookupParam, type Params, type ResolvedParams, type Locator } from './params.js';
export {
  defineAggregate,
  defineScalar,
  defineProcess,
  defineMap,
  loadUdfs,
  defaultUdfDir,
  isUdfDefinition,
  UdfRegistry,
  type UdfDefinition,
  type AggregateUdf,
  type ScalarUdf,
  type ProcessUdf,
  type MapUdf,
  type UdfKind,
} from './udfs.js';
export { describeTopology } from './describe.js';
export { makeKeyFunction, KEY_SEPARATOR } from './keys.js';
export { BUILTIN_STEP_TYPES, BUILTIN_AGGREGATES, compileAggregateCall } from './steps/index.js';

/** Linearizability checking: see history.ts for the semantics, checker.ts for the entry point. */
export type { Model, Operation, StepResult } from './history.js';
export { isUnknown } from './history.js';
export type { CheckOptions, CheckResult, LinearizabilityFailure, Verdict } from './checker.js';
export { checkLinearizable, DEFAULT_MAX_STEPS } from './checker.js';
export type { KvInput, KvOperation, KvOutput, KvState } from './kv-model.js';
export { kvModel } from './kv-model.js';

/**
 * A key-value store of string registers, as a linearizability model. Partitioned by key: single
 * key operations on different keys commute, so each key's sub-history is checked on its own
 * (P-compositionality), which keeps the search small. The state is still a whole map rather than
 * one register, so the model is also correct when used without partitioning.
 */
import type { Model, Operation, StepResult } from './history.js';

export type KvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  /** Set `key` to `value` iff its current value is `expected` (null: the key is missing). */
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

/** get: `{ value }` (null when missing); put: `{}`; cas: `{ ok }` (whether it swapped). */
export type KvOutput =
  | { readonly value: string | null }
  | { readonly ok: boolean }
  | Readonly<Record<string, never>>;

export type KvOperation = Operation<KvInput, KvOutput>;

/** Immutable: every step that writes returns a new map. Missing key = null. */
export type KvState = ReadonlyMap<string, string>;

function withValue(state: KvState, key: string, value: string): KvState {
  const next = new Map(state);
  next.set(key, value);
  return next;
}

function fail(input: KvInput, output: KvOutput): never {
  // A reply of the wrong shape is a bug in the harness, not a linearizability violation.
  throw new TypeError(`kvModel: output ${JSON.stringify(output)} does not fit ${input.op}`);
}

function step(state: KvState, input: KvInput, output: KvOutput | undefined): StepResult<KvState> {
  const current = state.get(input.key) ?? null;
  switch (input.op) {
    case 'get': {
      if (output === undefined) return { ok: true, state };
      if (!('value' in output)) fail(input, output);
      return { ok: output.value === current, state };
    }
    case 'put':
      if (output !== undefined && ('value' in output || 'ok' in output)) fail(input, output);
      return { ok: true, state: withValue(state, input.key, input.value) };
    case 'cas': {
      const swaps = current === input.expected;
      const after = swaps ? withValue(state, input.key, input.value) : state;
      // Unknown outcome: it took effect here, so it swapped iff the value matched.
      if (output === undefined) return { ok: true, state: after };
      if (!('ok' in output)) fail(input, output);
      return { ok: output.ok === swaps, state: after };
    }
  }
}

/** JSON-object notation with sorted keys: canonical whatever the insertion order. */
function stateKey(state: KvState): string {
  const entry = (k: string, v: string): string => `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  if (state.size <= 1) {
    // The common case with per-key partitions: skip the sort.
    for (const [k, v] of state) return `{${entry(k, v)}}`;
    return '{}';
  }
  const keys = [...state.keys()].sort();
  return `{${keys.map((k) => entry(k, state.get(k)!)).join(',')}}`;
}

function quote(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

function describe(op: KvOperation): string {
  const i = op.input;
  const o = op.output;
  const call =
    i.op === 'get'
      ? `get ${i.key}`
      : i.op === 'put'
        ? `put ${i.key} ${quote(i.value)}`
        : `cas ${i.key} ${quote(i.expected)} -> ${quote(i.value)}`;
  if (o === undefined) return `${call} => ? (unknown)`;
  if ('value' in o) return `${call} => ${quote(o.value)}`;
  if ('ok' in o) return `${call} => ${o.ok ? 'swapped' : 'not swapped'}`;
  return `${call} => ok`;
}

function partition(ops: readonly KvOperation[]): KvOperation[][] {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of ops) {
    let list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, (list = []));
    list.push(op);
  }
  return [...byKey.values()];
}

/** Reads, and CAS known to have failed, never change the state when they are legal. */
function isReadOnly(input: KvInput, output: KvOutput | undefined): boolean {
  if (input.op === 'get') return true;
  return input.op === 'cas' && output !== undefined && 'ok' in output && !output.ok;
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => new Map<string, string>(),
  step,
  isReadOnly,
  partition,
  describePartition: (ops) => `key ${JSON.stringify(ops[0]?.input.key ?? '')}`,
  key: stateKey,
  describe,
};

/**
 * Linearizability checker (Wing & Gong search with Lowe's memoization, as in Porcupine).
 *
 * Verdicts: 'ok' only when every partition was proven linearizable; 'illegal' when some
 * partition was proven not to be (definitive, even if other partitions ran out of budget);
 * 'unknown' when no partition is illegal but at least one ran out of budget. Running out of
 * budget is never reported as 'ok'.
 *
 * Semantics of ties and unknown outcomes are documented in history.ts; the search in search.ts.
 */
import type { Model, Operation } from './history.js';
import { buildEventOrder, validateHistory } from './events.js';
import { explain } from './explain.js';
import { searchPartition } from './search.js';

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /**
   * Search budget per partition, in steps (one step = one attempt to linearize an operation or
   * one backtrack). Memory grows with it (the memo table keeps one entry per new configuration).
   * Default DEFAULT_MAX_STEPS.
   */
  readonly maxSteps?: number;
}

export const DEFAULT_MAX_STEPS = 1_000_000;

export interface LinearizabilityFailure<I, O> {
  /** Index of the partition in the model's partition() output (0 without partitioning). */
  readonly partition: number;
  /** The model's describePartition() (e.g. `key "x"`), else `partition N`. */
  readonly label: string;
  /** Multi-line report: longest linearizable prefix, resulting state, stuck operations. */
  readonly explanation: string;
  /** All operations of the failing partition. */
  readonly operations: readonly Operation<I, O>[];
  /** A linearizable prefix with the most known-outcome operations, in linearization order. */
  readonly longestPrefix: readonly Operation<I, O>[];
  /** Operations that could have gone next after the longest prefix; each leads nowhere. */
  readonly stuck: readonly Operation<I, O>[];
  /** The earliest-returning operation outside the prefix, which no linearization can reach. */
  readonly unreachable: Operation<I, O>;
}

export interface CheckResult<I, O> {
  readonly result: Verdict;
  /** Number of partitions (0 for an empty partitioned history). */
  readonly partitions: number;
  /** Total search steps over all partitions searched. */
  readonly steps: number;
  /** Present iff result is 'illegal': the first illegal partition. */
  readonly failure?: LinearizabilityFailure<I, O>;
  /** Partitions whose search ran out of budget (their linearizability is not known). */
  readonly unknownPartitions: readonly number[];
}

/**
 * Decide whether `history` is linearizable with respect to `model`. Throws RangeError on a
 * malformed history or a partition() that loses or duplicates operations: checking a history
 * other than the one given could only produce a meaningless verdict.
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  if (!(maxSteps >= 0)) throw new RangeError(`maxSteps must be >= 0, got ${maxSteps}`);
  validateHistory(history);
  const parts = model.partition ? model.partition(history) : [history.slice()];
  validatePartition(history, parts);

  let steps = 0;
  const unknownPartitions: number[] = [];
  for (let p = 0; p < parts.length; p++) {
    const ops = parts[p]!;
    const order = buildEventOrder(ops);
    const outcome = searchPartition(model, ops, order, maxSteps);
    steps += outcome.steps;
    if (outcome.kind === 'unknown') unknownPartitions.push(p);
    if (outcome.kind !== 'illegal') continue;

    // Stop at the first illegal partition: the verdict is settled and this is the one to debug.
    const label = model.describePartition?.(ops) ?? `partition ${p}`;
    const heading =
      `Not linearizable: ${label} (partition ${p + 1} of ${parts.length}, ` +
      `${ops.length} operations).`;
    const e = explain(model, ops, order, outcome.longestPrefix, heading);
    return {
      result: 'illegal',
      partitions: parts.length,
      steps,
      unknownPartitions,
      failure: {
        partition: p,
        label,
        explanation: e.text,
        operations: ops,
        longestPrefix: e.longestPrefix,
        stuck: e.stuck,
        unreachable: e.unreachable,
      },
    };
  }
  const result = unknownPartitions.length > 0 ? 'unknown' : 'ok';
  return { result, partitions: parts.length, steps, unknownPartitions };
}

/** Every operation of the history must be in exactly one partition. */
function validatePartition<I, O>(
  history: readonly Operation<I, O>[],
  parts: readonly (readonly Operation<I, O>[])[],
): void {
  const pending = new Set(history);
  if (pending.size !== history.length) {
    throw new RangeError('the history contains the same operation object more than once');
  }
  let total = 0;
  for (const part of parts) {
    for (const op of part) {
      if (!pending.delete(op)) {
        throw new RangeError('partition() returned an operation twice or one not in the history');
      }
      total++;
    }
  }
  if (pending.size > 0 || total !== history.length) {
    throw new RangeError(`partition() dropped ${pending.size} operation(s)`);
  }
}

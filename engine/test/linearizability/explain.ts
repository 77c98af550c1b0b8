/**
 * Human-readable explanation of a non-linearizable partition: the longest linearizable prefix
 * the search found, the state it leads to, and why nothing could be linearized after it.
 */
import type { Model, Operation } from './history.js';
import type { EventOrder } from './events.js';

export interface Explanation<I, O> {
  readonly text: string;
  /** A linearizable prefix with the most known-outcome operations, in linearization order. */
  readonly longestPrefix: readonly Operation<I, O>[];
  /** The operations that could have gone next after that prefix; none leads to a full answer. */
  readonly stuck: readonly Operation<I, O>[];
  /** The earliest-returning operation outside the prefix: no linearization reaches its return. */
  readonly unreachable: Operation<I, O>;
}

const SHOW_PREFIX = 20;
const SHOW_STUCK = 20;

export function formatOp<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const ret = op.return === Number.POSITIVE_INFINITY ? '∞ (outcome unknown)' : String(op.return);
  return `client ${op.clientId}: ${model.describe(op)}  [call ${op.call}, return ${ret}]`;
}

export function explain<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  order: EventOrder,
  prefix: readonly number[],
  heading: string,
): Explanation<I, O> {
  const lines = [heading];
  const inPrefix = new Uint8Array(ops.length);
  for (const i of prefix) inPrefix[i] = 1;

  // Replay the prefix to show the state after each operation.
  let state = model.init();
  const rows: string[] = [];
  prefix.forEach((i, n) => {
    const op = ops[i]!;
    state = model.step(state, op.input, op.output).state;
    rows.push(`  ${String(n + 1).padStart(4)}. ${formatOp(model, op)}  state ${model.key(state)}`);
  });
  lines.push(
    `Longest linearizable prefix: ${prefix.length} of ${ops.length} operations ` +
      '(longest by operations with a known outcome).',
  );
  if (rows.length > SHOW_PREFIX) {
    lines.push(`  ... ${rows.length - SHOW_PREFIX} earlier operations omitted ...`);
  }
  lines.push(...rows.slice(-SHOW_PREFIX));

  // After the prefix, the candidates are the pending operations invoked before the earliest
  // pending return (same rule as the search). The search has exhausted all of them.
  let firstReturn = Number.POSITIVE_INFINITY;
  let unreachable: Operation<I, O> | undefined;
  for (let i = 0; i < ops.length; i++) {
    const r = order.returnEntry[i]!;
    if (inPrefix[i] === 0 && r >= 0 && r < firstReturn) {
      firstReturn = r;
      unreachable = ops[i];
    }
  }
  if (unreachable === undefined) throw new Error('explain: no pending operation (bug)');
  const stuck = ops
    .map((op, i) => ({ op, i }))
    .filter(({ i }) => inPrefix[i] === 0 && order.callEntry[i]! < firstReturn)
    // Unknown-outcome reads are never candidates (they cannot matter): leave them out.
    .filter(({ op }) => !(op.output === undefined && model.isReadOnly?.(op.input, undefined)))
    .sort((a, b) => order.callEntry[a.i]! - order.callEntry[b.i]!)
    .map(({ op }) => op);

  lines.push(
    `After it the state is ${model.key(state)} and no pending operation can be linearized next:`,
  );
  for (const op of stuck.slice(0, SHOW_STUCK)) {
    const why = model.step(state, op.input, op.output).ok
      ? 'allowed here, but no linearization of the remaining operations follows'
      : 'impossible in this state';
    lines.push(`    - ${formatOp(model, op)}: ${why}`);
  }
  if (stuck.length > SHOW_STUCK) lines.push(`    ... and ${stuck.length - SHOW_STUCK} more`);
  lines.push(
    `So ${formatOp(model, unreachable)} cannot take effect before it returns at ` +
      `${unreachable.return}.`,
  );
  return { text: lines.join('\n'), longestPrefix: prefix.map((i) => ops[i]!), stuck, unreachable };
}

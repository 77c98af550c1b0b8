/**
 * Turns a history into the time-ordered list of call/return events the search walks over, and
 * checks the history is well-formed first (a malformed history must throw, not be "checked").
 */
import type { Operation } from './history.js';

/** The events of one partition in real-time order. Entries are indices 0..count-1 in that order. */
export interface EventOrder {
  readonly count: number;
  /** For each entry, the index of its operation. */
  readonly entryOp: Int32Array;
  /** For each entry, 1 for a call, 0 for a return. */
  readonly entryIsCall: Uint8Array;
  /** For each operation, the index of its call entry. */
  readonly callEntry: Int32Array;
  /** For each operation, the index of its return entry, or -1 when its outcome is unknown. */
  readonly returnEntry: Int32Array;
}

/** Throws a RangeError describing the first malformed operation. */
export function validateHistory<I, O>(history: readonly Operation<I, O>[]): void {
  history.forEach((op, i) => {
    const where = `operation ${i} (client ${op.clientId}, call ${op.call}, return ${op.return})`;
    if (!Number.isFinite(op.call)) throw new RangeError(`${where}: call must be a finite number`);
    // `!(a >= b)` also rejects NaN.
    if (!(op.return >= op.call)) throw new RangeError(`${where}: return must be >= call`);
    const unknownTime = op.return === Number.POSITIVE_INFINITY;
    const unknownOutput = op.output === undefined;
    if (unknownTime !== unknownOutput) {
      throw new RangeError(
        `${where}: an unknown outcome needs both return = +Infinity and output = undefined ` +
          '(a timed-out operation may still take effect later, so it has no finite return)',
      );
    }
  });
}

/**
 * Rank of an event among events at the same instant. This is where the tie rule lives (see
 * history.ts): at time t, first the returns of operations that started before t, then the calls
 * of instantaneous operations, then their returns, then the calls of operations still running
 * after t. So a return at t precedes a call at t, except that instantaneous operations at t are
 * concurrent with one another.
 */
function rank(isCall: boolean, instantaneous: boolean): number {
  if (!isCall) return instantaneous ? 2 : 0;
  return instantaneous ? 1 : 3;
}

export function buildEventOrder<I, O>(ops: readonly Operation<I, O>[]): EventOrder {
  interface Ev {
    readonly time: number;
    readonly rank: number;
    readonly op: number;
    readonly isCall: boolean;
  }
  const events: Ev[] = [];
  ops.forEach((op, i) => {
    const instantaneous = op.call === op.return;
    events.push({ time: op.call, rank: rank(true, instantaneous), op: i, isCall: true });
    if (op.return !== Number.POSITIVE_INFINITY) {
      events.push({ time: op.return, rank: rank(false, instantaneous), op: i, isCall: false });
    }
  });
  // Operation index breaks the remaining ties so the search (and its explanations) are
  // deterministic; events in the same (time, rank) class are interchangeable for correctness.
  events.sort((a, b) => a.time - b.time || a.rank - b.rank || a.op - b.op);

  const count = events.length;
  const entryOp = new Int32Array(count);
  const entryIsCall = new Uint8Array(count);
  const callEntry = new Int32Array(ops.length);
  const returnEntry = new Int32Array(ops.length).fill(-1);
  events.forEach((ev, e) => {
    entryOp[e] = ev.op;
    entryIsCall[e] = ev.isCall ? 1 : 0;
    if (ev.isCall) callEntry[ev.op] = e;
    else returnEntry[ev.op] = e;
  });
  return { count, entryOp, entryIsCall, callEntry, returnEntry };
}

/**
 * The search for one partition: Wing & Gong's algorithm with Lowe's memoization, as in
 * Porcupine, written iteratively so that histories of many thousands of operations do not
 * overflow the JS stack.
 *
 * Events sit in a doubly linked list in real-time order. An operation can be linearized next iff
 * its call entry comes before the first return entry still in the list (otherwise some operation
 * that returned before this one was invoked would be ordered after it). Linearizing an operation
 * "lifts" its entries out of the list; backtracking puts them back (dancing links: removals are
 * undone in reverse order, so each is O(1)). When every candidate of a configuration has failed,
 * the operation owning the first return cannot be linearized after the current prefix, so the
 * search backtracks. Lowe's memoization: a configuration is (set of linearized operations, model
 * state); the rest of the search depends on nothing else, so a configuration seen before is
 * never explored again (memo.ts; it also prunes configurations dominated by one seen before).
 *
 * Unknown outcomes: an operation whose outcome is unknown has no return entry. Its call entry
 * lives in a second list and it is a candidate whenever that call precedes the first return in
 * the main list, i.e. it may take effect at any point after its call. The search succeeds as soon
 * as every operation with a known outcome is linearized: unknown ones still pending are dropped
 * (they never took effect).
 *
 * Reductions, each complete (they never hide a linearization):
 * - Known-outcome candidates are tried before unknown ones (order only; finds the common "it has
 *   not happened yet" answer without first enumerating subsets of unknown operations).
 * - An unknown operation whose effect here would leave the state unchanged is not tried: the
 *   configuration with it linearized has the same state and a subset of the remaining choices.
 *   One that is read-only (Model.isReadOnly with output undefined) is never a candidate at all.
 * - A known read-only candidate (Model.isReadOnly) that is legal here is linearized at once with
 *   no alternatives: any linearization can be rearranged to put it first (see history.ts).
 */
import type { Model, Operation } from './history.js';
import type { EventOrder } from './events.js';
import { Bitset, MemoTable } from './memo.js';

export type SearchOutcome =
  | { readonly kind: 'ok'; readonly steps: number }
  | { readonly kind: 'unknown'; readonly steps: number }
  /** Operation indices of a linearizable prefix with the most known-outcome operations. */
  | { readonly kind: 'illegal'; readonly steps: number; readonly longestPrefix: readonly number[] };

const NIL = -1;

export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  order: EventOrder,
  maxSteps: number,
): SearchOutcome {
  const { count, entryOp, entryIsCall, callEntry, returnEntry } = order;

  // Two lists share the link arrays: HEAD starts the list of all known-outcome entries (calls
  // and returns), UHEAD the list of unknown-outcome calls. An entry belongs to exactly one.
  const HEAD = count;
  const UHEAD = count + 1;
  const next = new Int32Array(count + 2).fill(NIL);
  const prev = new Int32Array(count + 2).fill(NIL);
  let tail = HEAD;
  let utail = UHEAD;
  let returnsLeft = 0; // return entries still in the main list
  for (let e = 0; e < count; e++) {
    const known = returnEntry[entryOp[e]!]! !== NIL;
    if (known) {
      next[tail] = e;
      prev[e] = tail;
      tail = e;
      if (entryIsCall[e] === 0) returnsLeft++;
    } else if (!(model.isReadOnly?.(ops[entryOp[e]!]!.input, undefined) ?? false)) {
      next[utail] = e;
      prev[e] = utail;
      utail = e;
    }
  }
  const remove = (e: number): void => {
    const p = prev[e]!;
    const n = next[e]!;
    next[p] = n;
    if (n !== NIL) prev[n] = p;
  };
  // Reinsertion relies on e's own links being untouched since its removal (LIFO order).
  const reinsert = (e: number): void => {
    const p = prev[e]!;
    const n = next[e]!;
    next[p] = e;
    if (n !== NIL) prev[n] = e;
  };
  const lift = (op: number): void => {
    remove(callEntry[op]!);
    if (returnEntry[op]! !== NIL) {
      remove(returnEntry[op]!);
      returnsLeft--;
    }
  };
  const unlift = (op: number): void => {
    if (returnEntry[op]! !== NIL) {
      reinsert(returnEntry[op]!);
      returnsLeft++;
    }
    reinsert(callEntry[op]!);
  };

  const readOnly = ops.map(
    (o) => o.output !== undefined && model.isReadOnly?.(o.input, o.output) === true,
  );

  // The budget is checked before doing work, so running out can only yield 'unknown'.
  let steps = 0;
  const spend = (): boolean => {
    if (steps >= maxSteps) return false;
    steps++;
    return true;
  };

  /**
   * List the operations that may be linearized after `level`: known-outcome calls before the
   * first pending return, then unknown-outcome calls before it. They are stepped lazily when
   * tried, except read-only ones, stepped now: one that is legal is committed to (no other
   * candidates). False: out of budget.
   */
  const expand = (level: Level<S>): boolean => {
    let e = next[HEAD]!;
    for (; e !== NIL && entryIsCall[e] === 1; e = next[e]!) {
      const op = entryOp[e]!;
      if (!readOnly[op]) {
        level.ops.push(op);
        continue;
      }
      if (!spend()) return false;
      const o = ops[op]!;
      const r = model.step(level.state, o.input, o.output);
      if (!r.ok) continue; // illegal here, and read-only: nothing to try
      const key = model.key(r.state);
      if (key !== level.key) {
        throw new Error(`isReadOnly is wrong: ${model.describe(o)} changed the state`);
      }
      level.ops.length = 0;
      level.ops.push(op);
      level.committed = { state: r.state, key };
      return true;
    }
    if (e === NIL) throw new Error('linearizability search: no pending return (bug)');
    for (let u = next[UHEAD]!; u !== NIL && u < e; u = next[u]!) level.ops.push(entryOp[u]!);
    return true;
  };

  // Longest prefix (counting known-outcome operations: unknown ones are optional), kept
  // incrementally: `best` matches the path below `lowWater` (the lowest depth since the last
  // snapshot), so each snapshot only copies what changed.
  const best: number[] = [];
  let bestKnown = 0;
  let knownDepth = 0;
  let lowWater = 0;

  // Linearized operations, as two sets (known / unknown outcome) for the memo table (memo.ts).
  const slot = new Int32Array(ops.length);
  let knownCount = 0;
  let unknownCount = 0;
  ops.forEach((o, i) => {
    slot[i] = o.output === undefined ? unknownCount++ : knownCount++;
  });
  const known = new Bitset(knownCount);
  const unknown = new Bitset(unknownCount);
  const mark = (op: number, on: boolean): void => {
    const set = returnEntry[op]! !== NIL ? known : unknown;
    if (on) set.set(slot[op]!);
    else set.clear(slot[op]!);
  };
  const memo = new MemoTable();
  const init = model.init();
  const path: Level<S>[] = [newLevel(init, model.key(init), NIL)];
  if (returnsLeft === 0) return { kind: 'ok', steps };
  if (!expand(path[0]!)) return { kind: 'unknown', steps };

  for (;;) {
    const top = path[path.length - 1]!;
    if (top.tried < top.ops.length) {
      const op = top.ops[top.tried++]!;
      let after = top.committed;
      if (after === undefined) {
        if (!spend()) return { kind: 'unknown', steps };
        const o = ops[op]!;
        const r = model.step(top.state, o.input, o.output);
        // An unknown outcome may always be dropped, so a model rejecting one loses nothing.
        if (!r.ok) continue;
        after = { state: r.state, key: model.key(r.state) };
        // An unknown operation with no effect here need not be linearized here (memo.ts).
        if (o.output === undefined && after.key === top.key) continue;
      }
      mark(op, true);
      if (!memo.visit(known, unknown, after.key)) {
        mark(op, false);
        continue;
      }
      lift(op);
      const level = newLevel(after.state, after.key, op);
      path.push(level);
      const depth = path.length - 1; // operations linearized
      if (returnEntry[op]! !== NIL) knownDepth++;
      if (knownDepth > bestKnown) {
        bestKnown = knownDepth;
        best.length = lowWater;
        for (let d = lowWater + 1; d <= depth; d++) best.push(path[d]!.via);
        lowWater = depth;
      }
      if (returnsLeft === 0) return { kind: 'ok', steps };
      if (!expand(level)) return { kind: 'unknown', steps };
      continue;
    }
    // Every candidate failed: the first pending return is unreachable from this prefix.
    if (path.length === 1) return { kind: 'illegal', steps, longestPrefix: best };
    if (!spend()) return { kind: 'unknown', steps };
    path.pop();
    lowWater = Math.min(lowWater, path.length - 1);
    unlift(top.via);
    mark(top.via, false);
    if (returnEntry[top.via]! !== NIL) knownDepth--;
  }
}

/** A configuration on the current search path and its candidates (tried in order). */
interface Level<S> {
  readonly state: S;
  readonly key: string;
  /** The operation linearized to reach this configuration (NIL at the root). */
  readonly via: number;
  readonly ops: number[];
  tried: number;
  /** Set when the only candidate is a legal read-only operation: its (unchanged) state. */
  committed?: { readonly state: S; readonly key: string };
}

function newLevel<S>(state: S, key: string, via: number): Level<S> {
  return { state, key, via, ops: [], tried: 0 };
}

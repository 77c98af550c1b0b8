/**
 * The search for one partition: Wing & Gong's algorithm with Lowe's memoization, as in
 * Porcupine, written iteratively so that histories of many thousands of operations do not
 * overflow the JS stack.
 *
 * Events sit in a doubly linked list in real-time order. An operation can be linearized next iff
 * its call entry comes before the first return entry still in the list (otherwise some operation
 * that returned before this one was invoked would be ordered after it). Linearizing an operation
 * "lifts" its entries out of the list; backtracking puts them back (dancing links: removals are
 * undone in reverse order, so each is O(1)). If the search stands on a return entry with no
 * candidate left, that operation cannot be linearized in the current prefix, so it backtracks.
 * Lowe's memoization: a configuration is (set of linearized operations, model state); the rest
 * of the search depends on nothing else, so a configuration seen before is never explored again.
 *
 * Unknown outcomes: an operation whose outcome is unknown has no return entry. Its call entry
 * lives in a second list and it is a candidate whenever that call precedes the first return in
 * the main list, i.e. it may take effect at any point after its call. The search succeeds as soon
 * as every operation with a known outcome is linearized: unknown ones still pending are simply
 * dropped (never took effect). Candidates with known outcomes are tried before unknown ones: the
 * order changes nothing about completeness, but finds the common "it did not happen yet" answer
 * without first enumerating subsets of unknown operations.
 */
import type { Model, Operation } from './history.js';
import type { EventOrder } from './events.js';

export type SearchOutcome =
  | { readonly kind: 'ok'; readonly steps: number }
  | { readonly kind: 'unknown'; readonly steps: number }
  /** `longestPrefix` lists operation indices of a longest linearizable prefix found. */
  | { readonly kind: 'illegal'; readonly steps: number; readonly longestPrefix: readonly number[] };

const NIL = -1;

/** Set of operation indices, with a canonical string form for the memo table. */
class Bitset {
  private readonly words: Uint32Array;
  private readonly halves: Uint16Array;

  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
    this.halves = new Uint16Array(this.words.buffer);
  }

  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }

  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }

  /**
   * One UTF-16 code unit per 16 bits: exact (no hashing, so no false "seen before"), fixed
   * length within a partition (so it can be concatenated with a state key unambiguously).
   */
  toKey(): string {
    const h = this.halves;
    const CHUNK = 8192; // stay well below engines' argument-count limits
    if (h.length <= CHUNK) return String.fromCharCode(...h);
    let s = '';
    for (let i = 0; i < h.length; i += CHUNK) s += String.fromCharCode(...h.subarray(i, i + CHUNK));
    return s;
  }
}

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
    } else {
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

  // The DFS stack, one frame per linearized operation, plus where to resume on backtrack.
  const stackOp = new Int32Array(ops.length);
  const stackState: S[] = [];
  const stackInUnknown = new Uint8Array(ops.length);
  const stackLimit = new Int32Array(ops.length);
  let depth = 0;

  // Longest prefix, kept incrementally: `best` matches the stack below `lowWater` (the lowest
  // depth since the last snapshot), so each snapshot only copies what changed.
  const best: number[] = [];
  let lowWater = 0;

  const linearized = new Bitset(ops.length);
  const seen = new Set<string>();
  let state = model.init();
  let steps = 0;

  // Cursor: in the main list until the first return entry, then (inUnknown) in the unknown list
  // for calls whose entry index is below `limit`, the index of that first return.
  let inUnknown = false;
  let limit = 0;
  let cursor = next[HEAD]!;

  while (returnsLeft > 0) {
    let candidate = NIL;
    if (!inUnknown) {
      if (cursor === NIL) throw new Error('linearizability search: lost its place (bug)');
      if (entryIsCall[cursor] === 1) candidate = cursor;
      else {
        inUnknown = true;
        limit = cursor;
        cursor = next[UHEAD]!;
      }
    }
    if (inUnknown && cursor !== NIL && cursor < limit) candidate = cursor;

    // The budget is checked before doing work, so running out can only yield 'unknown'.
    if (steps >= maxSteps) return { kind: 'unknown', steps };
    steps++;

    if (candidate !== NIL) {
      const op = entryOp[candidate]!;
      const o = ops[op]!;
      const r = model.step(state, o.input, o.output);
      if (r.ok) {
        linearized.set(op);
        const key = linearized.toKey() + model.key(r.state);
        if (!seen.has(key)) {
          seen.add(key);
          stackOp[depth] = op;
          stackState[depth] = state;
          stackInUnknown[depth] = inUnknown ? 1 : 0;
          stackLimit[depth] = limit;
          depth++;
          state = r.state;
          remove(callEntry[op]!);
          if (returnEntry[op]! !== NIL) {
            remove(returnEntry[op]!);
            returnsLeft--;
          }
          if (depth > best.length) {
            best.length = lowWater;
            for (let d = lowWater; d < depth; d++) best.push(stackOp[d]!);
            lowWater = depth;
          }
          inUnknown = false;
          cursor = next[HEAD]!;
          continue;
        }
        linearized.clear(op);
      }
      cursor = next[candidate]!;
      continue;
    }

    // No candidate can go next: the first pending return is unreachable from this prefix.
    if (depth === 0) return { kind: 'illegal', steps, longestPrefix: best };
    depth--;
    lowWater = Math.min(lowWater, depth);
    const op = stackOp[depth]!;
    linearized.clear(op);
    if (returnEntry[op]! !== NIL) {
      reinsert(returnEntry[op]!);
      returnsLeft++;
    }
    reinsert(callEntry[op]!);
    state = stackState[depth]!;
    stackState.length = depth; // let the popped state be collected
    inUnknown = stackInUnknown[depth] === 1;
    limit = stackLimit[depth]!;
    cursor = next[callEntry[op]!]!;
  }
  return { kind: 'ok', steps };
}

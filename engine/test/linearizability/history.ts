/**
 * Types shared by the linearizability checker and the models it checks against.
 *
 * A history is a list of operations, each observed by some client as an invocation (`call`) and,
 * if the client learned the outcome, a response (`return` and `output`). The checker decides
 * whether some total order of the operations (a linearization) exists that (1) respects real
 * time and (2) is a legal sequential run of the model.
 *
 * Real-time order ("A happens before B"): A.return <= B.call. A response and an invocation at
 * the same instant are therefore ordered response first: a client that gets its answer at t and
 * issues its next request at t has issued them in sequence, and the checker must not treat them
 * as concurrent. The one exception is two instantaneous operations at the same instant
 * (call === return === t for both): each would have to precede the other, so they are treated
 * as concurrent with each other (and still after anything that returned at t, before anything
 * that is called at t and returns later). Consequence for real processes: take `call` before
 * sending and `return` after receiving, from one monotonic clock with enough resolution
 * (e.g. `process.hrtime.bigint()` as a number of ns) that unrelated events rarely tie; a tie is
 * read as "happened before", which is the stricter reading.
 *
 * Unknown outcome (timeout, crash, lost connection): `return` is +Infinity and `output` is
 * undefined. Such an operation MAY have taken effect at any single instant after its call, even
 * long after the client gave up, or MAY never have taken effect. The checker never requires it
 * to be linearized.
 */

export interface Operation<I, O> {
  /** Who issued it; only used in explanations (a client's operations need not be sequential). */
  readonly clientId: number;
  readonly input: I;
  /** Invocation time on any monotonic clock (virtual ms in the simulator). Must be finite. */
  readonly call: number;
  /** Response time, >= call; Number.POSITIVE_INFINITY when the outcome is unknown. */
  readonly return: number;
  /** The response; undefined exactly when the outcome is unknown (return is +Infinity). */
  readonly output: O | undefined;
}

/** The result of applying one operation to a model state. */
export interface StepResult<S> {
  /** False when the observed output is impossible from this state. */
  readonly ok: boolean;
  /** The state after the operation (ignored when ok is false). */
  readonly state: S;
}

/**
 * A sequential specification. States must be treated as immutable values: the checker keeps old
 * states on its backtracking stack, so `step` must return a new state rather than mutate.
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Apply `input` in `state` and say whether `output` is what the sequential object would have
   * answered. When `output` is undefined (unknown outcome) the model must return ok: true with
   * whatever effect the operation has in `state`: it is only asked to apply it because the
   * checker decided to let the operation take effect at this point.
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  /**
   * P-compositionality: split a history into sub-histories that can be checked independently
   * (e.g. one per key of a key-value store). Every operation must land in exactly one part.
   * When absent, the whole history is one partition.
   */
  partition?(ops: readonly Operation<I, O>[]): Operation<I, O>[][];
  /**
   * Optional search reduction. Return true only if, in EVERY state where `step` accepts this
   * operation, it leaves the state unchanged (a read; a CAS that reported failure). The checker
   * then linearizes such an operation as soon as it is allowed and does not branch over
   * alternatives, which is sound by an exchange argument: a read-only operation can be moved
   * earlier in any linearization without changing any other step. Being identity in the current
   * state is NOT enough (a put of the current value still matters later). When in doubt, omit it.
   */
  isReadOnly?(input: I, output: O | undefined): boolean;
  /** A short name for a partition in failure reports, e.g. `key "x"`. */
  describePartition?(ops: readonly Operation<I, O>[]): string;
  /**
   * A canonical string for a state: equal states must give equal strings and different states
   * different strings. Used to memoize search configurations and to print states.
   */
  key(state: S): string;
  /** A one-line human-readable rendering of an operation (input and output). */
  describe(op: Operation<I, O>): string;
}

/** True when the operation's outcome is unknown (it may or may not have taken effect). */
export function isUnknown<I, O>(op: Operation<I, O>): boolean {
  return op.return === Number.POSITIVE_INFINITY;
}

/**
 * The interface between the node host and what a Raft group replicates: the key-value store
 * here, the SQL database and the topic partitions in their own modules.
 */

/** A committed command, with the leader-assigned time of its entry. */
export interface AppliedCommand {
  readonly index: number;
  readonly term: number;
  /** Milliseconds since the epoch, assigned by the leader; never decreases along the log. */
  readonly time: number;
  readonly command: Uint8Array;
}

export interface StateMachine {
  /**
   * Applies committed commands in log order; returns one result per command, handed to the
   * proposer. Must be deterministic: every replica applies the same commands to the same state.
   * A command that fails (bad input) returns its error as a result instead of throwing: a
   * throw means the replica cannot go on.
   */
  apply(commands: readonly AppliedCommand[]): unknown[];
  /** The whole state as of the last applied command. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's (empty bytes: the initial state). */
  restore(data: Uint8Array): void;
  /**
   * A state machine that keeps its state on disk says up to which log index it holds: the host
   * then replays only the entries after it, instead of restoring the latest snapshot and
   * replaying everything since. In-memory state machines leave it out.
   */
  appliedIndex?(): number;
}

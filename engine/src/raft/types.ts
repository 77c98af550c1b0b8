/**
 * The vocabulary of the Raft core: entries, messages, hard state, snapshots, and the Ready
 * batch the core hands to its driver. Everything here is plain data, so it can be persisted,
 * sent over a transport, or compared in a simulator without translation.
 */

/** A member's identity: in the runtime, the pod or node name plus its incarnation id. */
export type NodeId = string;

/** Voting members decide elections and commits; learners only receive the log. */
export interface ClusterConfig {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One single-server membership change. Changes are applied one at a time: a leader never
 * appends a change while an earlier one is uncommitted, and only after it has committed an
 * entry of its own term (the fix for the single-server change bug found in 2015).
 */
export type ConfChange =
  | { readonly type: 'add-learner'; readonly node: NodeId }
  | { readonly type: 'promote'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

interface EntryHeader {
  readonly index: number;
  readonly term: number;
  /**
   * Milliseconds since the epoch, assigned by the leader that appended the entry. Never lower
   * than the time of the entry before it, so applied times never go backwards, even across
   * leaders whose clocks disagree.
   */
  readonly time: number;
}

/**
 * A log entry. A `config` entry carries the whole configuration that results from its change:
 * it takes effect as soon as it is in a server's log (not when committed), as in the Raft
 * dissertation, section 4.1.
 */
export type Entry = EntryHeader &
  (
    | { readonly kind: 'normal'; readonly data: Uint8Array }
    | { readonly kind: 'noop' }
    | { readonly kind: 'config'; readonly change: ConfChange; readonly config: ClusterConfig }
  );

export type EntryKind = Entry['kind'];

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  readonly index: number;
  readonly term: number;
  /** Time of the entry at `index`, so entry times stay monotonic after compaction. */
  readonly time: number;
  /** The configuration in force at `index`. */
  readonly config: ClusterConfig;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** One piece of an InstallSnapshot transfer. */
export interface SnapshotChunk {
  readonly meta: SnapshotMeta;
  /** Byte offset of `chunk` within the snapshot data. */
  readonly offset: number;
  readonly chunk: Uint8Array;
  readonly totalBytes: number;
  /** CRC-32 of this chunk. */
  readonly chunkChecksum: number;
  /** CRC-32 of the whole snapshot data, checked on the last chunk. */
  readonly checksum: number;
}

interface MessageHeader {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for a pre-vote request, the term the sender would campaign in. */
  readonly term: number;
}

export type Message = MessageHeader &
  (
    | {
        readonly type: 'vote';
        readonly preVote: boolean;
        readonly lastIndex: number;
        readonly lastTerm: number;
        /** Set when campaigning on a leadership transfer: voters skip the leader-lease check. */
        readonly transfer: boolean;
      }
    | { readonly type: 'vote-response'; readonly preVote: boolean; readonly granted: boolean }
    | {
        readonly type: 'append';
        readonly prevIndex: number;
        readonly prevTerm: number;
        readonly entries: readonly Entry[];
        readonly commit: number;
      }
    | {
        readonly type: 'append-response';
        readonly success: boolean;
        /** On success: the follower's last index matching the leader. On reject: prevIndex. */
        readonly index: number;
        /** On reject: where the leader should look next (fast backtracking). */
        readonly hintIndex: number;
        /** On reject: the follower's term at hintIndex, or 0 if its log is shorter. */
        readonly hintTerm: number;
      }
    | {
        readonly type: 'heartbeat';
        readonly commit: number;
        /** Read round this heartbeat confirms leadership for (0 when none). */
        readonly readRound: number;
      }
    | { readonly type: 'heartbeat-response'; readonly readRound: number }
    | ({ readonly type: 'snapshot' } & SnapshotChunk)
    | {
        readonly type: 'snapshot-response';
        /** Index of the snapshot being transferred. */
        readonly index: number;
        /** The next byte offset the follower expects; totalBytes once installed. */
        readonly nextOffset: number;
        readonly done: boolean;
        readonly reject: boolean;
      }
    | { readonly type: 'timeout-now' }
    | { readonly type: 'read-index'; readonly context: string }
    | { readonly type: 'read-index-response'; readonly context: string; readonly index: number }
  );

export type MessageType = Message['type'];

/** A linearizable read is safe once the state machine has applied `index`. */
export interface ReadState {
  readonly context: string;
  readonly index: number;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state that the driver may want to observe (not persisted). */
export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * One batch of work for the driver. The driver must, in this order:
 *  1. durably persist `snapshot` (if any), then `entries` (truncating any existing suffix from
 *     the first entry's index), then `hardState` (if any) — one fsync for the whole batch;
 *  2. only then send `messages`;
 *  3. apply `committedEntries` in order and serve `readStates` once applied reaches their index;
 *  4. call `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

export const EMPTY_CONFIG: ClusterConfig = Object.freeze({ voters: [], learners: [] });

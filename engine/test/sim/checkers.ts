/**
 * Raft's safety properties (dissertation, Figure 3.2), checked incrementally as the simulation
 * runs, from what each member persists, becomes and applies:
 *  - election safety: at most one leader per term;
 *  - log matching: two logs with an entry of the same index and term hold the same entry there
 *    and agree on the term before it (and so, by induction, on the whole prefix);
 *  - leader completeness: a leader's log holds every entry committed in an earlier term;
 *  - state machine safety: no two members apply different entries at the same index;
 * plus our own: applied entry times never go backwards on a member.
 */
import type { Entry, NodeId } from '../../src/raft/index.js';

export type ViolationKind =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'time-monotonicity'
  | 'linearizability'
  | 'invariant'
  | 'liveness';

export class Violation extends Error {
  constructor(
    readonly kind: ViolationKind,
    readonly detail: string,
    readonly at: number,
  ) {
    super(`${kind} at t=${at}ms: ${detail}`);
    this.name = 'Violation';
  }
}

const decoder = new TextDecoder();

/** A stable identity of an entry's content. */
export function entryIdentity(e: Entry): string {
  switch (e.kind) {
    case 'normal':
      return `${e.term}|n|${e.time}|${decoder.decode(e.data)}`;
    case 'noop':
      return `${e.term}|0|${e.time}`;
    case 'config':
      return `${e.term}|c|${e.time}|${e.change.type}:${e.change.node}`;
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** What a member's log holds at one index, as far as the checker needs. */
export interface LogView {
  /** Term at `index`, or null if not held (compacted below the snapshot, or beyond the end). */
  term(index: number): number | null;
  snapshotIndex(): number;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** `${index}:${term}` -> identity and the term of the entry before it. */
  private readonly logRecords = new Map<string, { identity: string; prevTerm: number }>();
  /** Applied entries by index: identity and term. */
  private readonly applied: ({ identity: string; term: number } | undefined)[] = [];
  private readonly lastTime = new Map<NodeId, number>();
  /** Per leader term: the highest index its leader committed, and that entry's term. */
  private readonly commitsByTerm = new Map<number, { index: number; entryTerm: number }>();
  now = 0;

  /** The leader of `term` has committed through `index`, an entry of `entryTerm`. */
  onLeaderCommit(term: number, index: number, entryTerm: number): void {
    const prior = this.commitsByTerm.get(term);
    if (prior === undefined || index > prior.index) this.commitsByTerm.set(term, { index, entryTerm });
  }

  /** A member became leader of `term`, holding `log`. */
  onLeader(id: NodeId, term: number, log: LogView): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== id) {
      throw new Violation('election-safety', `${other} and ${id} both led term ${term}`, this.now);
    }
    this.leaderOfTerm.set(term, id);
    // Leader completeness: the highest entry committed in any earlier term is in the new
    // leader's log, so (by log matching) is everything before it. Entries committed in later
    // terms are not owed: a term's votes can arrive after a later term has committed.
    let c: { index: number; entryTerm: number } | undefined;
    for (const [t, w] of this.commitsByTerm) if (t < term && (c === undefined || w.index > c.index)) c = w;
    if (c === undefined || c.index <= log.snapshotIndex()) return;
    const have = log.term(c.index);
    if (have !== c.entryTerm) {
      throw new Violation(
        'leader-completeness',
        `${id} leads term ${term} but its log has ${have === null ? 'no entry' : `term ${have}`} at ${c.index}, where an entry of term ${c.entryTerm} was committed in an earlier term`,
        this.now,
      );
    }
  }

  /** A member durably appended `entries`; `prevTerm` is its term just before the first. */
  onPersist(id: NodeId, entries: readonly Entry[], prevTerm: number): void {
    let before = prevTerm;
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const identity = entryIdentity(e);
      const seen = this.logRecords.get(key);
      if (seen === undefined) {
        this.logRecords.set(key, { identity, prevTerm: before });
      } else if (seen.identity !== identity || seen.prevTerm !== before) {
        throw new Violation(
          'log-matching',
          `${id} holds a different entry at index ${e.index} term ${e.term} (or a different term before it: ${before} vs ${seen.prevTerm})`,
          this.now,
        );
      }
      before = e.term;
    }
  }

  /** A member applied `e`. */
  onApply(id: NodeId, e: Entry): void {
    const identity = entryIdentity(e);
    const prior = this.applied[e.index];
    if (prior === undefined) {
      this.applied[e.index] = { identity, term: e.term };
    } else if (prior.identity !== identity) {
      throw new Violation('state-machine-safety', `${id} applied ${identity} at ${e.index}, another member applied ${prior.identity}`, this.now);
    }
    const last = this.lastTime.get(id) ?? 0;
    if (e.time < last) {
      throw new Violation('time-monotonicity', `${id} applied entry ${e.index} with time ${e.time} after time ${last}`, this.now);
    }
    this.lastTime.set(id, e.time);
  }

  /** A member restarted from a snapshot taken at `time`: its applied times restart there. */
  onRestart(id: NodeId, snapshotTime: number): void {
    this.lastTime.set(id, snapshotTime);
  }
}

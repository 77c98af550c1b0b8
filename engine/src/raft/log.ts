/**
 * The Raft log as the core sees it: what is durable (read through Storage) followed by what is
 * not yet (the unstable tail, handed to the driver in the next Ready). Also tracks the commit
 * index and how far entries have been handed out for application.
 */
import type { Storage } from './storage.js';
import { limitSize } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/** Thrown when an invariant that protects committed data would be broken. Never caught. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantError';
  }
}

/** Entries and a snapshot received or created but not yet persisted by the driver. */
class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  lastIndex(): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.meta.index : null;
  }

  entry(index: number): Entry | undefined {
    return index >= this.offset ? this.entries[index - this.offset] : undefined;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const first = (entries[0] as Entry).index;
    if (first === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (first <= this.offset) {
      // Replaces everything unstable; the driver truncates storage from `first` on write.
      this.offset = first;
      this.entries = [...entries];
    } else {
      this.entries = [...this.entries.slice(0, first - this.offset), ...entries];
    }
  }

  /** Entries through `index` (of `term`) are now durable. */
  stableTo(index: number, term: number): void {
    const e = this.entry(index);
    // A later append may have replaced the entry: then it is not the one that was persisted.
    if (e === undefined || e.term !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.entries = [];
    this.offset = snapshot.meta.index + 1;
  }
}

export class RaftLog {
  private readonly unstable: Unstable;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index handed to the driver for application. */
  applied: number;

  constructor(
    private readonly storage: Storage,
    committed: number,
    applied: number,
  ) {
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const first = storage.firstIndex() - 1;
    this.committed = Math.max(committed, first);
    this.applied = Math.max(applied, first);
    if (this.applied > this.committed) {
      throw new RaftInvariantError(`applied index ${this.applied} is beyond the commit index ${this.committed}`);
    }
  }

  firstIndex(): number {
    const snap = this.unstable.snapshot;
    return snap ? snap.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** The last index that is durable, which the leader may count towards its own match. */
  lastStableIndex(): number {
    // While a received snapshot is pending, nothing of the new log is durable yet.
    if (this.unstable.snapshot) return 0;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  /** Term of the entry at `index`, or null when it is compacted or beyond the end. */
  term(index: number): number | null {
    const u = this.unstable.entry(index);
    if (u !== undefined) return u.term;
    const snap = this.unstable.snapshot;
    if (snap && index === snap.meta.index) return snap.meta.term;
    if (snap && index < snap.meta.index) return null;
    if (index < this.storage.firstIndex() - 1 || index > this.storage.lastIndex()) return null;
    if (index >= this.unstable.offset) return null;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t === null) throw new RaftInvariantError(`term of the last index ${this.lastIndex()} is unknown`);
    return t;
  }

  /** Time of the last entry (or of the snapshot), the floor for the next entry's time. */
  lastTime(): number {
    const last = this.lastIndex();
    const u = this.unstable.entry(last);
    if (u !== undefined) return u.time;
    const snap = this.unstable.snapshot;
    if (snap && last === snap.meta.index) return snap.meta.time;
    return this.storage.time(last);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction: is a log ending at (lastIndex, lastTerm) at least as new as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) up to maxBytes (at least one), or null if lo has been compacted and a
   * snapshot must be sent instead.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | null {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return null;
    if (hi > this.lastIndex() + 1) throw new RaftInvariantError(`slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    const stableHi = Math.min(hi, this.unstable.offset);
    if (lo < stableHi) {
      out.push(...this.storage.entries(lo, stableHi, maxBytes));
      if (out.length < stableHi - lo) return out; // size limit reached inside storage
    }
    const ulo = Math.max(lo, this.unstable.offset);
    if (ulo < hi) out.push(...this.unstable.entries.slice(ulo - this.unstable.offset, hi - this.unstable.offset));
    return limitSize(out, maxBytes);
  }

  /** Appends entries (truncating a conflicting suffix); returns the new last index. */
  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    if (first.index - 1 < this.committed) {
      throw new RaftInvariantError(`appending at ${first.index} would overwrite committed entries (commit ${this.committed})`);
    }
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * The follower side of AppendEntries: if our log matches at (prevIndex, prevTerm), drop the
   * entries we already have, truncate at the first conflict and append the rest. Returns the
   * index of the last entry the leader sent, or null on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[]): { lastNew: number; appended: Entry[] } | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    let i = 0;
    while (i < entries.length) {
      const e = entries[i] as Entry;
      const t = this.term(e.index);
      if (t === null && e.index <= this.lastIndex()) {
        // Below our first index: compacted, so committed and identical by log matching.
        i++;
        continue;
      }
      if (t !== e.term) break;
      i++;
    }
    const appended = entries.slice(i);
    if (appended.length > 0) {
      const at = (appended[0] as Entry).index;
      if (at <= this.committed) {
        throw new RaftInvariantError(`entry ${at} conflicts with a committed entry (commit ${this.committed})`);
      }
      this.append(appended);
    }
    return { lastNew, appended };
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term (0 if compacted).
   * Used both by a rejecting follower and by the leader to skip a whole term at a time.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === null) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} is beyond the last index ${this.lastIndex()}: was the log lost?`);
    }
    this.committed = index;
  }

  /** Entries committed but not yet handed out for application, up to maxBytes. */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxBytes) ?? [];
  }

  hasNextCommitted(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  appliedTo(index: number): void {
    if (index > this.committed) throw new RaftInvariantError(`applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  unstableSnapshot(): Snapshot | null {
    return this.unstable.snapshot;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapshotTo(index: number): void {
    if (this.unstable.snapshot?.meta.index === index) this.unstable.snapshot = null;
  }

  /** The snapshot to send to a follower that is too far behind. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log with a snapshot from the leader. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }
}

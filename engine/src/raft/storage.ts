/**
 * What the core reads from durable storage. The driver owns writing (it persists each Ready);
 * the core only reads, synchronously — better-sqlite3 makes that natural for the runtime, and
 * MemoryStorage here serves the simulator and benchmarks.
 */
import { RaftError } from './errors.js';
import { EMPTY_CONFIG } from './types.js';
import type { ClusterConfig, Entry, HardState, Snapshot } from './types.js';

export interface Storage {
  /** The persisted hard state (term 0, no vote, commit 0 for a new node). */
  hardState(): HardState;
  /** Index of the first entry still in the log: the latest snapshot's index + 1. */
  firstIndex(): number;
  /** Index of the last entry, or the snapshot's index when the log is empty. */
  lastIndex(): number;
  /** Term of the entry at `index`, for index in [firstIndex - 1, lastIndex]. */
  term(index: number): number;
  /** Time of the entry at `index`, same range as term(). */
  time(index: number): number;
  /** Entries in [lo, hi), stopping once `maxBytes` is exceeded (always at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The latest snapshot (index 0 and no data for a log that was never compacted). */
  snapshot(): Snapshot;
}

/** A rough wire size of an entry, used to bound messages and apply batches. */
export function entrySize(e: Entry): number {
  switch (e.kind) {
    case 'normal':
      return 32 + e.data.length;
    case 'noop':
      return 32;
    case 'config':
      return 64 + 32 * (e.config.voters.length + e.config.learners.length);
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** Takes entries from `entries` while the total stays under maxBytes (at least one). */
export function limitSize<T extends Entry>(entries: T[], maxBytes: number): T[] {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    total += entrySize(entries[i] as T);
    if (total > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

/**
 * An in-memory Storage with the write operations a driver needs. Entries are kept after the
 * snapshot only; `entries[0]` is the entry at snapshot.index + 1.
 */
export class MemoryStorage implements Storage {
  private hs: HardState = { term: 0, vote: null, commit: 0 };
  private snap: Snapshot;
  private log: Entry[] = [];

  /** A new node's storage; pass the initial configuration to bootstrap a cluster. */
  constructor(initialConfig: ClusterConfig = EMPTY_CONFIG) {
    this.snap = { meta: { index: 0, term: 0, time: 0, config: initialConfig }, data: new Uint8Array(0) };
  }

  hardState(): HardState {
    return this.hs;
  }

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.snap.meta.index + this.log.length;
  }

  term(index: number): number {
    return index === this.snap.meta.index ? this.snap.meta.term : this.at(index).term;
  }

  time(index: number): number {
    return index === this.snap.meta.index ? this.snap.meta.time : this.at(index).time;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('COMPACTED', `entry ${lo} was compacted`);
    if (hi > this.lastIndex() + 1) throw new RaftError('UNAVAILABLE', `entries up to ${hi - 1} are not in the log`);
    const base = this.snap.meta.index + 1;
    return limitSize(this.log.slice(lo - base, hi - base), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  // ---- writes, done by the driver when it persists a Ready ----

  setHardState(hs: HardState): void {
    this.hs = hs;
  }

  /** Appends entries, first truncating any existing entries from entries[0].index on. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index > this.lastIndex() + 1) {
      throw new RaftError('UNAVAILABLE', `gap: appending ${first.index} after ${this.lastIndex()}`);
    }
    if (first.index <= this.snap.meta.index) throw new RaftError('COMPACTED', `entry ${first.index} was compacted`);
    this.log.length = first.index - (this.snap.meta.index + 1);
    this.log.push(...entries);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.meta.index <= this.snap.meta.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot ${snapshot.meta.index} is older than ${this.snap.meta.index}`);
    }
    this.snap = snapshot;
    this.log = [];
  }

  /**
   * Compacts the log through `index`, which the state machine has applied, recording `data` as
   * the state at that index and `config` as the configuration in force there.
   */
  compact(index: number, config: ClusterConfig, data: Uint8Array): void {
    if (index <= this.snap.meta.index) return;
    const e = this.at(index);
    const dropped = index - this.snap.meta.index;
    this.snap = { meta: { index, term: e.term, time: e.time, config }, data };
    this.log = this.log.slice(dropped);
  }

  private at(index: number): Entry {
    const e = this.log[index - (this.snap.meta.index + 1)];
    if (e === undefined) {
      throw new RaftError(index <= this.snap.meta.index ? 'COMPACTED' : 'UNAVAILABLE', `entry ${index} is not in the log`);
    }
    return e;
  }
}

/**
 * One Raft group's log as the core sees it: the `Storage` interface, answered from memory where
 * the core asks often (terms, times, recent entries) and from SQLite otherwise. LogStore owns all
 * writes and calls the `stored*` methods only after their transaction has committed, so memory
 * never runs ahead of the disk.
 */
import { RaftError, entrySize } from '../raft/index.js';
import type { ClusterConfig, Entry, HardState, Snapshot, SnapshotMeta, Storage } from '../raft/index.js';
import { decodeEntry, entryRowIntact } from './codec.js';
import type { EntryRow } from './codec.js';
import { CorruptStorageError } from './verify.js';

/** The SQLite reads a group falls back on. */
export interface GroupReads {
  readonly file: string;
  /** Rows of the group with lo <= idx < hi, in index order. */
  entryRows(groupId: number, lo: number, hi: number): IterableIterator<EntryRow>;
  snapshotData(groupId: number): Uint8Array;
}

export class GroupLog implements Storage {
  private hs: HardState;
  private snap: SnapshotMeta;
  /** Term and time of every entry in [firstIndex, lastIndex]: the core reads them constantly. */
  private terms: number[];
  private times: number[];
  /** The most recently written entries, a suffix of the log starting at cacheFirst. */
  private cache: Entry[] = [];
  private cacheFirst: number;
  private cacheBytes = 0;

  constructor(
    readonly groupId: number,
    private readonly reads: GroupReads,
    private readonly cacheLimit: number,
    state: { hardState: HardState; snapshot: SnapshotMeta; terms: number[]; times: number[] },
  ) {
    this.hs = state.hardState;
    this.snap = state.snapshot;
    this.terms = state.terms;
    this.times = state.times;
    this.cacheFirst = this.lastIndex() + 1;
  }

  hardState(): HardState {
    return this.hs;
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.terms.length;
  }

  term(index: number): number {
    return index === this.snap.index ? this.snap.term : this.at(this.terms, index);
  }

  time(index: number): number {
    return index === this.snap.index ? this.snap.time : this.at(this.times, index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('COMPACTED', `entry ${lo} was compacted`);
    if (hi > this.lastIndex() + 1) throw new RaftError('UNAVAILABLE', `entries up to ${hi - 1} are not in the log`);
    // Same rule as limitSize: stop before the entry that exceeds maxBytes, but take at least one.
    const out: Entry[] = [];
    let total = 0;
    const take = (e: Entry): boolean => {
      total += entrySize(e);
      if (total > maxBytes && out.length > 0) return false;
      out.push(e);
      return true;
    };
    const diskHi = Math.min(hi, this.cacheFirst);
    if (lo < diskHi) {
      let expected = lo;
      for (const row of this.reads.entryRows(this.groupId, lo, diskHi)) {
        // Verified at open, but the disk may have rotted since: never hand out a bad entry.
        if (row.idx !== expected || !entryRowIntact(row)) {
          throw new CorruptStorageError(this.reads.file, this.groupId, expected, 'entry unreadable or failing its checksum');
        }
        expected++;
        if (!take(decodeEntry(row))) return out;
      }
      if (expected !== diskHi) throw new CorruptStorageError(this.reads.file, this.groupId, expected, 'entry is missing');
    }
    for (let i = Math.max(lo, this.cacheFirst); i < hi; i++) {
      if (!take(this.cache[i - this.cacheFirst] as Entry)) return out;
    }
    return out;
  }

  /** Reads the snapshot data from disk: it is needed rarely (restart, lagging followers) and may be large. */
  snapshot(): Snapshot {
    return { meta: this.snap, data: this.reads.snapshotData(this.groupId) };
  }

  // ---- called by LogStore after the transaction that wrote the change has committed ----

  storedSnapshot(meta: SnapshotMeta): void {
    this.snap = meta;
    this.terms = [];
    this.times = [];
    this.cache = [];
    this.cacheBytes = 0;
    this.cacheFirst = meta.index + 1;
  }

  storedEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const keep = first.index - this.firstIndex();
    this.terms.length = keep;
    this.times.length = keep;
    for (const e of entries) {
      this.terms.push(e.term);
      this.times.push(e.time);
    }
    if (first.index < this.cacheFirst) {
      this.cache = [];
      this.cacheBytes = 0;
      this.cacheFirst = first.index;
    } else {
      for (const e of this.cache.splice(first.index - this.cacheFirst)) this.cacheBytes -= entrySize(e);
    }
    for (const e of entries) {
      this.cache.push(e);
      this.cacheBytes += entrySize(e);
    }
    this.evict(0);
  }

  storedHardState(hs: HardState): void {
    this.hs = hs;
  }

  /** The log through `index` was replaced by a snapshot taken by this member's state machine. */
  storedCompaction(index: number, config: ClusterConfig): void {
    const dropped = index - this.snap.index;
    this.snap = { index, term: this.term(index), time: this.time(index), config };
    this.terms.splice(0, dropped);
    this.times.splice(0, dropped);
    this.evict(index + 1 - this.cacheFirst);
  }

  /**
   * Drops at least `atLeast` entries from the front of the cache and, once it is over its limit,
   * enough to get down to three quarters of it, so the splice is paid once per quarter of the
   * limit written rather than on every write.
   */
  private evict(atLeast: number): void {
    const target = this.cacheBytes > this.cacheLimit ? (this.cacheLimit * 3) / 4 : Infinity;
    let n = 0;
    while (n < this.cache.length && (n < atLeast || this.cacheBytes > target)) {
      this.cacheBytes -= entrySize(this.cache[n] as Entry);
      n++;
    }
    if (n === 0) return;
    this.cache.splice(0, n);
    this.cacheFirst += n;
  }

  private at(values: readonly number[], index: number): number {
    const v = values[index - this.firstIndex()];
    if (v === undefined) {
      throw new RaftError(index <= this.snap.index ? 'COMPACTED' : 'UNAVAILABLE', `entry ${index} is not in the log`);
    }
    return v;
  }
}

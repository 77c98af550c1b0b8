/**
 * The pure part of checking a stored Raft log at open: which rows are intact, where the intact
 * log ends, and whether what is lost was committed (fatal) or only an unacknowledged-or-torn
 * tail (cut off, behind a recovery fence).
 */
import { entryRowIntact, hardStateCrc, snapshotCrc } from './codec.js';
import type { EntryRow, HardStateRow } from './codec.js';

/** The stored state cannot be trusted; the member must not run on it. */
export class CorruptStorageError extends Error {
  constructor(
    readonly file: string,
    readonly groupId: number,
    readonly index: number | null,
    readonly detail: string,
  ) {
    const where = index === null ? `Raft group ${groupId}` : `Raft group ${groupId}, log index ${index}`;
    super(
      `corrupt Raft storage in ${file} (${where}): ${detail}. This member cannot safely rejoin with this data: ` +
        `stop it, wipe its data directory and let it rejoin the cluster as a new member (it gets a new incarnation).`,
    );
    this.name = 'CorruptStorageError';
  }
}

export function checkHardState(file: string, row: HardStateRow): void {
  const hs = { term: row.term, vote: row.vote, commit: row.commit_index };
  if (hardStateCrc(row.group_id, hs) !== row.crc) throw new CorruptStorageError(file, row.group_id, null, 'hard state fails its checksum');
}

export function checkSnapshot(
  file: string,
  row: { group_id: number; idx: number; term: number; time: number; config: string; data: Uint8Array; crc: number },
): void {
  if (snapshotCrc(row.group_id, row.idx, row.term, row.time, row.config, row.data) !== row.crc) {
    throw new CorruptStorageError(file, row.group_id, row.idx, 'snapshot fails its checksum');
  }
}

/** What the scan of one group's entries found. */
export interface ScanResult {
  /** Terms and times of the intact prefix, from snapshot index + 1 on. */
  readonly terms: number[];
  readonly times: number[];
  /** First index not part of the intact log, if rows from there on must go. */
  readonly truncateFrom: number | null;
  /** Highest index among the rows that must go. */
  readonly lostThrough: number;
}

/**
 * Walks one group's entry rows in index order. The intact log is the longest prefix, starting
 * right after the snapshot, of rows that pass their CRC, are contiguous and never lower the term.
 */
export class GroupScan {
  private readonly terms: number[] = [];
  private readonly times: number[] = [];
  private truncateFrom: number | null = null;
  private problem = '';
  private lostThrough = 0;

  constructor(
    private readonly file: string,
    readonly groupId: number,
    private readonly snapIndex: number,
    private readonly snapTerm: number,
  ) {}

  add(row: EntryRow): void {
    if (this.truncateFrom !== null) {
      this.lostThrough = row.idx;
      return;
    }
    // Compaction deletes these in the snapshot's own transaction, so one can only be damage.
    if (row.idx <= this.snapIndex) {
      throw new CorruptStorageError(this.file, this.groupId, row.idx, `entry at or below the snapshot index ${this.snapIndex}`);
    }
    const expected = this.snapIndex + 1 + this.terms.length;
    const prevTerm = this.terms.at(-1) ?? this.snapTerm;
    let problem: string | null = null;
    if (row.idx !== expected) problem = `entry ${expected} is missing`;
    else if (!entryRowIntact(row)) problem = 'entry fails its checksum';
    else if (row.term < prevTerm) problem = `entry term ${row.term} is below the term ${prevTerm} of the entry before it`;
    if (problem !== null) {
      this.truncateFrom = expected;
      this.problem = problem;
      this.lostThrough = row.idx;
      return;
    }
    this.terms.push(row.term);
    this.times.push(row.time);
  }

  /** Throws if anything committed is damaged or missing. */
  finish(commit: number): ScanResult {
    if (this.truncateFrom !== null && this.truncateFrom <= commit) {
      throw new CorruptStorageError(this.file, this.groupId, this.truncateFrom, `${this.problem} inside the committed log (commit index ${commit})`);
    }
    const last = this.snapIndex + this.terms.length;
    if (this.truncateFrom === null && commit > last) {
      throw new CorruptStorageError(this.file, this.groupId, last + 1, `committed entries up to ${commit} are missing`);
    }
    return { terms: this.terms, times: this.times, truncateFrom: this.truncateFrom, lostThrough: this.lostThrough };
  }
}

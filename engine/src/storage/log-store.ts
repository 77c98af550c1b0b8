/**
 * The durable Raft state of one engine node: every group it hosts, in one SQLite file, so that
 * the writes of many groups' Ready batches share one transaction and one fsync (group commit).
 * Everything stored is checked at open (see verify.ts) before any group is handed to the core.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { RaftError } from '../raft/index.js';
import type { ClusterConfig, Entry, HardState, Snapshot } from '../raft/index.js';
import { encodeConfig, encodeEntry, hardStateCrc, snapshotCrc, snapshotMetaOf } from './codec.js';
import type { EntryRow, HardStateRow, SnapshotRow } from './codec.js';
import { GroupLog } from './group-log.js';
import type { GroupReads } from './group-log.js';
import { CorruptStorageError, GroupScan, checkHardState, checkSnapshot } from './verify.js';

const SCHEMA_VERSION = 2;

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE hard_state (
    group_id INTEGER PRIMARY KEY, term INTEGER NOT NULL, vote TEXT, commit_index INTEGER NOT NULL, crc INTEGER NOT NULL);
  CREATE TABLE snapshot (
    group_id INTEGER PRIMARY KEY, idx INTEGER NOT NULL, term INTEGER NOT NULL, time INTEGER NOT NULL,
    config TEXT NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
  CREATE TABLE entry (
    group_id INTEGER NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL, time INTEGER NOT NULL,
    kind INTEGER NOT NULL, payload BLOB NOT NULL, crc INTEGER NOT NULL,
    PRIMARY KEY (group_id, idx)) WITHOUT ROWID;
  CREATE TABLE recovery_fence (group_id INTEGER PRIMARY KEY, idx INTEGER NOT NULL);
`;

/** Version 2: what a group is for (a topic partition's name and index), written at its creation. */
const SCHEMA_V2 = `
  CREATE TABLE group_meta (group_id INTEGER PRIMARY KEY, meta TEXT NOT NULL);
`;

export interface Identity {
  readonly name: string;
  /** Random per data directory: a member that lost its data comes back as a different member. */
  readonly incarnation: string;
  readonly createdAt: number;
}

/** The Raft member id of this node in every group it hosts. */
export function memberId(identity: Identity): string {
  return `${identity.name}@${identity.incarnation}`;
}

/** One group's part of a Ready batch, persisted in the order the Ready contract gives. */
export interface GroupWrite {
  readonly groupId: number;
  readonly snapshot?: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState | null;
}

/** A damaged, uncommitted log tail that was cut off at open. */
export interface RecoveredTail {
  readonly groupId: number;
  readonly truncatedFrom: number;
  readonly lostThrough: number;
}

export interface LogStoreOptions {
  /** fsync at every commit (synchronous=FULL). Only tests may turn it off. */
  readonly fsync?: boolean;
  /** Bytes of recent entries kept in memory per group, so replication rarely reads SQLite. */
  readonly cacheBytesPerGroup?: number;
}

function statements(db: Database.Database) {
  return {
    entryRange: db.prepare<[number, number, number], EntryRow>(
      'SELECT * FROM entry WHERE group_id = ? AND idx >= ? AND idx < ? ORDER BY idx',
    ),
    insertEntry: db.prepare<[EntryRow]>(
      'INSERT INTO entry (group_id, idx, term, time, kind, payload, crc) VALUES (@group_id, @idx, @term, @time, @kind, @payload, @crc)',
    ),
    deleteFrom: db.prepare<[number, number]>('DELETE FROM entry WHERE group_id = ? AND idx >= ?'),
    deleteThrough: db.prepare<[number, number]>('DELETE FROM entry WHERE group_id = ? AND idx <= ?'),
    putHardState: db.prepare<[HardStateRow]>(
      'INSERT OR REPLACE INTO hard_state (group_id, term, vote, commit_index, crc) VALUES (@group_id, @term, @vote, @commit_index, @crc)',
    ),
    putSnapshot: db.prepare<[SnapshotRow & { data: Uint8Array }]>(
      'INSERT OR REPLACE INTO snapshot (group_id, idx, term, time, config, data, crc) VALUES (@group_id, @idx, @term, @time, @config, @data, @crc)',
    ),
    getSnapshot: db.prepare<[number], SnapshotRow & { data: Uint8Array }>('SELECT * FROM snapshot WHERE group_id = ?'),
    putFence: db.prepare<[number, number]>('INSERT OR REPLACE INTO recovery_fence (group_id, idx) VALUES (?, ?)'),
    deleteFence: db.prepare<[number]>('DELETE FROM recovery_fence WHERE group_id = ?'),
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    putMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?)'),
    putGroupMeta: db.prepare<[number, string]>('INSERT OR REPLACE INTO group_meta (group_id, meta) VALUES (?, ?)'),
    getGroupMeta: db.prepare<[number], { meta: string }>('SELECT meta FROM group_meta WHERE group_id = ?'),
  };
}

function hardStateRow(groupId: number, hs: HardState): HardStateRow {
  return { group_id: groupId, term: hs.term, vote: hs.vote, commit_index: hs.commit, crc: hardStateCrc(groupId, hs) };
}

function snapshotRow(groupId: number, s: Snapshot): SnapshotRow & { data: Uint8Array } {
  const { index, term, time } = s.meta;
  const config = encodeConfig(s.meta.config);
  return { group_id: groupId, idx: index, term, time, config, data: s.data, crc: snapshotCrc(groupId, index, term, time, config, s.data) };
}

function checkGroupId(groupId: number): void {
  if (!Number.isSafeInteger(groupId) || groupId < 0) throw new RaftError('INVALID_ARGUMENT', `bad group id ${groupId}`);
}

export class LogStore {
  private readonly sql: ReturnType<typeof statements>;
  private readonly groups = new Map<number, GroupLog>();
  private readonly fences = new Map<number, number>();
  private readonly recovered: RecoveredTail[] = [];
  private readonly reads: GroupReads;
  private readonly cacheBytes: number;
  private readonly fsync: boolean;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    options: LogStoreOptions,
  ) {
    this.cacheBytes = options.cacheBytesPerGroup ?? 8 << 20;
    this.fsync = options.fsync !== false;
    this.sql = statements(db);
    const sql = this.sql;
    this.reads = {
      file,
      entryRows: (groupId, lo, hi) => sql.entryRange.iterate(groupId, lo, hi),
      snapshotData: (groupId) => {
        const row = sql.getSnapshot.get(groupId);
        if (row === undefined) throw new CorruptStorageError(file, groupId, null, 'snapshot row is missing');
        checkSnapshot(file, row);
        return new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength);
      },
    };
  }

  static open(path: string, options: LogStoreOptions = {}): LogStore {
    const db = new Database(path);
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`${path}: cannot use WAL journal mode (got ${String(mode)})`);
      // In WAL mode, NORMAL does not fsync at commit: an acknowledged entry could be lost.
      db.pragma(options.fsync === false ? 'synchronous = OFF' : 'synchronous = FULL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`${path} has storage schema version ${version}, newer than this engine's ${SCHEMA_VERSION}: run a newer engine`);
      }
      if (version < SCHEMA_VERSION) {
        db.transaction(() => {
          if (version === 0) db.exec(SCHEMA);
          if (version < 2) db.exec(SCHEMA_V2);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })();
      }
      const store = new LogStore(db, path, options);
      store.load();
      return store;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  close(): void {
    this.db.close();
  }

  // ---- identity ----

  identity(): Identity | null {
    const name = this.sql.getMeta.get('name')?.value;
    const incarnation = this.sql.getMeta.get('incarnation')?.value;
    const createdAt = this.sql.getMeta.get('created_at')?.value;
    if (name === undefined || incarnation === undefined || createdAt === undefined) return null;
    return { name, incarnation, createdAt: Number(createdAt) };
  }

  /** The identity of this data directory, created on first use and never changed after. */
  initIdentity(name: string): Identity {
    const existing = this.identity();
    if (existing !== null) {
      if (existing.name !== name) {
        throw new Error(`${this.file} belongs to member ${memberId(existing)}, not to ${name}: refusing to use another member's data`);
      }
      return existing;
    }
    const identity: Identity = { name, incarnation: randomBytes(4).toString('hex'), createdAt: Date.now() };
    this.db.transaction(() => {
      this.sql.putMeta.run('name', identity.name);
      this.sql.putMeta.run('incarnation', identity.incarnation);
      this.sql.putMeta.run('created_at', String(identity.createdAt));
    })();
    return identity;
  }

  // ---- groups ----

  groupIds(): number[] {
    return [...this.groups.keys()].sort((a, b) => a - b);
  }

  hasGroup(groupId: number): boolean {
    return this.groups.has(groupId);
  }

  /**
   * A new group at index 0; an empty config makes a member that a leader will add later.
   * `meta` says what the group is for (opaque to the store), written in the same transaction.
   */
  createGroup(groupId: number, initialConfig: ClusterConfig, meta: string | null = null): GroupLog {
    checkGroupId(groupId);
    if (this.groups.has(groupId)) throw new RaftError('INVALID_ARGUMENT', `group ${groupId} already exists`);
    const snapshot: Snapshot = { meta: { index: 0, term: 0, time: 0, config: initialConfig }, data: new Uint8Array(0) };
    const hardState: HardState = { term: 0, vote: null, commit: 0 };
    this.db.transaction(() => {
      this.sql.putSnapshot.run(snapshotRow(groupId, snapshot));
      this.sql.putHardState.run(hardStateRow(groupId, hardState));
      if (meta !== null) this.sql.putGroupMeta.run(groupId, meta);
    })();
    const g = new GroupLog(groupId, this.reads, this.cacheBytes, { hardState, snapshot: snapshot.meta, terms: [], times: [] });
    this.groups.set(groupId, g);
    return g;
  }

  /** What `createGroup` recorded the group is for; null when nothing was. */
  groupMeta(groupId: number): string | null {
    return this.sql.getGroupMeta.get(groupId)?.meta ?? null;
  }

  /** Drops a group and everything stored for it, in one transaction. */
  deleteGroup(groupId: number): void {
    checkGroupId(groupId);
    this.db.transaction(() => {
      for (const table of ['entry', 'hard_state', 'snapshot', 'recovery_fence', 'group_meta']) {
        this.db.prepare(`DELETE FROM ${table} WHERE group_id = ?`).run(groupId);
      }
    })();
    this.groups.delete(groupId);
    this.fences.delete(groupId);
  }

  group(groupId: number): GroupLog {
    const g = this.groups.get(groupId);
    if (g === undefined) throw new RaftError('INVALID_ARGUMENT', `no group ${groupId} in ${this.file}`);
    return g;
  }

  // ---- writes ----

  /**
   * Persists the Ready batches of many groups in one transaction, so one fsync covers them all.
   * Everything is validated first: a bad write throws and leaves storage untouched.
   */
  persist(writes: readonly GroupWrite[]): void {
    const seen = new Set<number>();
    const planned = writes.map((w) => {
      const g = this.group(w.groupId);
      if (seen.has(w.groupId)) throw new RaftError('INVALID_ARGUMENT', `group ${w.groupId} appears twice in one batch`);
      seen.add(w.groupId);
      this.validate(g, w);
      return {
        g,
        w,
        snapshot: w.snapshot ? snapshotRow(w.groupId, w.snapshot) : null,
        entries: w.entries.map((e) => encodeEntry(w.groupId, e)),
        hardState: w.hardState ? hardStateRow(w.groupId, w.hardState) : null,
      };
    });
    // Only entries, snapshots, terms and votes must be on disk before anything depends on them.
    // A batch that only moves commit indexes skips the fsync: the next synced transaction's
    // fsync of the (append-only) WAL covers it, and a commit index lost in a crash is simply
    // learned again from the leader. This takes one fsync off the leader's critical path.
    const mustSync = planned.some(({ g, w }) => {
      if (w.snapshot || w.entries.length > 0) return true;
      const before = g.hardState();
      return w.hardState !== null && w.hardState !== undefined && (w.hardState.term !== before.term || w.hardState.vote !== before.vote);
    });
    const relaxed = !mustSync && this.fsync;
    if (relaxed) this.db.pragma('synchronous = OFF');
    try {
      this.writeBatch(planned);
    } finally {
      if (relaxed) this.db.pragma('synchronous = FULL');
    }
    for (const { g, w } of planned) {
      if (w.snapshot) g.storedSnapshot(w.snapshot.meta);
      g.storedEntries(w.entries);
      if (w.hardState) g.storedHardState(w.hardState);
    }
  }

  private writeBatch(planned: ReadonlyArray<{ w: GroupWrite; snapshot: ReturnType<typeof snapshotRow> | null; entries: ReturnType<typeof encodeEntry>[]; hardState: ReturnType<typeof hardStateRow> | null }>): void {
    this.db.transaction(() => {
      for (const p of planned) {
        if (p.snapshot) {
          this.sql.deleteFrom.run(p.w.groupId, 0);
          this.sql.putSnapshot.run(p.snapshot);
        }
        const first = p.entries[0];
        if (first) {
          this.sql.deleteFrom.run(p.w.groupId, first.idx);
          for (const row of p.entries) this.sql.insertEntry.run(row);
        }
        if (p.hardState) this.sql.putHardState.run(p.hardState);
      }
    })();
  }

  /** The checks of MemoryStorage's applySnapshot and append, plus the invariants verification relies on. */
  private validate(g: GroupLog, w: GroupWrite): void {
    let snapIndex = g.firstIndex() - 1;
    let last = g.lastIndex();
    if (w.snapshot) {
      if (w.snapshot.meta.index <= snapIndex) {
        throw new RaftError('SNAPSHOT_OUT_OF_DATE', `group ${g.groupId}: snapshot ${w.snapshot.meta.index} is older than ${snapIndex}`);
      }
      snapIndex = last = w.snapshot.meta.index;
    }
    const first = w.entries[0];
    if (first !== undefined) {
      if (first.index > last + 1) throw new RaftError('UNAVAILABLE', `group ${g.groupId}: gap: appending ${first.index} after ${last}`);
      if (first.index <= snapIndex) throw new RaftError('COMPACTED', `group ${g.groupId}: entry ${first.index} was compacted`);
      // Verification at open relies on these: the committed log is never rewritten, and a
      // non-contiguous entry or a falling term marks where the log went bad.
      if (!w.snapshot && first.index <= g.hardState().commit) {
        throw new RaftError('INVALID_ARGUMENT', `group ${g.groupId}: appending ${first.index} would rewrite committed entries`);
      }
      let prevTerm = w.snapshot ? w.snapshot.meta.term : g.term(first.index - 1);
      w.entries.forEach((e, i) => {
        if (e.index !== first.index + i) throw new RaftError('INVALID_ARGUMENT', `group ${g.groupId}: entries not contiguous at ${e.index}`);
        if (e.term < prevTerm) throw new RaftError('INVALID_ARGUMENT', `group ${g.groupId}: entry ${e.index} lowers the term`);
        prevTerm = e.term;
      });
      last = first.index + w.entries.length - 1;
    }
    if (w.hardState && w.hardState.commit > last) {
      throw new RaftError('INVALID_ARGUMENT', `group ${g.groupId}: commit ${w.hardState.commit} is beyond the last index ${last}`);
    }
  }

  /**
   * The state machine has applied `index` and `data` is its state there: keep it as the
   * snapshot (with `config`, the configuration in force at `index`) and drop the log through it.
   */
  compact(groupId: number, index: number, config: ClusterConfig, data: Uint8Array): void {
    const g = this.group(groupId);
    if (index <= g.firstIndex() - 1) return;
    if (index > g.lastIndex()) throw new RaftError('UNAVAILABLE', `group ${groupId}: entry ${index} is not in the log`);
    // Verification treats everything up to the snapshot as committed.
    if (index > g.hardState().commit) throw new RaftError('INVALID_ARGUMENT', `group ${groupId}: entry ${index} is not committed`);
    const snapshot: Snapshot = { meta: { index, term: g.term(index), time: g.time(index), config }, data };
    this.db.transaction(() => {
      this.sql.putSnapshot.run(snapshotRow(groupId, snapshot));
      this.sql.deleteThrough.run(groupId, index);
    })();
    g.storedCompaction(index, config);
  }

  // ---- recovery fences ----

  /**
   * Until the group's commit index reaches the fence, this member must neither vote nor
   * campaign in it: it may have acknowledged entries it lost, and voting without them could
   * elect a leader missing a committed entry. 0 clears the fence.
   */
  setRecoveryFence(groupId: number, index: number): void {
    this.group(groupId);
    if (index === 0) {
      this.sql.deleteFence.run(groupId);
      this.fences.delete(groupId);
    } else {
      this.sql.putFence.run(groupId, index);
      this.fences.set(groupId, index);
    }
  }

  recoveryFence(groupId: number): number {
    return this.fences.get(groupId) ?? 0;
  }

  /** Damaged uncommitted tails cut off when this store was opened, for the caller to log. */
  recoveredTails(): RecoveredTail[] {
    return [...this.recovered];
  }

  // ---- open-time verification ----

  private load(): void {
    const file = this.file;
    const hardStates = new Map<number, HardState>();
    for (const row of this.db.prepare<[], HardStateRow>('SELECT * FROM hard_state').iterate()) {
      checkHardState(file, row);
      hardStates.set(row.group_id, { term: row.term, vote: row.vote, commit: row.commit_index });
    }
    const scans = new Map<number, { scan: GroupScan; row: SnapshotRow }>();
    for (const row of this.db.prepare<[], SnapshotRow & { data: Uint8Array }>('SELECT * FROM snapshot').iterate()) {
      checkSnapshot(file, row);
      if (!hardStates.has(row.group_id)) throw new CorruptStorageError(file, row.group_id, null, 'hard state row is missing');
      const { data: _data, ...meta } = row;
      scans.set(row.group_id, { scan: new GroupScan(file, row.group_id, row.idx, row.term), row: meta });
    }
    for (const id of hardStates.keys()) {
      if (!scans.has(id)) throw new CorruptStorageError(file, id, null, 'snapshot row is missing');
    }
    for (const row of this.db.prepare<[], EntryRow>('SELECT * FROM entry ORDER BY group_id, idx').iterate()) {
      const s = scans.get(row.group_id);
      if (s === undefined) throw new CorruptStorageError(file, row.group_id, row.idx, 'entries of a group that has no snapshot or hard state');
      s.scan.add(row);
    }
    for (const row of this.db.prepare<[], { group_id: number; idx: number }>('SELECT * FROM recovery_fence').iterate()) {
      this.fences.set(row.group_id, row.idx);
    }

    const results = [...scans].map(([id, { scan, row }]) => {
      const hardState = hardStates.get(id) as HardState;
      return { id, row, hardState, result: scan.finish(hardState.commit) };
    });
    // Cut every damaged tail, and fence it, in one transaction: a crash here just redoes it.
    this.db.transaction(() => {
      for (const { id, result } of results) {
        if (result.truncateFrom === null) continue;
        const fence = Math.max(result.lostThrough, this.fences.get(id) ?? 0);
        this.sql.deleteFrom.run(id, result.truncateFrom);
        this.sql.putFence.run(id, fence);
      }
    })();
    for (const { id, row, hardState, result } of results) {
      if (result.truncateFrom !== null) {
        this.recovered.push({ groupId: id, truncatedFrom: result.truncateFrom, lostThrough: result.lostThrough });
        this.fences.set(id, Math.max(result.lostThrough, this.fences.get(id) ?? 0));
      }
      const state = { hardState, snapshot: snapshotMetaOf(row), terms: result.terms, times: result.times };
      this.groups.set(id, new GroupLog(id, this.reads, this.cacheBytes, state));
    }
  }
}

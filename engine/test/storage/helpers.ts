/**
 * Shared by the storage tests (not a test file itself): a temporary data directory per test,
 * entry builders, and raw SQLite access for tests that damage the file on purpose.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach } from 'vitest';
import type { ClusterConfig, ConfChange, Entry } from '../../src/raft/index.js';
import { LogStore } from '../../src/storage/index.js';
import type { LogStoreOptions } from '../../src/storage/index.js';

/** A fresh directory for each test, removed afterwards; `file()` is the raft.db inside it. */
export function useTempDir(): { dir: () => string; file: () => string } {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leviathan-storage-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir, file: () => path.join(dir, 'raft.db') };
}

/** Tests skip the fsync: they check what is written, not that the disk honours it. */
export function open(file: string, options: LogStoreOptions = {}): LogStore {
  return LogStore.open(file, { fsync: false, ...options });
}

/** A raw handle on the file, for damaging it; closed by the callback's end. */
export function withRaw<T>(file: string, f: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return f(db);
  } finally {
    db.close();
  }
}

export const CONFIG: ClusterConfig = { voters: ['a'], learners: [] };

export function normal(index: number, term: number, data: string | Uint8Array = `e${index}`, time = 1000 + index): Entry {
  return { index, term, time, kind: 'normal', data: typeof data === 'string' ? new TextEncoder().encode(data) : data };
}

export function noop(index: number, term: number, time = 1000 + index): Entry {
  return { index, term, time, kind: 'noop' };
}

export function config(index: number, term: number, change: ConfChange, result: ClusterConfig, time = 1000 + index): Entry {
  return { index, term, time, kind: 'config', change, config: result };
}

/** Normal entries lo..hi (inclusive) of one term. */
export function run(lo: number, hi: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(normal(i, term));
  return out;
}

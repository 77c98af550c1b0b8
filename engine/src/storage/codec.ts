/**
 * How Raft state is laid out in SQLite rows, and the CRC-32 that guards each row. The CRC
 * covers the row's key (group and index) as well as its content, so a row whose bytes are intact
 * but which landed under the wrong key is caught too.
 */
import { crc32 } from 'node:zlib';
import type { ClusterConfig, ConfChange, Entry, HardState, SnapshotMeta } from '../raft/index.js';

/** Entry kinds as stored in the `kind` column. Never renumber: they are on disk. */
const KIND = { normal: 0, noop: 1, config: 2 } as const;

export interface EntryRow {
  readonly group_id: number;
  readonly idx: number;
  readonly term: number;
  readonly time: number;
  readonly kind: number;
  readonly payload: Uint8Array;
  readonly crc: number;
}

export interface HardStateRow {
  readonly group_id: number;
  readonly term: number;
  readonly vote: string | null;
  readonly commit_index: number;
  readonly crc: number;
}

export interface SnapshotRow {
  readonly group_id: number;
  readonly idx: number;
  readonly term: number;
  readonly time: number;
  readonly config: string;
  readonly crc: number;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Numbers as float64: group ids, indexes and terms are integers below 2^53 and times are
 * milliseconds, all exact in a double, so one encoding serves them all.
 */
function crcOfNumbers(values: readonly number[], seed = 0): number {
  const view = new DataView(new ArrayBuffer(8 * values.length));
  values.forEach((v, i) => view.setFloat64(8 * i, v, true));
  return crc32(view, seed);
}

/**
 * crc32(bytes, seed), except that an empty input returns the seed: node's crc32 answers 0 for
 * the empty Buffers better-sqlite3 returns for zero-length blobs (they have no backing store).
 */
function crcOf(bytes: Uint8Array, seed: number): number {
  return bytes.length === 0 ? seed : crc32(bytes, seed);
}

function crcOfText(text: string | null, seed: number): number {
  // A flag byte keeps null and "" apart.
  if (text === null) return crc32(Uint8Array.of(0), seed);
  return crcOf(encoder.encode(text), crc32(Uint8Array.of(1), seed));
}

export function entryCrc(groupId: number, index: number, term: number, time: number, kind: number, payload: Uint8Array): number {
  return crcOf(payload, crcOfNumbers([groupId, index, term, time, kind])) >>> 0;
}

export function hardStateCrc(groupId: number, hs: HardState): number {
  return crcOfText(hs.vote, crcOfNumbers([groupId, hs.term, hs.commit])) >>> 0;
}

export function snapshotCrc(groupId: number, index: number, term: number, time: number, config: string, data: Uint8Array): number {
  return crcOf(data, crcOfText(config, crcOfNumbers([groupId, index, term, time]))) >>> 0;
}

export function encodeEntry(groupId: number, e: Entry): EntryRow {
  const kind = KIND[e.kind];
  let payload: Uint8Array;
  switch (e.kind) {
    case 'normal':
      payload = e.data;
      break;
    case 'noop':
      payload = EMPTY;
      break;
    case 'config':
      payload = encoder.encode(JSON.stringify({ change: e.change, config: e.config }));
      break;
  }
  return { group_id: groupId, idx: e.index, term: e.term, time: e.time, kind, payload, crc: entryCrc(groupId, e.index, e.term, e.time, kind, payload) };
}

export function entryRowIntact(row: EntryRow): boolean {
  return entryCrc(row.group_id, row.idx, row.term, row.time, row.kind, row.payload) === row.crc;
}

/** Decodes a row whose CRC has been checked. */
export function decodeEntry(row: EntryRow): Entry {
  const header = { index: row.idx, term: row.term, time: row.time };
  switch (row.kind) {
    case KIND.normal:
      // better-sqlite3 returns a Buffer; hand out a plain Uint8Array view like the core's own.
      return { ...header, kind: 'normal', data: new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength) };
    case KIND.noop:
      return { ...header, kind: 'noop' };
    case KIND.config: {
      const { change, config } = JSON.parse(decoder.decode(row.payload)) as { change: ConfChange; config: ClusterConfig };
      return { ...header, kind: 'config', change, config };
    }
    default:
      throw new Error(`unknown entry kind ${row.kind} at index ${row.idx}`);
  }
}

export function encodeConfig(config: ClusterConfig): string {
  return JSON.stringify({ voters: config.voters, learners: config.learners });
}

export function snapshotMetaOf(row: SnapshotRow): SnapshotMeta {
  return { index: row.idx, term: row.term, time: row.time, config: JSON.parse(row.config) as ClusterConfig };
}

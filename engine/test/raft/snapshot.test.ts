import { describe, expect, it } from 'vitest';
import { checksum } from '../../src/raft/index.js';
import type { Message } from '../../src/raft/index.js';
import { Cluster } from '../harness/cluster.js';
import { Tap, alone, shape } from './helpers.js';

type Chunk = Extract<Message, { type: 'snapshot' }>;
type ChunkAnswer = Extract<Message, { type: 'snapshot-response' }>;

const CHUNK = 32;

/**
 * a leads a, b, c; c is cut off while 20 keys are written, then a compacts its log: c can only
 * catch up through a snapshot of several chunks. The returned cluster is still partitioned.
 */
function lagging(): { c: Cluster; tap: Tap; snapIndex: number } {
  const c = new Cluster(['a', 'b', 'c'], { snapshotChunkBytes: CHUNK });
  const tap = new Tap(c);
  c.elect('a');
  c.tickAll(1);
  tap.inner = alone('c');
  for (let i = 0; i < 20; i++) c.put('a', `key-${i}`, `value-${i}`);
  c.tickAll(1);
  c.compact('a');
  const snapIndex = c.get('a').storage.snapshot().meta.index;
  expect(snapIndex).toBe(c.node('a').raft.log.committed);
  expect(c.node('a').raft.log.firstIndex()).toBe(snapIndex + 1);
  expect(c.node('c').raft.log.lastIndex()).toBeLessThan(snapIndex);
  tap.clear();
  return { c, tap, snapIndex };
}

function chunksTo(tap: Tap, to: string): Chunk[] {
  return tap.of('snapshot', { to });
}

function expectCaughtUp(c: Cluster, snapIndex: number): void {
  expect(c.get('c').storage.snapshot().meta.index).toBe(snapIndex);
  expect(c.get('c').storage.snapshot().data).toEqual(c.get('a').storage.snapshot().data);
  expect(c.get('c').kv).toEqual(c.get('a').kv);
  expect(c.get('c').kv.get('key-19')).toBe('value-19');
  expect(c.node('c').raft.log.committed).toBe(c.node('a').raft.log.committed);
}

describe('log compaction and InstallSnapshot (dissertation chapter 5)', () => {
  it('compaction drops the log prefix; the leader keeps replicating what follows', () => {
    const { c, tap, snapIndex } = lagging();
    const a = c.get('a').storage;
    expect(a.firstIndex()).toBe(snapIndex + 1);
    expect(() => a.entries(snapIndex, snapIndex + 1, Infinity)).toThrow(/compacted/);
    tap.inner = null;
    c.put('a', 'after', 'compaction');
    c.tickAll(1);
    expect(c.get('b').kv.get('after')).toBe('compaction');
  });

  it('a lagging follower catches up through a snapshot sent in several chunks, then through appends', () => {
    const { c, tap, snapIndex } = lagging();
    const total = c.get('a').storage.snapshot().data.length;
    tap.inner = null;
    c.tickAll(3);
    const chunks = chunksTo(tap, 'c');
    const offsets = [...new Set(chunks.map((m) => m.offset))].sort((x, y) => x - y);
    expect(offsets.length).toBe(Math.ceil(total / CHUNK));
    expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i * CHUNK));
    expect(chunks.every((m) => m.meta.index === snapIndex && m.totalBytes === total && m.chunk.length <= CHUNK)).toBe(true);
    expect(tap.of('snapshot-response', { from: 'c' }).some((m) => m.done && m.index === snapIndex)).toBe(true);
    expectCaughtUp(c, snapIndex);
    // The follower continues with ordinary appends after the snapshot.
    c.put('a', 'next', '1');
    c.tickAll(1);
    expect(c.get('c').kv.get('next')).toBe('1');
    expect(shape(c, 'c')).toEqual(shape(c, 'a'));
  });

  it('the follower’s state machine is replaced by the snapshot, not replayed from the log', () => {
    const { c, tap, snapIndex } = lagging();
    const appliedBefore = c.get('c').applied.length;
    tap.inner = null;
    c.tickAll(3);
    // None of the compacted entries were applied one by one on c.
    expect(c.get('c').applied.length).toBe(appliedBefore);
    expect(c.node('c').raft.log.applied).toBe(snapIndex);
  });

  it('a lost chunk is resent and the transfer completes', () => {
    const { c, tap, snapIndex } = lagging();
    let dropped = 0;
    tap.inner = (m) => (m.type === 'snapshot' && m.offset === 2 * CHUNK && dropped++ === 0 ? null : m);
    c.tickAll(3);
    expect(dropped).toBeGreaterThan(1);
    expect(chunksTo(tap, 'c').filter((m) => m.offset === 2 * CHUNK).length).toBeGreaterThanOrEqual(2);
    // The follower asked for the missing chunk by its offset.
    expect(tap.of('snapshot-response', { from: 'c' }).some((m) => m.reject && m.nextOffset === 2 * CHUNK)).toBe(true);
    expectCaughtUp(c, snapIndex);
  });

  it('a lost last chunk (nothing after it to reveal the gap) is resent once the transfer stalls', () => {
    const { c, tap, snapIndex } = lagging();
    const total = c.get('a').storage.snapshot().data.length;
    const lastOffset = Math.floor((total - 1) / CHUNK) * CHUNK;
    let dropped = 0;
    tap.inner = (m) => (m.type === 'snapshot' && m.offset === lastOffset && dropped++ === 0 ? null : m);
    c.tickAll(6);
    expect(chunksTo(tap, 'c').filter((m) => m.offset === lastOffset).length).toBeGreaterThanOrEqual(2);
    expectCaughtUp(c, snapIndex);
  });

  it('a corrupted chunk is rejected (its checksum fails) and resent', () => {
    const { c, tap, snapIndex } = lagging();
    let corrupted = false;
    tap.inner = (m) => {
      if (m.type !== 'snapshot' || m.offset !== CHUNK || corrupted) return m;
      corrupted = true;
      const chunk = Uint8Array.from(m.chunk);
      chunk[5] = (chunk[5] ?? 0) ^ 0x20;
      return { ...m, chunk };
    };
    c.tickAll(3);
    expect(corrupted).toBe(true);
    const answers = tap.of('snapshot-response', { from: 'c' });
    const reject = answers.find((m) => m.reject);
    expect(reject?.nextOffset).toBe(CHUNK);
    expect(chunksTo(tap, 'c').filter((m) => m.offset === CHUNK).length).toBeGreaterThanOrEqual(2);
    expectCaughtUp(c, snapIndex);
  });

  it('corruption that passes the chunk checksum is caught by the whole-snapshot checksum, and never installed', () => {
    const { c, tap, snapIndex } = lagging();
    const good = c.get('a').storage.snapshot().data;
    let corrupted = false;
    tap.inner = (m) => {
      if (m.type !== 'snapshot' || m.offset !== CHUNK || corrupted) return m;
      corrupted = true;
      const chunk = Uint8Array.from(m.chunk);
      chunk[0] = (chunk[0] ?? 0) ^ 0x01;
      // Rewritten consistently: the chunk's own checksum matches its (wrong) bytes.
      return { ...m, chunk, chunkChecksum: checksum(chunk) };
    };
    const installs: number[] = [];
    const check = (): void => {
      const snap = c.get('c').storage.snapshot();
      if (snap.meta.index > 0 && !installs.includes(snap.meta.index)) {
        installs.push(snap.meta.index);
        expect(snap.data).toEqual(good);
      }
    };
    for (let i = 0; i < 4; i++) {
      c.tickAll(1);
      check();
    }
    expect(corrupted).toBe(true);
    const answers = tap.of('snapshot-response', { from: 'c' });
    expect(answers.some((m: ChunkAnswer) => m.reject && m.nextOffset === 0)).toBe(true);
    expect(chunksTo(tap, 'c').filter((m) => m.offset === 0).length).toBeGreaterThanOrEqual(2);
    expectCaughtUp(c, snapIndex);
  });

  it('a tampered whole-snapshot checksum is detected on the last chunk and the transfer restarts', () => {
    const { c, tap, snapIndex } = lagging();
    let tampered = false;
    tap.inner = (m) => {
      if (m.type !== 'snapshot' || m.offset + m.chunk.length !== m.totalBytes || tampered) return m;
      tampered = true;
      return { ...m, checksum: (m.checksum ^ 0xdeadbeef) >>> 0 };
    };
    c.tickAll(3);
    expect(tampered).toBe(true);
    expect(tap.of('snapshot-response', { from: 'c' }).some((m) => m.reject && m.nextOffset === 0)).toBe(true);
    expectCaughtUp(c, snapIndex);
  });
});

describe('snapshots and membership', () => {
  it('a snapshot taken while a membership change is in flight carries the config at its index; the follower ends with the latest config', () => {
    const c = new Cluster(['a', 'b', 'c'], { snapshotChunkBytes: 64 });
    c.addEmpty('d');
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = alone('c');
    c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' });
    c.stabilize();
    for (let i = 0; i < 5; i++) c.put('a', `k${i}`, String(i));
    c.tickAll(1);
    // The promotion is appended (and in force on a) but not committed: acks to a are lost.
    tap.inner = (m) => (m.from === 'c' || m.to === 'c' || (m.to === 'a' && m.type === 'append-response') ? null : m);
    const promote = c.node('a').proposeConfChange({ type: 'promote', node: 'd' });
    c.stabilize();
    const a = c.node('a').status();
    expect(a.commit).toBeLessThan(promote.index);
    expect(a.config).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    c.compact('a');
    const meta = c.get('a').storage.snapshot().meta;
    expect(meta.index).toBeLessThan(promote.index);
    expect(meta.config).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });

    tap.inner = null;
    tap.clear();
    c.tickAll(5);
    expect(chunksTo(tap, 'c').length).toBeGreaterThan(0);
    expect(c.get('c').storage.snapshot().meta.config).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(c.node('a').raft.log.committed).toBeGreaterThanOrEqual(promote.index);
    for (const id of ['a', 'b', 'c', 'd']) {
      expect(c.node(id).status().config, id).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    }
    // And after a restart, c rebuilds the same config from its snapshot plus its log.
    c.crash('c');
    expect(c.restart('c').node.status().config).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
  });

  it('a learner added after compaction catches up through a snapshot that predates it, and learns its role', () => {
    const c = new Cluster(['a', 'b', 'c'], { snapshotChunkBytes: 64 });
    c.elect('a');
    for (let i = 0; i < 5; i++) c.put('a', `k${i}`, String(i));
    c.tickAll(1);
    c.compact('a');
    c.addEmpty('d', { snapshotChunkBytes: 64 });
    c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' });
    c.tickAll(3);
    expect(c.get('d').storage.snapshot().meta.config).toEqual({ voters: ['a', 'b', 'c'], learners: [] });
    expect(c.node('d').status().config).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(c.get('d').kv).toEqual(c.get('a').kv);
  });
});

describe('restart from a snapshot plus log', () => {
  it('a restarted member restores its state machine from its snapshot and re-applies the log after it', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 6; i++) c.put('a', `k${i}`, String(i));
    c.tickAll(1);
    c.compact('b');
    const snapIndex = c.get('b').storage.snapshot().meta.index;
    for (let i = 6; i < 10; i++) c.put('a', `k${i}`, String(i));
    c.put('a', 'k0', 'overwritten');
    c.tickAll(1);
    const commit = c.node('b').raft.log.committed;
    expect(commit).toBeGreaterThan(snapIndex);
    c.crash('b');
    const b = c.restart('b');
    expect(b.node.status().firstIndex).toBe(snapIndex + 1);
    expect(b.node.status().commit).toBe(commit);
    c.stabilize();
    expect(b.applied.map((e) => e.index)).toEqual(Array.from({ length: commit - snapIndex }, (_, i) => snapIndex + 1 + i));
    expect(b.kv).toEqual(c.get('a').kv);
    expect(b.kv.get('k0')).toBe('overwritten');
    expect(b.kv.get('k9')).toBe('9');
  });

  it('a member restarted from a snapshot received from the leader keeps it and keeps following', () => {
    const { c, tap, snapIndex } = lagging();
    tap.inner = null;
    c.tickAll(3);
    c.crash('c');
    const restarted = c.restart('c', { snapshotChunkBytes: CHUNK });
    expect(restarted.node.status().firstIndex).toBe(snapIndex + 1);
    expect(restarted.kv.get('key-19')).toBe('value-19');
    c.put('a', 'later', 'x');
    c.tickAll(2);
    expect(restarted.kv.get('later')).toBe('x');
    expect(restarted.kv).toEqual(c.get('a').kv);
  });
});

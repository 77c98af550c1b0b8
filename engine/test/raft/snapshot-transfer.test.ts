import { describe, expect, it } from 'vitest';
import { Random } from '../../src/raft/index.js';
import type { Snapshot } from '../../src/raft/index.js';
import { SnapshotReceiver, SnapshotSender, checksum } from '../../src/raft/snapshot-transfer.js';
import type { SnapshotChunk } from '../../src/raft/snapshot-transfer.js';

const META = { index: 42, term: 7, time: 1000, config: { voters: ['a', 'b', 'c'], learners: [] } };

function bytes(n: number, seed = 1): Uint8Array {
  const r = new Random(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(0, 255);
  return out;
}

function snap(n: number, meta = META): Snapshot {
  return { meta, data: bytes(n) };
}

describe('checksum', () => {
  it('is CRC-32 (IEEE), as an unsigned 32-bit number', () => {
    expect(checksum(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(checksum(new Uint8Array())).toBe(0);
    expect(checksum(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBeGreaterThan(0);
  });
});

describe('SnapshotSender: streams chunks within a window', () => {
  it('sends at most `window` chunks of `chunkBytes`, each with its own and the whole checksum', () => {
    const s = snap(100);
    const sender = new SnapshotSender(s, 16, 3);
    const chunks = sender.nextChunks();
    expect(chunks.map((c) => c.offset)).toEqual([0, 16, 32]);
    for (const c of chunks) {
      expect(c.chunk).toEqual(s.data.subarray(c.offset, c.offset + 16));
      expect(c.chunkChecksum).toBe(checksum(c.chunk));
      expect(c.checksum).toBe(checksum(s.data));
      expect(c.totalBytes).toBe(100);
      expect(c.meta).toEqual(META);
    }
    // The window is full until the follower acknowledges.
    expect(sender.nextChunks()).toEqual([]);
  });

  it('an acknowledgement slides the window; the last chunk is short and ends the stream', () => {
    const sender = new SnapshotSender(snap(100), 16, 3);
    sender.nextChunks();
    sender.ack(32);
    expect(sender.nextChunks().map((c) => c.offset)).toEqual([48, 64]);
    sender.ack(80);
    const tail = sender.nextChunks();
    expect(tail.map((c) => [c.offset, c.chunk.length])).toEqual([
      [80, 16],
      [96, 4],
    ]);
    sender.ack(100);
    expect(sender.nextChunks()).toEqual([]);
  });

  it('an empty snapshot is still sent, as one empty chunk', () => {
    const sender = new SnapshotSender(snap(0), 16, 3);
    const chunks = sender.nextChunks();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.chunk.length).toBe(0);
    expect(chunks[0]?.totalBytes).toBe(0);
    expect(sender.nextChunks()).toEqual([]);
  });

  it('rewind resends from the offset the follower asks for', () => {
    const sender = new SnapshotSender(snap(100), 16, 2);
    sender.nextChunks();
    sender.rewind(16);
    expect(sender.nextChunks().map((c) => c.offset)).toEqual([16, 32]);
  });

  it('a stall (no acknowledgement between two checks) resends from the acknowledged offset', () => {
    const sender = new SnapshotSender(snap(100), 16, 2);
    sender.nextChunks();
    expect(sender.resendIfStalled()).toBe(false); // progress was made (the start)
    expect(sender.resendIfStalled()).toBe(true);
    expect(sender.nextChunks().map((c) => c.offset)).toEqual([0, 16]);
    sender.ack(16);
    expect(sender.resendIfStalled()).toBe(false);
  });

  it('an acknowledgement beyond what was sent (the follower had more) skips ahead', () => {
    const sender = new SnapshotSender(snap(100), 16, 2);
    sender.nextChunks();
    sender.ack(64);
    expect(sender.nextChunks().map((c) => c.offset)).toEqual([64, 80]);
  });
});

describe('SnapshotReceiver: accepts chunks strictly in order and checks them', () => {
  it('assembles the snapshot and completes on the last chunk', () => {
    const s = snap(50);
    const rx = new SnapshotReceiver();
    const sender = new SnapshotSender(s, 16, 10);
    const results = sender.nextChunks().map((c) => rx.accept(c));
    expect(results.slice(0, 3)).toEqual([
      { kind: 'more', nextOffset: 16 },
      { kind: 'more', nextOffset: 32 },
      { kind: 'more', nextOffset: 48 },
    ]);
    const last = results[3];
    expect(last?.kind).toBe('complete');
    if (last?.kind === 'complete') {
      expect(last.snapshot.meta).toEqual(META);
      expect(last.snapshot.data).toEqual(s.data);
    }
  });

  it('rejects a chunk past a gap, asking for the first missing byte', () => {
    const [c0, , c2] = new SnapshotSender(snap(64), 16, 4).nextChunks() as SnapshotChunk[];
    const rx = new SnapshotReceiver();
    expect(rx.accept(c0 as SnapshotChunk)).toEqual({ kind: 'more', nextOffset: 16 });
    const r = rx.accept(c2 as SnapshotChunk);
    expect(r.kind).toBe('reject');
    expect(r.kind === 'reject' && r.nextOffset).toBe(16);
  });

  it('rejects a duplicate of an earlier chunk, asking for where it is', () => {
    const [c0, c1] = new SnapshotSender(snap(64), 16, 4).nextChunks() as SnapshotChunk[];
    const rx = new SnapshotReceiver();
    rx.accept(c0 as SnapshotChunk);
    rx.accept(c1 as SnapshotChunk);
    const r = rx.accept(c0 as SnapshotChunk);
    expect(r.kind === 'reject' && r.nextOffset).toBe(32);
  });

  it('rejects a corrupted chunk (its checksum fails) and accepts the intact resend', () => {
    const [c0, c1] = new SnapshotSender(snap(64), 16, 4).nextChunks() as SnapshotChunk[];
    const rx = new SnapshotReceiver();
    rx.accept(c0 as SnapshotChunk);
    const flipped = Uint8Array.from((c1 as SnapshotChunk).chunk);
    flipped[3] = (flipped[3] ?? 0) ^ 0x01;
    const r = rx.accept({ ...(c1 as SnapshotChunk), chunk: flipped });
    expect(r.kind).toBe('reject');
    expect(r.kind === 'reject' && r.nextOffset).toBe(16);
    expect(rx.accept(c1 as SnapshotChunk)).toEqual({ kind: 'more', nextOffset: 32 });
  });

  it('rejects a middle chunk of a transfer it knows nothing about, asking to start over', () => {
    const [, c1] = new SnapshotSender(snap(64), 16, 4).nextChunks() as SnapshotChunk[];
    const r = new SnapshotReceiver().accept(c1 as SnapshotChunk);
    expect(r.kind === 'reject' && r.nextOffset).toBe(0);
  });

  it('detects a whole-snapshot checksum mismatch on the last chunk, and starts over', () => {
    const chunks = new SnapshotSender(snap(40), 16, 4).nextChunks();
    const rx = new SnapshotReceiver();
    rx.accept(chunks[0] as SnapshotChunk);
    rx.accept(chunks[1] as SnapshotChunk);
    const last = chunks[2] as SnapshotChunk;
    const r = rx.accept({ ...last, checksum: (last.checksum + 1) >>> 0 });
    expect(r.kind).toBe('reject');
    expect(r.kind === 'reject' && r.nextOffset).toBe(0);
    // The partial data was discarded: the transfer has to restart from 0.
    expect(rx.accept(chunks[1] as SnapshotChunk).kind).toBe('reject');
    for (const c of chunks.slice(0, 2)) rx.accept(c);
    expect(rx.accept(last).kind).toBe('complete');
  });

  it('a chunk claiming fewer total bytes than were received is rejected', () => {
    const chunks = new SnapshotSender(snap(32), 16, 4).nextChunks();
    const rx = new SnapshotReceiver();
    rx.accept({ ...(chunks[0] as SnapshotChunk), totalBytes: 20 });
    const r = rx.accept({ ...(chunks[1] as SnapshotChunk), totalBytes: 20 });
    expect(r.kind).toBe('reject');
  });

  it('the first chunk of a newer snapshot replaces a transfer in progress', () => {
    const older = new SnapshotSender(snap(48), 16, 4).nextChunks();
    const newerSnap = { meta: { ...META, index: 50 }, data: bytes(20, 9) };
    const newer = new SnapshotSender(newerSnap, 16, 4).nextChunks();
    const rx = new SnapshotReceiver();
    rx.accept(older[0] as SnapshotChunk);
    expect(rx.accept(newer[0] as SnapshotChunk)).toEqual({ kind: 'more', nextOffset: 16 });
    const r = rx.accept(newer[1] as SnapshotChunk);
    expect(r.kind).toBe('complete');
    expect(r.kind === 'complete' && r.snapshot.data).toEqual(newerSnap.data);
  });
});

describe('sender and receiver over a lossy, corrupting link', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('the transfer completes with the exact bytes (seed %i)', (seed) => {
    const r = new Random(seed);
    const s = { meta: META, data: bytes(1000, seed) };
    const sender = new SnapshotSender(s, 64, 4);
    const rx = new SnapshotReceiver();
    let done: Snapshot | null = null;
    let rounds = 0;
    let queue = sender.nextChunks();
    while (done === null) {
      if (++rounds > 2000) throw new Error('transfer did not complete');
      let progressed = false;
      for (const c of queue) {
        if (r.chance(0.2)) continue; // lost
        const sent = r.chance(0.1) ? { ...c, chunk: c.chunk.map((b, i) => (i === 0 ? b ^ 0xff : b)) } : c;
        const res = rx.accept(sent);
        progressed = true;
        if (res.kind === 'complete') done = res.snapshot;
        else if (res.kind === 'reject') sender.rewind(res.nextOffset);
        else sender.ack(res.nextOffset);
      }
      if (!progressed) sender.resendIfStalled();
      queue = sender.nextChunks();
      if (queue.length === 0 && done === null && sender.resendIfStalled()) queue = sender.nextChunks();
    }
    expect(done.data).toEqual(s.data);
    expect(done.meta).toEqual(META);
  });
});

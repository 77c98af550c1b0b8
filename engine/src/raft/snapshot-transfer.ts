/**
 * InstallSnapshot in chunks. The leader streams a snapshot to one follower with a bounded
 * window of chunks in flight; the follower accepts chunks strictly in order, checks each
 * chunk's CRC-32 and the whole snapshot's, and tells the leader the offset it expects next, so
 * a lost or corrupted chunk costs a resend from that offset, not the whole transfer.
 */
import { crc32 } from 'node:zlib';
import type { Snapshot, SnapshotChunk, SnapshotMeta } from './types.js';

export type { SnapshotChunk };

export function checksum(data: Uint8Array): number {
  return crc32(data) >>> 0;
}

/** The leader's side of one transfer. */
export class SnapshotSender {
  readonly checksum: number;
  /** Next byte offset to send. */
  private sendOffset = 0;
  /** Highest offset the follower confirmed. */
  private ackedOffset = 0;
  /** Whether anything was acknowledged since the last stall check. */
  private progressed = true;
  /** The last chunk has been sent (and not rewound since). */
  private sentAll = false;

  constructor(
    readonly snapshot: Snapshot,
    private readonly chunkBytes: number,
    private readonly window: number,
  ) {
    this.checksum = checksum(snapshot.data);
  }

  get index(): number {
    return this.snapshot.meta.index;
  }

  /** The chunks that may be sent now, within the window, advancing the send offset. */
  nextChunks(): SnapshotChunk[] {
    const out: SnapshotChunk[] = [];
    const total = this.snapshot.data.length;
    const limit = this.ackedOffset + this.window * this.chunkBytes;
    // `sentAll` rather than `sendOffset < total`: an empty snapshot is still one (empty) chunk.
    while (!this.sentAll && this.sendOffset < limit) {
      const end = Math.min(total, this.sendOffset + this.chunkBytes);
      const chunk = this.snapshot.data.subarray(this.sendOffset, end);
      out.push({
        meta: this.snapshot.meta,
        offset: this.sendOffset,
        chunk,
        totalBytes: total,
        chunkChecksum: checksum(chunk),
        checksum: this.checksum,
      });
      this.sendOffset = end;
      this.sentAll = end === total;
    }
    return out;
  }

  /** The follower has everything before `nextOffset`. */
  ack(nextOffset: number): void {
    if (nextOffset > this.ackedOffset) {
      this.ackedOffset = nextOffset;
      this.progressed = true;
    }
    if (this.sendOffset < this.ackedOffset) {
      this.sendOffset = this.ackedOffset;
      this.sentAll = false;
    }
  }

  /** The follower wants bytes from `nextOffset` again (a chunk was lost, corrupted or reordered). */
  rewind(nextOffset: number): void {
    this.ackedOffset = Math.min(nextOffset, this.snapshot.data.length);
    this.sendOffset = this.ackedOffset;
    this.sentAll = false;
    this.progressed = true;
  }

  /**
   * Called once per heartbeat interval: if nothing was acknowledged since the previous call,
   * the chunks in flight are presumed lost and are sent again from the acknowledged offset.
   */
  resendIfStalled(): boolean {
    if (this.progressed) {
      this.progressed = false;
      return false;
    }
    this.sendOffset = this.ackedOffset;
    this.sentAll = false;
    return true;
  }
}

export type ReceiveResult =
  | { readonly kind: 'more'; readonly nextOffset: number }
  | { readonly kind: 'reject'; readonly nextOffset: number; readonly reason: string }
  | { readonly kind: 'complete'; readonly snapshot: Snapshot };

/** The follower's side: assembles one snapshot in memory. */
export class SnapshotReceiver {
  private meta: SnapshotMeta | null = null;
  private parts: Uint8Array[] = [];
  private received = 0;

  accept(c: SnapshotChunk): ReceiveResult {
    const same = this.meta !== null && this.meta.index === c.meta.index && this.meta.term === c.meta.term;
    if (!same) {
      if (c.offset !== 0) return { kind: 'reject', nextOffset: 0, reason: 'chunk of an unknown transfer' };
      this.meta = c.meta;
      this.parts = [];
      this.received = 0;
    }
    if (c.offset !== this.received) {
      return { kind: 'reject', nextOffset: this.received, reason: `expected offset ${this.received}, got ${c.offset}` };
    }
    if (checksum(c.chunk) !== c.chunkChecksum) {
      return { kind: 'reject', nextOffset: this.received, reason: `chunk at ${c.offset} failed its checksum` };
    }
    this.parts.push(c.chunk);
    this.received += c.chunk.length;
    if (this.received < c.totalBytes) return { kind: 'more', nextOffset: this.received };
    const data = concat(this.parts, this.received);
    this.reset();
    if (data.length !== c.totalBytes || checksum(data) !== c.checksum) {
      return { kind: 'reject', nextOffset: 0, reason: 'snapshot failed its checksum' };
    }
    return { kind: 'complete', snapshot: { meta: c.meta, data } };
  }

  reset(): void {
    this.meta = null;
    this.parts = [];
    this.received = 0;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

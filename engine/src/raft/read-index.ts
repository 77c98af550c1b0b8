/**
 * Linearizable reads by ReadIndex (dissertation, section 6.4). The leader records its commit
 * index for each read, then confirms it is still the leader by a round of heartbeats: once a
 * majority of voters has answered a heartbeat sent after the read arrived, no newer leader can
 * have committed anything the read would miss, and the read may be served as soon as the state
 * machine has applied the recorded index.
 *
 * Heartbeats carry a round number; a read registered in round r is confirmed once a quorum has
 * acknowledged some round >= r. Rounds only grow, so confirmation is a prefix of the queue.
 */
import { hasQuorum } from './quorum.js';
import type { NodeId } from './types.js';

export interface PendingRead {
  readonly context: string;
  readonly index: number;
  /** Who asked: the leader itself, or a follower that forwarded the read. */
  readonly from: NodeId;
  readonly round: number;
}

export class ReadIndexQueue {
  private round = 0;
  /** The highest round put on a heartbeat so far. */
  private lastBroadcast = 0;
  private readonly queue: PendingRead[] = [];
  private readonly acked = new Map<NodeId, number>();

  /** Registers a read at `index`; returns the round whose heartbeats must confirm it. */
  add(context: string, index: number, from: NodeId): number {
    // Reads that arrive before the next heartbeat round share it: one round confirms them all.
    const round = this.round > this.lastBroadcast ? this.round : ++this.round;
    this.queue.push({ context, index, from, round });
    return round;
  }

  /** The round to put on the next heartbeat (0 when no read waits). */
  roundToBroadcast(): number {
    if (this.queue.length === 0) return 0;
    this.lastBroadcast = this.round;
    return this.round;
  }

  /** Records an acknowledgement; returns the reads now confirmed, in order. */
  ack(from: NodeId, round: number, self: NodeId, voters: readonly NodeId[]): PendingRead[] {
    if (round > (this.acked.get(from) ?? 0)) this.acked.set(from, round);
    return this.release(self, voters);
  }

  /** Reads confirmed by the current acknowledgements (also used when the voter set changes). */
  release(self: NodeId, voters: readonly NodeId[]): PendingRead[] {
    const done: PendingRead[] = [];
    while (this.queue.length > 0) {
      const head = this.queue[0] as PendingRead;
      const confirmed = hasQuorum(voters, (id) => id === self || (this.acked.get(id) ?? 0) >= head.round);
      if (!confirmed) break;
      done.push(this.queue.shift() as PendingRead);
    }
    return done;
  }

  pending(): number {
    return this.queue.length;
  }

  /** Leadership was lost: every pending read is abandoned (clients retry on a new leader). */
  clear(): void {
    this.queue.length = 0;
    this.acked.clear();
    this.round = 0;
    this.lastBroadcast = 0;
  }
}

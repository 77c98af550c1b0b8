/**
 * The leader's view of one follower's replication: how far its log matches, what to send next,
 * and the window of append messages in flight (pipelining with a bound).
 *
 * States, as in etcd's tracker:
 *  - probe: we do not know where the logs match; send one append at a time and wait.
 *  - replicate: logs match up to `match`; stream appends optimistically, up to the window.
 *  - snapshot: the follower needs entries we compacted; a snapshot transfer is under way.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  state: ProgressState = 'probe';
  match = 0;
  next: number;
  /** In probe state: an append was sent and no answer came yet. */
  probeSent = false;
  /** Whether we heard from this member since the last check-quorum round. */
  recentActive = false;
  /** Index of the snapshot being sent, in snapshot state. */
  pendingSnapshot = 0;
  /** Last index of each append in flight, oldest first. */
  private inflight: number[] = [];

  constructor(
    next: number,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
      this.pendingSnapshot = 0;
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.inflight = [];
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight = [];
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.inflight = [];
  }

  /** No append may be sent now: waiting on a probe, a full window, or a snapshot. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
      default: {
        const never: never = this.state;
        return never;
      }
    }
  }

  /** Records that an append ending at `lastIndex` was sent. */
  sentEntries(lastIndex: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflight.push(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** A successful append response for `index`. Returns false when it tells us nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflight.length > 0 && (this.inflight[0] as number) <= index) this.inflight.shift();
    return updated;
  }

  /**
   * A rejection of the append at `rejected` (its prevIndex), with the follower's hint of where
   * the logs may match. Returns false for a stale rejection that should be ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * Frees the oldest slot of a full window. Called when the follower answers a heartbeat: it
   * is alive, so if its window stays full the appends in flight were probably lost, and one
   * more append (which it will reject if it has a gap) restarts replication.
   */
  freeFirstOne(): void {
    if (this.state === 'replicate' && this.inflight.length >= this.maxInflight) this.inflight.shift();
  }

  inflightCount(): number {
    return this.inflight.length;
  }
}

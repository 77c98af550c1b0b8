/**
 * The driver's handle on one Raft member: inputs go in (tick, step, propose, read), and work
 * comes out as Ready batches, each acknowledged with advance() once done.
 */
import { RaftInvariantError } from './log.js';
import { Raft } from './raft.js';
import type { RaftOptions, RaftStatus } from './raft.js';
import type { ConfChange, HardState, Message, NodeId, Ready, SoftState } from './types.js';

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RawNode {
  readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Ready | null = null;

  constructor(options: RaftOptions) {
    this.raft = new Raft(options);
    this.prevHard = options.storage.hardState();
    this.prevSoft = this.softState();
  }

  tick(now?: number): void {
    this.raft.tick(now);
  }

  observeClock(now: number): void {
    this.raft.observeClock(now);
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  campaign(): void {
    this.raft.campaign();
  }

  propose(data: Uint8Array): { index: number; term: number } {
    return this.raft.propose([data]);
  }

  proposeBatch(data: readonly Uint8Array[]): { index: number; term: number } {
    return this.raft.propose(data);
  }

  proposeConfChange(change: ConfChange): { index: number; term: number } {
    return this.raft.proposeConfChange(change);
  }

  readIndex(context: string): void {
    this.raft.readIndex(context);
  }

  transferLeadership(target: NodeId): void {
    this.raft.transferLeadership(target);
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  hasReady(): boolean {
    const r = this.raft;
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.hasPendingBroadcast() ||
      r.log.unstableEntries().length > 0 ||
      r.log.unstableSnapshot() !== null ||
      r.log.hasNextCommitted() ||
      !sameHardState(this.hardState(), this.prevHard) ||
      this.softChanged()
    );
  }

  /** The next batch of work. Call advance() with it before asking for another. */
  ready(): Ready {
    if (this.outstanding !== null) throw new RaftInvariantError('ready() called again before advance()');
    const r = this.raft;
    r.flush();
    const hard = this.hardState();
    const soft = this.softState();
    const rd: Ready = {
      softState: this.softChanged() ? soft : null,
      hardState: sameHardState(hard, this.prevHard) ? null : hard,
      snapshot: r.log.unstableSnapshot(),
      entries: [...r.log.unstableEntries()],
      messages: r.msgs,
      committedEntries: r.log.nextCommitted(r.maxApplyBytes()),
      readStates: r.readStates,
    };
    r.msgs = [];
    r.readStates = [];
    this.outstanding = rd;
    return rd;
  }

  /** The driver persisted, sent and applied `rd` as its contract says. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new RaftInvariantError('advance() with a Ready that is not the outstanding one');
    this.outstanding = null;
    const r = this.raft;
    if (rd.snapshot) {
      r.log.stableSnapshotTo(rd.snapshot.meta.index);
      r.log.appliedTo(rd.snapshot.meta.index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry) r.onStable(lastEntry.index, lastEntry.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) r.log.appliedTo(lastApplied.index);
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.softState) this.prevSoft = rd.softState;
  }

  private hardState(): HardState {
    const r = this.raft;
    return { term: r.term, vote: r.vote, commit: r.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }

  private softChanged(): boolean {
    return this.raft.leader !== this.prevSoft.leader || this.raft.role !== this.prevSoft.role;
  }
}

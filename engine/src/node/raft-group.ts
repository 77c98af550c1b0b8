/**
 * One Raft group on this node: the core (RawNode), its durable log, its state machine, and the
 * callers waiting on it (proposals waiting to be applied, reads waiting for a read index).
 *
 * The group does no I/O scheduling of its own: the NodeHost collects Ready batches of all its
 * groups, persists them in one transaction, and hands each back through `afterPersist`.
 */
import type { Logger } from 'pino';
import { ProposalDroppedError, RaftError, RawNode, isMember } from '../raft/index.js';
import type { ClusterConfig, ConfChange, Entry, Message, NodeId, RaftStatus, Ready, Snapshot } from '../raft/index.js';
import type { GroupLog } from '../storage/index.js';
import {
  TAG_MEMBER_ADDRESS,
  decodeCommand,
  decodeHostSnapshot,
  encodeHostSnapshot,
  encodeMemberAddress,
  encodeStateMachineCommand,
} from './commands.js';
import { NodeError } from './errors.js';
import type { AppliedCommand, StateMachine } from './state-machine.js';

export interface GroupOptions {
  readonly groupId: number;
  readonly selfId: NodeId;
  readonly log: GroupLog;
  readonly stateMachine: StateMachine;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Take a snapshot and compact the log once this many entries were applied since the last. */
  readonly snapshotEntries: number;
  /** Withhold votes and campaigns until the commit index reaches this (0 = no fence). */
  readonly recoveryFence: number;
  readonly logger: Logger;
  /** Ask the host to process this group's Ready soon. */
  readonly wake: () => void;
  /** Persist a higher commit index before the core starts (see the constructor). */
  readonly raiseCommit: (commit: number) => void;
  readonly events: GroupEvents;
}

/** What a group tells its host about (the host turns these into logs and metrics). */
export interface GroupEvents {
  leaderChanged(groupId: number, leader: NodeId | null, term: number): void;
  snapshotCreated(groupId: number, index: number, bytes: number): void;
  snapshotInstalled(groupId: number, index: number): void;
  fenceCleared(groupId: number, fence: number): void;
  compact(groupId: number, index: number, config: ClusterConfig, data: Uint8Array): void;
}

interface PendingProposal {
  readonly term: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface PendingRead {
  /** Set once the leader confirmed a read index. */
  index: number | null;
  readonly resolve: (appliedIndex: number) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class RaftGroup {
  readonly id: number;
  readonly node: RawNode;
  readonly log: GroupLog;
  readonly stateMachine: StateMachine;
  /** Member id → address, as registered through the log (see commands.ts). */
  readonly addresses = new Map<NodeId, string>();
  private applied: number;
  /** The configuration as of `applied` (the core's own may be ahead: it takes effect on append). */
  private appliedConfig: ClusterConfig;
  private snapshotIndex: number;
  private fence: number;
  private readonly pending = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  private leader: NodeId | null = null;

  constructor(private readonly options: GroupOptions) {
    this.id = options.groupId;
    this.log = options.log;
    this.stateMachine = options.stateMachine;
    this.fence = options.recoveryFence;
    // The state machine is rebuilt at start: restored from the latest snapshot, then the
    // committed entries after it are applied again as the core hands them out. A durable state
    // machine that is already past the snapshot keeps its state, and only what it lacks is
    // replayed.
    const snap = options.log.snapshot();
    const durable = options.stateMachine.appliedIndex?.() ?? 0;
    let applied = snap.meta.index;
    this.appliedConfig = snap.meta.config;
    if (durable > snap.meta.index && durable <= options.log.lastIndex()) {
      this.restoreAddresses(snap);
      applied = durable;
      // The entries it holds are not replayed: take what the host keeps from them from the log.
      for (const e of options.log.entries(snap.meta.index + 1, durable + 1, Number.MAX_SAFE_INTEGER)) {
        if (e.kind === 'config') this.appliedConfig = e.config;
        else if (e.kind === 'normal' && e.data[0] === TAG_MEMBER_ADDRESS) {
          const cmd = decodeCommand(e.data);
          if (cmd.tag === TAG_MEMBER_ADDRESS) this.addresses.set(cmd.member, cmd.address);
        }
      }
      // Its applied index can be ahead of the durable commit index (commit-only batches are
      // not fsynced): what was applied was committed, so say so before the core starts.
      if (durable > options.log.hardState().commit) options.raiseCommit(durable);
    } else {
      this.restore(snap);
    }
    this.applied = applied;
    this.snapshotIndex = snap.meta.index;
    this.node = new RawNode({
      id: options.selfId,
      storage: options.log,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      applied,
      // Different per process start, so that members restarted together do not tie forever.
      randomSeed: (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0,
    });
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get recoveryFence(): number {
    return this.fence;
  }

  get currentSnapshotIndex(): number {
    return this.snapshotIndex;
  }

  status(): RaftStatus {
    return this.node.status();
  }

  isLeader(): boolean {
    return this.node.raft.role === 'leader';
  }

  leaderId(): NodeId | null {
    return this.node.raft.leader;
  }

  // ---- proposals ---------------------------------------------------------------------------

  /** Replicates a state machine command; resolves with its result once applied here. */
  propose(command: Uint8Array, timeoutMs: number): Promise<unknown> {
    return this.proposeRaw(encodeStateMachineCommand(command), timeoutMs);
  }

  /** Records a member's address in the group's log (no-op if already recorded). */
  async registerAddress(member: NodeId, address: string, timeoutMs: number): Promise<void> {
    if (this.addresses.get(member) === address) return;
    await this.proposeRaw(encodeMemberAddress(member, address), timeoutMs);
  }

  private proposeRaw(data: Uint8Array, timeoutMs: number): Promise<unknown> {
    return this.track(() => this.node.propose(data), timeoutMs);
  }

  /** Appends a membership change; resolves with its index once applied here. */
  proposeConfChange(change: ConfChange, timeoutMs: number): Promise<number> {
    return this.track(() => this.node.proposeConfChange(change), timeoutMs).then((r) => r as number);
  }

  private track(append: () => { index: number; term: number }, timeoutMs: number): Promise<unknown> {
    try {
      return this.trackAt(append, timeoutMs).done;
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Replicates a state machine command and says at once where it went in the log: `done`
   * resolves with its result once applied here. Throws (NOT_LEADER, ...) if it was refused.
   */
  proposeTracked(command: Uint8Array, timeoutMs: number): { index: number; term: number; done: Promise<unknown> } {
    return this.trackAt(() => this.node.propose(encodeStateMachineCommand(command)), timeoutMs);
  }

  private trackAt(append: () => { index: number; term: number }, timeoutMs: number): { index: number; term: number; done: Promise<unknown> } {
    let at: { index: number; term: number };
    try {
      at = append();
    } catch (err) {
      throw this.translate(err);
    }
    this.options.wake();
    const done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(at.index);
        reject(new NodeError('TIMEOUT', `not applied within ${timeoutMs} ms; the write may or may not take effect`));
      }, timeoutMs);
      this.pending.set(at.index, { term: at.term, resolve, reject, timer });
    });
    return { index: at.index, term: at.term, done };
  }

  /** Maps the core's refusals to NodeErrors that tell the caller what to do. */
  translate(err: unknown): Error {
    if (err instanceof ProposalDroppedError) {
      if (err.code === 'NOT_LEADER') {
        const hint = err.leaderHint;
        return new NodeError('NOT_LEADER', `not the leader of group ${this.id}`, hint, hint === null ? null : (this.addresses.get(hint) ?? null));
      }
      return new NodeError('UNAVAILABLE', `group ${this.id}: leadership transfer in progress; retry shortly`);
    }
    if (err instanceof RaftError) {
      if (err.code === 'CONF_CHANGE_PENDING' || err.code === 'LEADER_NOT_READY') return new NodeError('UNAVAILABLE', err.message);
      if (err.code === 'CONF_CHANGE_INVALID' || err.code === 'INVALID_ARGUMENT') return new NodeError('FAILED_PRECONDITION', err.message);
      if (err.code === 'NOT_LEADER') return new NodeError('NOT_LEADER', err.message, this.leader, this.leader ? (this.addresses.get(this.leader) ?? null) : null);
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  // ---- reads -------------------------------------------------------------------------------

  /**
   * Waits until a read at this replica is linearizable: the leader confirmed with a quorum
   * that it still leads (ReadIndex) and this replica applied up to that index. Resolves with
   * the applied index; the caller then reads the state machine synchronously.
   */
  linearizableRead(timeoutMs: number): Promise<number> {
    const context = `${this.options.selfId}/${++this.readSeq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        reject(new NodeError('UNAVAILABLE', `group ${this.id}: read not confirmed within ${timeoutMs} ms (no leader?)`));
      }, timeoutMs);
      this.reads.set(context, { index: null, resolve, reject, timer });
      try {
        this.node.readIndex(context);
      } catch (err) {
        clearTimeout(timer);
        this.reads.delete(context);
        reject(this.translate(err));
        return;
      }
      this.options.wake();
    });
  }

  // ---- driving -----------------------------------------------------------------------------

  /**
   * Outgoing messages of a Ready, filtered by the recovery fence: a member that lost a log
   * tail it may have acknowledged must not help elect a leader (its vote, or its own
   * candidacy, could elect a log that misses committed entries) until it has caught up again.
   */
  outgoing(rd: Ready): readonly Message[] {
    if (this.fence === 0) return rd.messages;
    const commit = rd.hardState?.commit ?? this.node.raft.log.committed;
    if (commit >= this.fence) {
      this.options.events.fenceCleared(this.id, this.fence);
      this.fence = 0;
      return rd.messages;
    }
    return rd.messages.filter((m) => m.type !== 'vote' && !(m.type === 'vote-response' && m.granted));
  }

  /** Runs after the host made the Ready durable and sent its messages. */
  afterPersist(rd: Ready): void {
    if (rd.softState !== null && rd.softState.leader !== this.leader) {
      this.leader = rd.softState.leader;
      this.options.events.leaderChanged(this.id, this.leader, this.node.raft.term);
      // Reads still waiting for a read index would be answered by a leader that may be gone:
      // fail them now so that clients retry instead of waiting for their deadline.
      for (const [ctx, r] of this.reads) {
        if (r.index !== null) continue;
        clearTimeout(r.timer);
        this.reads.delete(ctx);
        r.reject(new NodeError('UNAVAILABLE', `group ${this.id}: leader changed during the read; retry`));
      }
    }
    if (rd.snapshot !== null) this.installSnapshot(rd.snapshot);
    this.applyEntries(rd.committedEntries);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.context);
      if (r !== undefined) r.index = rs.index;
    }
    this.serveReads();
    this.node.advance(rd);
    this.maybeSnapshot();
  }

  private installSnapshot(snap: Snapshot): void {
    this.restore(snap);
    this.applied = snap.meta.index;
    this.appliedConfig = snap.meta.config;
    this.snapshotIndex = snap.meta.index;
    // Proposals covered by the snapshot: their entries were applied by others; we cannot tell
    // which won, so the outcome is unknown to this node.
    for (const [index, p] of this.pending) {
      if (index > snap.meta.index) continue;
      clearTimeout(p.timer);
      this.pending.delete(index);
      p.reject(new NodeError('TIMEOUT', `group ${this.id}: outcome unknown (replaced by a snapshot at ${snap.meta.index})`));
    }
    this.options.events.snapshotInstalled(this.id, snap.meta.index);
  }

  private restore(snap: Snapshot): void {
    this.stateMachine.restore(this.restoreAddresses(snap).stateMachine);
  }

  private restoreAddresses(snap: Snapshot): ReturnType<typeof decodeHostSnapshot> {
    const host = decodeHostSnapshot(snap.data);
    this.addresses.clear();
    for (const [k, v] of host.addresses) this.addresses.set(k, v);
    return host;
  }

  private applyEntries(entries: readonly Entry[]): void {
    let batch: AppliedCommand[] = [];
    const flush = (): void => {
      if (batch.length === 0) return;
      const results = this.stateMachine.apply(batch);
      batch.forEach((c, i) => this.settle(c.index, c.term, results[i]));
      batch = [];
    };
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      if (e.kind === 'normal') {
        const cmd = decodeCommand(e.data);
        if (cmd.tag === TAG_MEMBER_ADDRESS) {
          flush();
          this.addresses.set(cmd.member, cmd.address);
          this.settle(e.index, e.term, undefined);
        } else {
          batch.push({ index: e.index, term: e.term, time: e.time, command: cmd.payload });
        }
      } else {
        flush();
        if (e.kind === 'config') {
          // Warn only on a real removal: a joiner replays config entries from before it joined.
          const wasMember = isMember(this.appliedConfig, this.options.selfId);
          this.appliedConfig = e.config;
          if (wasMember && !isMember(e.config, this.options.selfId)) {
            this.options.logger.warn({ group: this.id, change: e.change }, 'this member was removed from the group');
          }
          this.settle(e.index, e.term, e.index);
        } else {
          this.settle(e.index, e.term, undefined);
        }
      }
      this.applied = e.index;
    }
    flush();
    this.applied = Math.max(this.applied, entries[entries.length - 1]?.index ?? 0);
  }

  /** Hands an applied entry's result to its proposer, if it was proposed here. */
  private settle(index: number, term: number, result: unknown): void {
    const p = this.pending.get(index);
    if (p === undefined) return;
    this.pending.delete(index);
    clearTimeout(p.timer);
    if (p.term === term) p.resolve(result);
    else p.reject(new NodeError('PROPOSAL_DROPPED', `group ${this.id}: a new leader replaced the entry at ${index}; the write did not take effect`));
  }

  private serveReads(): void {
    for (const [ctx, r] of this.reads) {
      if (r.index === null || r.index > this.applied) continue;
      clearTimeout(r.timer);
      this.reads.delete(ctx);
      r.resolve(this.applied);
    }
  }

  private maybeSnapshot(): void {
    if (this.applied - this.snapshotIndex < this.options.snapshotEntries) return;
    const data = encodeHostSnapshot({ addresses: this.addresses, stateMachine: this.stateMachine.snapshot() });
    this.options.events.compact(this.id, this.applied, this.appliedConfig, data);
    this.snapshotIndex = this.applied;
    this.options.events.snapshotCreated(this.id, this.applied, data.length);
  }

  /** Fails everything waiting: the node is stopping. */
  failAll(err: NodeError): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const r of this.reads.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.reads.clear();
  }
}

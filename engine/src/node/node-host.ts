/**
 * The node host: every Raft group this process serves, driven together.
 *
 * One loop (`process`) collects the Ready batches of all groups that have work, persists all of
 * them in ONE SQLite transaction (one fsync for every group: group commit), then sends their
 * messages and applies their committed entries. Messages, proposals and reads arriving while a
 * commit is in progress queue up in the event loop and are taken together by the next round,
 * so batching grows with load by itself.
 *
 * Ticks come from one interval timer for all groups. The group id travels on every message,
 * and the member id a message is addressed to is checked: a message for an earlier incarnation
 * of this node (a member whose data directory was wiped) is dropped, never applied to the new
 * one.
 */
import type { Logger } from 'pino';
import { EMPTY_CONFIG, isLearner, isMember, isVoter } from '../raft/index.js';
import type { ClusterConfig, NodeId, Ready } from '../raft/index.js';
import type { GroupWrite, LogStore } from '../storage/index.js';
import { PeerTransport } from '../transport/peer-transport.js';
import type { TransportMetrics, TransportOptions } from '../transport/peer-transport.js';
import type { Envelope } from '../transport/codec.js';
import { NodeError } from './errors.js';
import { RaftGroup } from './raft-group.js';
import type { GroupEvents } from './raft-group.js';
import type { StateMachine } from './state-machine.js';

export interface HostMetrics {
  persisted(seconds: number, groups: number, entries: number): void;
  leaderChanged(groupId: number): void;
  snapshot(groupId: number, kind: 'created' | 'installed'): void;
  foreignMessage(): void;
  applied(groupId: number, entries: number): void;
  transport: TransportMetrics;
}

export interface NodeHostOptions {
  readonly store: LogStore;
  readonly selfId: NodeId;
  /** The address peers use to reach this node. */
  readonly advertise: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks?: number;
  readonly snapshotEntries: number;
  readonly logger: Logger;
  readonly stateMachine: (groupId: number) => StateMachine;
  readonly metrics?: HostMetrics;
  readonly transport?: Partial<Pick<TransportOptions, 'backoffMs' | 'maxQueueBytes' | 'stallMs'>>;
  /** Called after the host stopped on an error it cannot recover from (default: rethrow). */
  readonly onFatal?: (err: unknown) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class NodeHost {
  readonly selfId: NodeId;
  readonly transport: PeerTransport;
  readonly groups = new Map<number, RaftGroup>();
  private readonly log: Logger;
  private ticker: NodeJS.Timeout | null = null;
  private scheduled = false;
  private stopped = false;
  private readonly events: GroupEvents;
  /**
   * Addresses peers told us when they connected. Only a fallback for the replicated address
   * books: it lets a new member answer its leader before it has applied the entry with the
   * leader's address.
   */
  private readonly learned = new Map<NodeId, string>();

  constructor(private readonly options: NodeHostOptions) {
    this.selfId = options.selfId;
    this.log = options.logger;
    this.transport = new PeerTransport({
      selfId: options.selfId,
      advertise: options.advertise,
      resolve: (id) => this.resolve(id),
      deliver: (envs) => this.deliver(envs),
      learn: (id, address) => this.learned.set(id, address),
      logger: options.logger,
      ...(options.metrics ? { metrics: options.metrics.transport } : {}),
      ...options.transport,
    });
    const metrics = options.metrics;
    this.events = {
      leaderChanged: (groupId, leader, term) => {
        metrics?.leaderChanged(groupId);
        this.log.info({ group: groupId, leader, term, self: leader === this.selfId }, leader === null ? 'leader lost' : 'leader changed');
      },
      snapshotCreated: (groupId, index, bytes) => {
        metrics?.snapshot(groupId, 'created');
        this.log.info({ group: groupId, index, bytes }, 'snapshot taken; log compacted');
      },
      snapshotInstalled: (groupId, index) => {
        metrics?.snapshot(groupId, 'installed');
        this.log.info({ group: groupId, index }, 'snapshot installed from the leader');
      },
      fenceCleared: (groupId, fence) => {
        this.options.store.setRecoveryFence(groupId, 0);
        this.log.info({ group: groupId, fence }, 'caught up past the truncated log tail; voting again');
      },
      compact: (groupId, index, config, data) => this.options.store.compact(groupId, index, config, data),
    };
    for (const id of options.store.groupIds()) this.openGroup(id);
  }

  /** Starts ticking. Call once the transport's gRPC service is being served. */
  start(): void {
    if (this.ticker !== null) return;
    this.ticker = setInterval(() => {
      const now = Date.now();
      for (const g of this.groups.values()) g.node.tick(now);
      this.schedule();
    }, this.options.tickMs);
    this.schedule();
  }

  /**
   * Creates a group on this node (persisted, with `meta` saying what it is for), or returns it
   * if it exists. The state machine factory runs after the store has the group and its meta.
   */
  addGroup(groupId: number, config: ClusterConfig = EMPTY_CONFIG, meta: string | null = null): RaftGroup {
    const existing = this.groups.get(groupId);
    if (existing !== undefined) return existing;
    if (!this.options.store.hasGroup(groupId)) this.options.store.createGroup(groupId, config, meta);
    return this.openGroup(groupId);
  }

  /**
   * Stops serving a group and deletes everything stored for it (its topic was deleted). Calls
   * waiting on it fail; messages that still arrive for it are dropped.
   */
  removeGroup(groupId: number): void {
    const g = this.groups.get(groupId);
    if (g !== undefined) {
      g.failAll(new NodeError('NOT_FOUND', `group ${groupId} was deleted`));
      this.groups.delete(groupId);
    }
    if (this.options.store.hasGroup(groupId)) this.options.store.deleteGroup(groupId);
  }

  /** What the group is for, as recorded when it was created (null when nothing was). */
  groupMeta(groupId: number): string | null {
    return this.options.store.hasGroup(groupId) ? this.options.store.groupMeta(groupId) : null;
  }

  private openGroup(groupId: number): RaftGroup {
    const fence = this.options.store.recoveryFence(groupId);
    if (fence > 0) this.log.warn({ group: groupId, fence }, 'log tail was truncated at start: withholding votes until commit reaches the fence');
    const g = new RaftGroup({
      groupId,
      selfId: this.selfId,
      log: this.options.store.group(groupId),
      stateMachine: this.options.stateMachine(groupId),
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks ?? 1,
      snapshotEntries: this.options.snapshotEntries,
      recoveryFence: fence,
      logger: this.log,
      wake: () => this.schedule(),
      raiseCommit: (commit) => {
        const log = this.options.store.group(groupId);
        this.options.store.persist([{ groupId, entries: [], hardState: { ...log.hardState(), commit } }]);
      },
      events: this.events,
    });
    this.groups.set(groupId, g);
    return g;
  }

  group(groupId: number): RaftGroup {
    const g = this.groups.get(groupId);
    if (g === undefined) throw new NodeError('NOT_FOUND', `group ${groupId} is not hosted on this node`);
    return g;
  }

  /** The address of a member, from any group's address book. */
  resolve(id: NodeId): string | undefined {
    if (id === this.selfId) return this.options.advertise;
    for (const g of this.groups.values()) {
      const a = g.addresses.get(id);
      if (a !== undefined) return a;
    }
    return this.learned.get(id);
  }

  private deliver(envelopes: readonly Envelope[]): void {
    if (this.stopped) return;
    for (const { groupId, message } of envelopes) {
      if (message.to !== this.selfId) {
        // For an earlier incarnation of this member (wiped data directory): not ours.
        this.options.metrics?.foreignMessage();
        continue;
      }
      const g = this.groups.get(groupId);
      if (g === undefined) continue;
      try {
        g.node.step(message);
      } catch (err) {
        this.log.warn({ group: groupId, from: message.from, type: message.type, err: (err as Error).message }, 'dropping a message the core refused');
      }
    }
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.process();
    });
  }

  /**
   * One round: persist every group's Ready at once, then send, then apply. Any error here (a
   * disk that refuses writes, a corrupt read) leaves the node unable to keep the persistence
   * contract, so the node stops (fail-stop) and restarts from what is durable.
   */
  private process(): void {
    if (this.stopped) return;
    try {
      this.round();
    } catch (err) {
      this.log.fatal({ err }, 'cannot continue: stopping this node (it restarts from its durable state)');
      this.stop();
      (this.options.onFatal ?? ((e: unknown) => { throw e; }))(err);
    }
  }

  private round(): void {
    const batch: Array<{ group: RaftGroup; rd: Ready }> = [];
    for (const group of this.groups.values()) {
      if (group.node.hasReady()) batch.push({ group, rd: group.node.ready() });
    }
    if (batch.length === 0) return;

    const writes: GroupWrite[] = [];
    let entries = 0;
    for (const { group, rd } of batch) {
      if (rd.snapshot === null && rd.entries.length === 0 && rd.hardState === null) continue;
      writes.push({ groupId: group.id, snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
      entries += rd.entries.length;
    }
    if (writes.length > 0) {
      const t0 = performance.now();
      this.options.store.persist(writes);
      this.options.metrics?.persisted((performance.now() - t0) / 1000, writes.length, entries);
    }

    const out: Envelope[] = [];
    for (const { group, rd } of batch) {
      for (const message of group.outgoing(rd)) out.push({ groupId: group.id, message });
    }
    this.transport.send(out);

    for (const { group, rd } of batch) {
      group.afterPersist(rd);
      if (rd.committedEntries.length > 0) this.options.metrics?.applied(group.id, rd.committedEntries.length);
    }
    // Applying may have produced more work (more committed entries, read states).
    for (const group of this.groups.values()) {
      if (group.node.hasReady()) {
        this.schedule();
        break;
      }
    }
  }

  // ---- membership (leader side) ------------------------------------------------------------

  /** The group, if this node leads it; NOT_LEADER with the leader's address otherwise. */
  leading(groupId: number): RaftGroup {
    const g = this.group(groupId);
    if (!g.isLeader()) {
      const leader = g.leaderId();
      throw new NodeError('NOT_LEADER', `not the leader of group ${groupId}`, leader, leader === null ? null : (this.resolve(leader) ?? null));
    }
    return g;
  }

  /** Retries a membership step while another change is still pending. */
  private async confChange(g: RaftGroup, change: Parameters<RaftGroup['proposeConfChange']>[0], deadline: number): Promise<number> {
    for (;;) {
      try {
        return await g.proposeConfChange(change, Math.max(1, deadline - Date.now()));
      } catch (err) {
        if (!(err instanceof NodeError) || err.code !== 'UNAVAILABLE' || Date.now() > deadline) throw err;
        await sleep(50);
        this.leading(g.id); // throws NOT_LEADER (with the new leader) if leadership moved
      }
    }
  }

  async addLearner(groupId: number, member: NodeId, address: string, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const g = this.leading(groupId);
    if (address !== '') await g.registerAddress(member, address, timeoutMs);
    if (isMember(g.status().config, member)) return 0;
    return this.confChange(g, { type: 'add-learner', node: member }, deadline);
  }

  /** How far a member is behind the leader's commit index (leader only). */
  lagOf(g: RaftGroup, member: NodeId): number {
    const st = g.status();
    const pr = st.progress.get(member);
    if (pr === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(0, st.commit - pr.match);
  }

  async promote(groupId: number, member: NodeId, maxLag: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const g = this.leading(groupId);
    const config = g.status().config;
    if (isVoter(config, member)) return 0;
    if (!isLearner(config, member)) throw new NodeError('FAILED_PRECONDITION', `${member} is not a learner of group ${groupId}`);
    const lag = this.lagOf(g, member);
    if (lag > maxLag) throw new NodeError('FAILED_PRECONDITION', `learner ${member} is ${lag} entries behind the commit index (allowed: ${maxLag})`);
    return this.confChange(g, { type: 'promote', node: member }, deadline);
  }

  async removeMember(groupId: number, member: NodeId, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const g = this.leading(groupId);
    if (!isMember(g.status().config, member)) return 0;
    return this.confChange(g, { type: 'remove', node: member }, deadline);
  }

  /** The voter other than the leader whose log matches the most. */
  mostCaughtUp(g: RaftGroup): NodeId | null {
    const st = g.status();
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const v of st.config.voters) {
      if (v === this.selfId) continue;
      const m = st.progress.get(v)?.match ?? 0;
      if (m > bestMatch) {
        best = v;
        bestMatch = m;
      }
    }
    return best;
  }

  async transferLeadership(groupId: number, target: NodeId | null, timeoutMs: number): Promise<NodeId> {
    const g = this.leading(groupId);
    const to = target ?? this.mostCaughtUp(g);
    if (to === null) throw new NodeError('FAILED_PRECONDITION', `group ${groupId} has no other voter to hand leadership to`);
    if (!isVoter(g.status().config, to)) throw new NodeError('FAILED_PRECONDITION', `${to} is not a voter of group ${groupId}`);
    try {
      g.node.transferLeadership(to);
    } catch (err) {
      throw g.translate(err);
    }
    this.schedule();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await sleep(20);
      const leader = g.leaderId();
      if (leader !== null && leader !== this.selfId) return leader;
    }
    throw new NodeError('TIMEOUT', `leadership of group ${groupId} did not move to ${to} within ${timeoutMs} ms`);
  }

  /**
   * A new member asks to join: record its address, add it as a learner, and unless it asked to
   * stay a learner, promote it once it has caught up and then remove earlier incarnations of
   * the same name (their data directories are gone; they can never come back). Every step is
   * idempotent, so a joiner simply retries the whole call after any failure.
   */
  async join(groupId: number, member: NodeId, address: string, learnerOnly: boolean, timeoutMs: number): Promise<{ role: 'voter' | 'learner'; replaced: NodeId[] }> {
    const deadline = Date.now() + timeoutMs;
    await this.addLearner(groupId, member, address, timeoutMs);
    const g = this.leading(groupId);
    if (learnerOnly) return { role: isVoter(g.status().config, member) ? 'voter' : 'learner', replaced: [] };
    while (!isVoter(g.status().config, member)) {
      if (Date.now() > deadline) throw new NodeError('TIMEOUT', `${member} did not catch up within ${timeoutMs} ms`);
      if (this.lagOf(this.leading(groupId), member) === 0) {
        try {
          await this.promote(groupId, member, 0, Math.max(1, deadline - Date.now()));
          continue;
        } catch (err) {
          if (!(err instanceof NodeError) || err.code !== 'FAILED_PRECONDITION') throw err;
        }
      }
      await sleep(50);
    }
    const name = member.slice(0, member.lastIndexOf('@'));
    const replaced: NodeId[] = [];
    const config = this.leading(groupId).status().config;
    for (const old of [...config.voters, ...config.learners]) {
      if (old === member || old.slice(0, old.lastIndexOf('@')) !== name) continue;
      this.log.info({ group: groupId, old, new: member }, 'removing an earlier incarnation of a rejoined member');
      await this.removeMember(groupId, old, Math.max(1, deadline - Date.now()));
      replaced.push(old);
    }
    return { role: 'voter', replaced };
  }

  // ---- shutdown ----------------------------------------------------------------------------

  /**
   * Graceful stop: hand leadership of every group this node leads to its most caught-up voter
   * (so clients see a quick handover instead of an election timeout), then stop. Everything
   * acknowledged is already durable; nothing needs flushing beyond closing the database.
   */
  async shutdown(handoverMs: number): Promise<void> {
    if (this.stopped) return;
    const handovers: Promise<unknown>[] = [];
    for (const g of this.groups.values()) {
      if (!g.isLeader() || this.mostCaughtUp(g) === null) continue;
      handovers.push(
        this.transferLeadership(g.id, null, handoverMs).then(
          (to) => this.log.info({ group: g.id, to }, 'handed leadership over'),
          (err: Error) => this.log.warn({ group: g.id, err: err.message }, 'leadership handover failed'),
        ),
      );
    }
    await Promise.all(handovers);
    this.stop();
  }

  /** Stops at once (no handover). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    const err = new NodeError('SHUTTING_DOWN', 'the node is shutting down');
    for (const g of this.groups.values()) g.failAll(err);
    this.transport.close();
  }
}

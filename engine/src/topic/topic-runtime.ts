/**
 * The topic runtime: everything a topic node does around its Raft groups.
 *
 *  - Hosting. Group 0 is the catalog (catalog-state.ts). Every other group is one partition of
 *    one topic, created on the nodes the catalog placed it on (`placement` hosting) or on every
 *    topic node (`all` hosting, for the Kubernetes operator), with what it is for (topic,
 *    partition index, initial config) stored beside its log (LogStore group meta), so a
 *    restarted node rebuilds its partitions before its catalog has replayed. Groups are created
 *    and deleted by a level-triggered reconcile loop that reads the catalog: created when the
 *    catalog places one here (or, in `all` mode, when it exists), deleted only when the catalog
 *    holds its tombstone. A group created empty joins through its leader, and only while it
 *    holds no Raft state at all: a node removed from a group never asks to come back.
 *  - Routing. A command or query for a group runs here when this node leads it, else goes to
 *    the leader over TopicGroupService (following NOT_LEADER hints; retrying only what surely
 *    did not take effect).
 *  - Time. A partition changes with time (leases end, delays pass, retention drops) only when
 *    an entry is applied, so its leader proposes a `tick` at the partition's next deadline.
 *  - Upkeep on partition leaders: apply the catalog's config when it changed; hand leadership to
 *    the preferred replica (the first in its placement; in `all` mode, one chosen over the
 *    group's current voters) when that one is caught up and this node has led the group for
 *    `leaderBalanceDelayMs`, so leaders stay spread over the nodes after failovers without
 *    undoing a transfer an operator just made.
 *  - Two-phase commit recovery on the catalog leader: a transaction still preparing after
 *    `txnTimeoutMs` is decided abort; a decided one has its decision delivered to every
 *    participant, then is ended.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { TopicGroupServiceClient } from '../gen/leviathan/topic/v1/group.js';
import type { TopicGroupServiceServer } from '../gen/leviathan/topic/v1/group.js';
import { NodeError } from '../node/index.js';
import type { NodeHost, RaftGroup } from '../node/index.js';
import type { AppliedCommand, StateMachine } from '../node/state-machine.js';
import { isVoter } from '../raft/index.js';
import { ERROR_CODE_KEY, LEADER_ADDRESS_KEY, LEADER_ID_KEY, toServiceError } from '../server/grpc-util.js';
import { CATALOG_GROUP } from './catalog-state.js';
import type { CatalogCommand, CatalogResult, TopicRecord, TxnRecord } from './catalog-state.js';
import { CatalogStateMachine, encodeCatalogCommand } from './catalog-state-machine.js';
import { decodeGroupJson, encodeGroupJson } from './group-json.js';
import type { PartitionCommand, PartitionConfig } from './partition-state.js';
import { PartitionStateMachine, encodePartitionCommand } from './partition-state-machine.js';
import { DEFAULT_LEADER_BALANCE_DELAY_MS, LeaderTenure, holdsNoRaftState, memberName, preferredVoter } from './hosting.js';
import type { PartitionHosting } from './hosting.js';

/** What a partition group is for: stored with the group when it is created. */
export interface PartitionMeta {
  readonly kind: 'partition';
  readonly topic: string;
  readonly partition: number;
  readonly config: PartitionConfig;
}

/** Read-only questions a partition answers (TopicGroupService.Query bodies). */
export type PartitionQuery =
  | { readonly type: 'candidates'; readonly k: number }
  | { readonly type: 'peek'; readonly limit: number; readonly includeDlq: boolean }
  | { readonly type: 'stats' }
  | { readonly type: 'config' }
  | { readonly type: 'read'; readonly fromOffset: number; readonly limit: number }
  | { readonly type: 'fetchOffset'; readonly group: string }
  /** Resolves once the partition has a ready message, or after `timeoutMs` (long poll). */
  | { readonly type: 'waitReady'; readonly timeoutMs: number };

export interface TopicRuntimeOptions {
  readonly selfId: string;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** A transaction still preparing this long after it began is aborted by the recovery loop. */
  readonly txnTimeoutMs?: number;
  /**
   * Which partitions this node hosts: `placement` (default) the ones the catalog placed on it;
   * `all` every partition of every topic, joining those it was not placed in as a learner.
   */
  readonly partitionHosting?: PartitionHosting;
  /**
   * A partition leader hands leadership to the preferred replica only after leading the group
   * without a break for this long (default 30 s), so a transfer made on purpose (an operator
   * draining a pod) is not undone at once.
   */
  readonly leaderBalanceDelayMs?: number;
  /**
   * Asks the group's leader to let this node in (AdminService Join); called for a group this
   * node created empty (a wiped node, or any new node in `all` mode) while it holds no Raft state.
   */
  readonly join?: (groupId: number) => Promise<void>;
}

/** One partition hosted here: the state machine, plus who waits for it to change. */
export class HostedPartition implements StateMachine {
  readonly machine: PartitionStateMachine;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly groupId: number,
    readonly meta: PartitionMeta,
  ) {
    this.machine = new PartitionStateMachine(meta.partition, meta.config);
  }

  get state() {
    return this.machine.state;
  }

  apply(commands: readonly AppliedCommand[]): unknown[] {
    const results = this.machine.apply(commands);
    this.changed();
    return results;
  }

  snapshot(): Uint8Array {
    return this.machine.snapshot();
  }

  restore(data: Uint8Array): void {
    this.machine.restore(data);
    this.changed();
  }

  onApplied(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** Resolves true once a message is ready, false after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.state.candidates(1).length > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(ready);
      };
      const check = (): void => {
        if (this.state.candidates(1).length > 0) done(true);
      };
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.waiters.add(check);
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
    for (const l of this.listeners) l();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A partition-level failure (ok: false) as the state machines return it. */
export interface GroupFailure {
  readonly ok: false;
  readonly error: string;
  readonly message: string;
}

export function isGroupFailure(v: unknown): v is GroupFailure {
  return typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;
}

/** Node errors that certainly left the group unchanged: a proposal may be retried elsewhere. */
function retryable(err: NodeError): boolean {
  return err.code === 'NOT_LEADER' || err.code === 'UNAVAILABLE' || err.code === 'PROPOSAL_DROPPED';
}

/** A NodeError from a remote node's gRPC error (its code rides in the trailers). */
function nodeErrorOf(err: grpc.ServiceError): NodeError {
  const code = err.metadata?.get(ERROR_CODE_KEY)[0];
  const leaderId = err.metadata?.get(LEADER_ID_KEY)[0];
  const leaderAddress = err.metadata?.get(LEADER_ADDRESS_KEY)[0];
  const known = ['NOT_LEADER', 'UNAVAILABLE', 'PROPOSAL_DROPPED', 'TIMEOUT', 'NOT_FOUND', 'INVALID_ARGUMENT', 'FAILED_PRECONDITION', 'SHUTTING_DOWN'];
  if (typeof code === 'string' && known.includes(code)) {
    return new NodeError(code as NodeError['code'], err.details, typeof leaderId === 'string' ? leaderId : null, typeof leaderAddress === 'string' ? leaderAddress : null);
  }
  // No engine code: the call did not get an answer from an engine handler. Only a call that
  // never left this node (no connection) surely did nothing; a connection lost after sending
  // may have been applied: the outcome is unknown.
  if (err.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|Failed to connect/i.test(err.details)) {
    return new NodeError('UNAVAILABLE', `peer unreachable: ${err.details}`);
  }
  return new NodeError('TIMEOUT', `peer did not answer (${grpc.status[err.code] ?? err.code}): ${err.details}; the outcome is unknown`);
}

export class TopicRuntime {
  readonly catalog = new CatalogStateMachine();
  private host: NodeHost | null = null;
  private readonly partitions = new Map<number, HostedPartition>();
  private readonly clients = new Map<string, TopicGroupServiceClient>();
  /** Last leader address seen per group, for nodes that do not host the group. */
  private readonly leaderHints = new Map<number, string>();
  private readonly tickTimers = new Map<number, { at: number; timer: NodeJS.Timeout }>();
  private readonly lastTransfer = new Map<number, number>();
  private readonly tenure = new LeaderTenure();
  private readonly joining = new Set<number>();
  private readonly resolving = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private reconcileQueued = false;
  private stopped = false;
  private readonly log: Logger;
  private readonly txnTimeoutMs: number;
  private readonly hosting: PartitionHosting;
  private readonly leaderBalanceDelayMs: number;

  constructor(private readonly options: TopicRuntimeOptions) {
    this.log = options.logger;
    this.txnTimeoutMs = options.txnTimeoutMs ?? Math.max(10_000, 2 * options.requestTimeoutMs);
    this.hosting = options.partitionHosting ?? 'placement';
    this.leaderBalanceDelayMs = options.leaderBalanceDelayMs ?? DEFAULT_LEADER_BALANCE_DELAY_MS;
    this.catalog.onApplied(() => this.queueReconcile());
  }

  /** The NodeHost's state machine factory: the catalog for group 0, partitions from their meta. */
  stateMachineFor(groupId: number, meta: string | null): StateMachine {
    if (groupId === CATALOG_GROUP) return this.catalog;
    if (meta === null) throw new Error(`group ${groupId} has no metadata: it was not created by the topic runtime`);
    const parsed = JSON.parse(meta) as PartitionMeta;
    const p = new HostedPartition(groupId, parsed);
    p.onApplied(() => this.scheduleTick(groupId));
    this.partitions.set(groupId, p);
    return p;
  }

  attach(host: NodeHost): void {
    this.host = host;
  }

  start(): void {
    this.timers.push(setInterval(() => this.reconcile(), 500));
    this.timers.push(setInterval(() => void this.resolveTxns(), 1_000));
    this.queueReconcile();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const { timer } of this.tickTimers.values()) clearTimeout(timer);
    this.tickTimers.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private get nodeHost(): NodeHost {
    if (this.host === null) throw new Error('topic runtime used before attach()');
    return this.host;
  }

  /** Partitions this node leads, with their current counters (for metrics). */
  ledPartitions(): Array<{ topic: string; partition: number; stats: ReturnType<HostedPartition['state']['stats']> }> {
    const out: Array<{ topic: string; partition: number; stats: ReturnType<HostedPartition['state']['stats']> }> = [];
    for (const [groupId, p] of this.partitions) {
      if (this.host?.groups.get(groupId)?.isLeader() === true) out.push({ topic: p.meta.topic, partition: p.meta.partition, stats: p.state.stats() });
    }
    return out;
  }

  /** The partition hosted here, if any. */
  hosted(groupId: number): HostedPartition | undefined {
    return this.nodeHost.groups.has(groupId) ? this.partitions.get(groupId) : undefined;
  }

  // ----- catalog access ---------------------------------------------------------------------

  /** A topic from the local catalog; when missing here, after a linearizable read (it may be new). */
  async topic(name: string, timeoutMs: number): Promise<TopicRecord> {
    let t = this.catalog.state.topic(name);
    if (t === undefined) {
      await this.catalogBarrier(timeoutMs);
      t = this.catalog.state.topic(name);
    }
    if (t === undefined) throw new NodeError('NOT_FOUND', `no topic "${name}"`);
    return t;
  }

  /** Waits until the local catalog reflects everything committed before the call. */
  async catalogBarrier(timeoutMs: number): Promise<void> {
    await this.nodeHost.group(CATALOG_GROUP).linearizableRead(timeoutMs);
  }

  async proposeCatalog(cmd: CatalogCommand, timeoutMs: number): Promise<CatalogResult> {
    return (await this.propose(CATALOG_GROUP, encodeCatalogCommand(cmd), timeoutMs)) as CatalogResult;
  }

  /** Voters of the catalog group: the topic nodes replicas are placed on. */
  members(): string[] {
    return [...this.nodeHost.group(CATALOG_GROUP).status().config.voters].sort();
  }

  // ----- routing ----------------------------------------------------------------------------

  async proposePartition(groupId: number, cmd: PartitionCommand, timeoutMs: number): Promise<unknown> {
    return this.propose(groupId, encodePartitionCommand(cmd), timeoutMs);
  }

  /**
   * Replicates `command` on the group's leader (here or remote) and returns its result.
   * Retries while the outcome is certain to be "not applied" (no leader yet, NOT_LEADER,
   * dropped), until `timeoutMs`; a timeout after the proposal was accepted is thrown as is.
   */
  async propose(groupId: number, command: Uint8Array, timeoutMs: number): Promise<unknown> {
    return this.route(groupId, timeoutMs, {
      local: (g, left) => g.propose(command, left),
      remote: (client, left) =>
        new Promise((resolve, reject) => {
          client.propose({ groupId, command: Buffer.from(command.buffer, command.byteOffset, command.byteLength) }, new grpc.Metadata(), { deadline: Date.now() + left }, (err, res) => {
            if (err) reject(nodeErrorOf(err));
            else resolve(decodeGroupJson(res.result));
          });
        }),
    });
  }

  /** Answers a query from the group's state, on its leader, after a read barrier. */
  async query<T = unknown>(groupId: number, q: PartitionQuery, timeoutMs: number): Promise<T> {
    return this.route(groupId, timeoutMs, {
      readOnly: true,
      local: async (g, left) => {
        if (!readsWithoutBarrier(q)) await g.linearizableRead(Math.min(left, this.options.requestTimeoutMs));
        return this.answer(groupId, q);
      },
      remote: (client, left) =>
        new Promise((resolve, reject) => {
          client.query({ groupId, query: encodeGroupJson(q) }, new grpc.Metadata(), { deadline: Date.now() + left }, (err, res) => {
            if (err) reject(nodeErrorOf(err));
            else resolve(decodeGroupJson(res.result));
          });
        }),
    }) as Promise<T>;
  }

  /** Runs a query on this node's copy (the caller made sure it is current enough). */
  private answer(groupId: number, q: PartitionQuery): unknown {
    const p = this.hosted(groupId);
    if (p === undefined) throw new NodeError('NOT_FOUND', `partition group ${groupId} is not hosted here`);
    const s = p.state;
    switch (q.type) {
      case 'candidates':
        return s.candidates(q.k);
      case 'peek':
        return s.peek(q.limit, q.includeDlq);
      case 'stats':
        return s.stats();
      case 'config':
        return s.currentConfig;
      case 'read':
        return s.read(q.fromOffset, q.limit);
      case 'fetchOffset':
        return s.fetchOffset(q.group);
      case 'waitReady':
        return p.waitReady(Math.min(q.timeoutMs, 30_000));
      default:
        throw new NodeError('INVALID_ARGUMENT', `unknown query ${JSON.stringify((q as { type: unknown }).type)}`);
    }
  }

  private async route<T>(
    groupId: number,
    timeoutMs: number,
    via: {
      /** Read-only: may be retried after any failure, even one with an unknown outcome. */
      readOnly?: boolean; local: (g: RaftGroup, left: number) => Promise<T>; remote: (client: TopicGroupServiceClient, left: number) => Promise<T> },
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let backoff = 20;
    let hint: string | null = null;
    let candidates: string[] = [];
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new NodeError('UNAVAILABLE', `group ${groupId}: no leader reachable within ${timeoutMs} ms`);
      const local = this.nodeHost.groups.get(groupId);
      let target: string | null = null;
      try {
        if (local !== undefined && local.isLeader()) return await via.local(local, left);
        target = hint ?? this.leaderAddress(groupId);
        if (target === null) {
          if (candidates.length === 0) candidates = this.replicaAddresses(groupId);
          target = candidates.shift() ?? null;
        }
        if (target === null) throw new NodeError('UNAVAILABLE', `group ${groupId} has no known leader yet`);
        hint = null;
        const result = await via.remote(this.client(target), left);
        this.leaderHints.set(groupId, target);
        return result;
      } catch (err) {
        if (!(err instanceof NodeError) || !(retryable(err) || (via.readOnly === true && err.code === 'TIMEOUT' && deadline - Date.now() > 100))) throw err;
        if (target !== null && this.leaderHints.get(groupId) === target) this.leaderHints.delete(groupId);
        if (err.code === 'NOT_LEADER' && err.leaderAddress !== null && err.leaderAddress !== target) {
          hint = err.leaderAddress;
          continue;
        }
        await sleep(Math.min(backoff, Math.max(0, deadline - Date.now())));
        backoff = Math.min(500, backoff * 2);
      }
    }
  }

  /** The leader's member id as this node knows it (null when it hosts no replica or knows none). */
  leaderOf(groupId: number): string | null {
    return this.nodeHost.groups.get(groupId)?.leaderId() ?? null;
  }

  private leaderAddress(groupId: number): string | null {
    const g = this.nodeHost.groups.get(groupId);
    if (g !== undefined) {
      const leader = g.leaderId();
      return leader === null ? null : (this.nodeHost.resolve(leader) ?? null);
    }
    return this.leaderHints.get(groupId) ?? null;
  }

  private replicaAddresses(groupId: number): string[] {
    for (const { placement } of this.catalog.state.partitionGroups()) {
      if (placement.groupId === groupId) {
        return placement.replicas.map((id) => this.nodeHost.resolve(id)).filter((a): a is string => a !== undefined);
      }
    }
    return [];
  }

  private client(address: string): TopicGroupServiceClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new TopicGroupServiceClient(address, grpc.credentials.createInsecure(), { 'grpc.keepalive_time_ms': 10_000 });
      this.clients.set(address, c);
    }
    return c;
  }

  /** The server side of TopicGroupService: commands and queries for groups this node leads. */
  groupService(): TopicGroupServiceServer {
    const fail = (err: unknown): Partial<grpc.ServiceError> => toServiceError(err, this.log);
    return {
      propose: (call, callback) => {
        const host = this.nodeHost;
        let g: RaftGroup;
        try {
          g = host.leading(call.request.groupId);
        } catch (err) {
          callback(fail(err));
          return;
        }
        g.propose(call.request.command, this.options.requestTimeoutMs).then(
          (result) => callback(null, { result: encodeGroupJson(result) }),
          (err: unknown) => callback(fail(err)),
        );
      },
      query: (call, callback) => {
        void (async () => {
          const q = decodeGroupJson<PartitionQuery>(call.request.query);
          const g = this.nodeHost.leading(call.request.groupId);
          if (!readsWithoutBarrier(q)) await g.linearizableRead(this.options.requestTimeoutMs);
          return this.answer(call.request.groupId, q);
        })().then(
          async (result) => callback(null, { result: encodeGroupJson(await result) }),
          (err: unknown) => callback(fail(err)),
        );
      },
    };
  }

  // ----- reconcile ----------------------------------------------------------------------------

  private queueReconcile(): void {
    if (this.reconcileQueued || this.stopped || this.host === null) return;
    this.reconcileQueued = true;
    setImmediate(() => {
      this.reconcileQueued = false;
      this.reconcile();
    });
  }

  /** Makes the local groups match the catalog, and does the partition leaders' upkeep. */
  private reconcile(): void {
    if (this.stopped || this.host === null) return;
    const host = this.host;
    const selfName = memberName(this.options.selfId);
    try {
      for (const { topic, placement } of this.catalog.state.partitionGroups()) {
        const mine = this.hosting === 'all' || placement.replicas.some((id) => memberName(id) === selfName);
        if (!mine || host.groups.has(placement.groupId) || this.catalog.state.isTombstoned(placement.groupId)) continue;
        const meta: PartitionMeta = { kind: 'partition', topic: topic.name, partition: placement.index, config: topic.config };
        const founding = placement.replicas.includes(this.options.selfId);
        // A founding replica starts the group with the placement as its voters (every founder
        // uses the same list: the catalog's). Any other node (placed here under an earlier
        // incarnation whose data was wiped, or in `all` mode not placed here at all) starts the
        // group empty and asks its leader to let it join.
        host.addGroup(placement.groupId, founding ? { voters: [...placement.replicas], learners: [] } : { voters: [], learners: [] }, JSON.stringify(meta));
        this.log.info({ topic: topic.name, partition: placement.index, group: placement.groupId, founding }, 'hosting a partition');
      }
      for (const id of [...host.groups.keys()]) {
        if (id !== CATALOG_GROUP && this.catalog.state.isTombstoned(id)) {
          host.removeGroup(id);
          this.partitions.delete(id);
          this.tenure.forget(id);
          const t = this.tickTimers.get(id);
          if (t !== undefined) clearTimeout(t.timer);
          this.tickTimers.delete(id);
          this.log.info({ group: id }, 'deleted a partition of a deleted topic');
        }
      }
      const now = Date.now();
      for (const [groupId, p] of this.partitions) {
        const g = host.groups.get(groupId);
        if (g === undefined) continue;
        const st = g.status();
        // Join only a group that holds no Raft state at all (created empty here and not let in
        // yet). One that has state was a member: if it is not one now, it was removed (an
        // operator scaling down), and asking to come back would undo that.
        if (this.options.join !== undefined && !this.joining.has(groupId) && holdsNoRaftState({ lastIndex: st.lastIndex, snapshotIndex: g.currentSnapshotIndex, config: st.config })) {
          this.joining.add(groupId);
          this.options
            .join(groupId)
            .catch((err: Error) => this.log.info({ group: groupId, err: err.message }, 'joining a partition failed; will retry'))
            .finally(() => this.joining.delete(groupId));
        }
        this.tenure.observe(groupId, st.role === 'leader', st.term, now);
        if (!g.isLeader()) continue;
        this.scheduleTick(groupId);
        this.catchUpConfig(groupId, p, g);
        this.balanceLeader(groupId, p, g);
      }
    } catch (err) {
      this.log.error({ err }, 'topic reconcile failed; retrying');
    }
  }

  private catchUpConfig(groupId: number, p: HostedPartition, g: RaftGroup): void {
    const topic = this.catalog.state.topic(p.meta.topic);
    if (topic === undefined) return;
    const want = topic.config;
    if (want === p.state.currentConfig || configKey(want) === configKey(p.state.currentConfig)) return;
    const { mode: _mode, ...rest } = want;
    g.propose(encodePartitionCommand({ type: 'configure', config: rest }), this.options.requestTimeoutMs).catch((err: Error) =>
      this.log.debug({ group: groupId, err: err.message }, 'config update not applied yet; will retry'),
    );
  }

  /** The replica that should lead the group: a current voter, or undefined when none is. */
  private preferredLeader(groupId: number, p: HostedPartition, voters: readonly string[]): string | undefined {
    if (this.hosting === 'all') return preferredVoter(voters, p.meta.topic, p.meta.partition);
    let first: string | undefined;
    for (const { placement } of this.catalog.state.partitionGroups()) if (placement.groupId === groupId) first = placement.replicas[0];
    if (first === undefined) return undefined;
    // The preferred replica by name: after a wipe it is back under a new incarnation.
    const name = memberName(first);
    return voters.find((v) => memberName(v) === name);
  }

  private balanceLeader(groupId: number, p: HostedPartition, g: RaftGroup): void {
    const now = Date.now();
    // Not before this node has led the group for a while: an operator moves leadership away
    // from a pod before removing or restarting it, and must not get it straight back.
    if (this.tenure.heldFor(groupId, now) < this.leaderBalanceDelayMs) return;
    const st = g.status();
    const preferred = this.preferredLeader(groupId, p, st.config.voters);
    if (preferred === undefined || preferred === this.options.selfId || !isVoter(st.config, preferred)) return;
    const pr = st.progress.get(preferred);
    if (pr === undefined || !pr.recentActive || pr.match < st.lastIndex) return;
    if ((this.lastTransfer.get(groupId) ?? 0) + 10_000 > now) return;
    this.lastTransfer.set(groupId, now);
    this.nodeHost
      .transferLeadership(groupId, preferred, this.options.requestTimeoutMs)
      .then(() => this.log.info({ group: groupId, to: preferred }, 'handed partition leadership to its preferred replica'))
      .catch((err: Error) => this.log.debug({ group: groupId, err: err.message }, 'leadership hand-over did not happen'));
  }

  // ----- time: ticks at the next deadline -----------------------------------------------------

  private scheduleTick(groupId: number): void {
    if (this.stopped || this.host === null) return;
    const g = this.host.groups.get(groupId);
    const p = this.partitions.get(groupId);
    const existing = this.tickTimers.get(groupId);
    const next = g !== undefined && g.isLeader() && p !== undefined ? p.state.nextDeadline() : null;
    if (next === null) {
      if (existing !== undefined) clearTimeout(existing.timer);
      this.tickTimers.delete(groupId);
      return;
    }
    if (existing !== undefined && existing.at <= next) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    // Never a busy loop: at least a few ms apart, and never further out than a 24-bit timer allows.
    const delay = Math.min(Math.max(next - Date.now(), 5), 0x7fffffff);
    const timer = setTimeout(() => {
      this.tickTimers.delete(groupId);
      const leader = this.host?.groups.get(groupId);
      if (leader === undefined || !leader.isLeader()) return;
      leader.propose(encodePartitionCommand({ type: 'tick' }), this.options.requestTimeoutMs).catch((err: Error) => {
        this.log.debug({ group: groupId, err: err.message }, 'tick not applied; rescheduling');
        setTimeout(() => this.scheduleTick(groupId), 100);
      });
    }, delay);
    timer.unref?.();
    this.tickTimers.set(groupId, { at: next, timer });
  }

  // ----- two-phase commit recovery ----------------------------------------------------------

  /** On the catalog leader: abort stale transactions, deliver decisions, end them. */
  private async resolveTxns(): Promise<void> {
    if (this.stopped || this.host === null) return;
    const catalog = this.host.groups.get(CATALOG_GROUP);
    if (catalog === undefined || !catalog.isLeader()) return;
    for (const txn of this.catalog.state.openTxns()) {
      if (this.resolving.has(txn.txnId)) continue;
      if (txn.state === 'preparing' && txn.beganAt + this.txnTimeoutMs > Date.now()) continue;
      this.resolving.add(txn.txnId);
      this.finishTxn(txn, 'the coordinator did not finish in time')
        .catch((err: Error) => this.log.warn({ txn: txn.txnId, err: err.message }, 'could not resolve a transaction yet; will retry'))
        .finally(() => this.resolving.delete(txn.txnId));
    }
  }

  /**
   * Drives a transaction to its end: decides it (abort, unless already decided), delivers the
   * decision to every participant, and ends it. Idempotent: any node may run it again.
   */
  async finishTxn(txn: TxnRecord, abortReason: string): Promise<TxnRecord> {
    const timeoutMs = this.options.requestTimeoutMs;
    let decided = txn;
    if (decided.state === 'preparing') {
      const r = await this.proposeCatalog({ type: 'txnDecide', txnId: txn.txnId, commit: false, reason: abortReason }, timeoutMs);
      if (isGroupFailure(r) || !('txn' in r)) throw new Error(`deciding ${txn.txnId}: ${isGroupFailure(r) ? r.message : 'unexpected result'}`);
      decided = r.txn;
    }
    const commit = decided.state === 'committed';
    await Promise.all(
      decided.participants.map(async (p) => {
        const r = await this.proposePartition(p.groupId, commit ? { type: 'commitTxn', txnId: txn.txnId } : { type: 'abortTxn', txnId: txn.txnId }, timeoutMs);
        if (isGroupFailure(r)) {
          // TXN_DECIDED the other way round would mean two decisions: report it loudly.
          this.log.error({ txn: txn.txnId, partition: p.partition, result: r }, 'a participant refused the transaction decision');
          throw new Error(r.message);
        }
      }),
    );
    const ended = await this.proposeCatalog({ type: 'txnEnd', txnId: txn.txnId }, timeoutMs);
    if (isGroupFailure(ended) || !('txn' in ended)) throw new Error(`ending ${txn.txnId}: ${isGroupFailure(ended) ? ended.message : 'unexpected result'}`);
    if (txn.state === 'preparing') this.log.warn({ txn: txn.txnId, decision: decided.state }, 'resolved an in-doubt transaction');
    return ended.txn;
  }
}

/**
 * Queries answered from the leader's state without a ReadIndex round: a long poll only waits for
 * the state to change, and pop candidates are a hint (the pop proposal itself takes the
 * partition's best messages when it applies), so a deposed leader's answer costs nothing.
 */
function readsWithoutBarrier(q: PartitionQuery): boolean {
  return q.type === 'waitReady' || q.type === 'candidates';
}

const configKeys = new WeakMap<object, string>();

/** A config's canonical JSON, computed once per config object (configs are never mutated). */
function configKey(c: PartitionConfig): string {
  let k = configKeys.get(c);
  if (k === undefined) {
    k = stableJson(c);
    configKeys.set(c, k);
  }
  return k;
}

/** JSON with object keys sorted at every level, so equal configs compare equal. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

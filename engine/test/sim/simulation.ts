/**
 * One seeded run of the deterministic simulator: 1–7 members (RawNode over MemoryStorage, which
 * models exactly what was persisted), a virtual clock, a lossy reordering network, clients
 * issuing key-value operations, and a nemesis injecting partitions, crashes, pauses, clock jumps,
 * membership changes and leadership transfers. Safety is checked after every step; at the end
 * the network heals, the cluster must make progress again, and the clients' history must be
 * linearizable. Everything derives from the seed: the same seed replays the same run.
 */
import { ProposalDroppedError, RaftError, RaftInvariantError, MemoryStorage, Random, RawNode } from '../../src/raft/index.js';
import type { ConfChange, Entry, Message, NodeId, RaftTestingKnobs, Ready } from '../../src/raft/index.js';
import { checkLinearizable } from '../linearizability/checker.js';
import { kvModel } from '../linearizability/kv-model.js';
import type { KvInput, KvOperation, KvOutput } from '../linearizability/kv-model.js';
import { SafetyChecker, Violation } from './checkers.js';
import { EventQueue } from './event-queue.js';
import { KvStateMachine, decodeCommand, encodeCommand } from './kv-state-machine.js';
import { Network, randomProfile } from './network.js';

export interface SimOptions {
  readonly seed: number;
  /** Virtual milliseconds of faults and load before the healing phase. */
  readonly chaosMs?: number;
  readonly knobs?: RaftTestingKnobs;
  /** Record a readable trace of every step (slower; used to replay a failing seed). */
  readonly trace?: boolean;
  /** Which fault mix the nemesis uses; by default one is drawn from the seed. */
  readonly scenario?: Scenario;
}

/**
 * Fault mixes. `mixed` spreads faults evenly; `leader-churn` crashes leaders often with small
 * append messages (the schedule behind the dissertation's Figure 3.7); `membership-churn`
 * proposes membership changes in bursts, each followed by a partition.
 */
export type Scenario = 'mixed' | 'leader-churn' | 'membership-churn';
export const SCENARIOS: readonly Scenario[] = ['mixed', 'leader-churn', 'membership-churn'];

export interface SimStats {
  scenario: Scenario;
  members: number;
  events: number;
  leadersElected: number;
  applied: number;
  opsOk: number;
  opsUnknown: number;
  crashes: number;
  snapshotsInstalled: number;
  confChanges: number;
  transfers: number;
  partitions: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation?: Violation;
  readonly stats: SimStats;
  readonly trace: readonly string[];
}

interface NemesisWeights {
  partition: number;
  heal: number;
  isolate: number;
  asymmetric: number;
  crash: number;
  crashAfterPersist: number;
  pause: number;
  clockJump: number;
  membership: number;
  transfer: number;
  nothing: number;
}

const WEIGHTS: Record<Scenario, NemesisWeights> = {
  mixed: { partition: 3, heal: 2, isolate: 2, asymmetric: 1, crash: 2, crashAfterPersist: 1, pause: 1, clockJump: 1, membership: 2, transfer: 1, nothing: 2 },
  'leader-churn': { partition: 1, heal: 2, isolate: 2, asymmetric: 0, crash: 6, crashAfterPersist: 2, pause: 1, clockJump: 1, membership: 0, transfer: 0, nothing: 1 },
  'membership-churn': { partition: 1, heal: 3, isolate: 1, asymmetric: 0, crash: 1, crashAfterPersist: 0, pause: 0, clockJump: 0, membership: 5, transfer: 1, nothing: 1 },
};

const TICK_MS = 10;
const ELECTION_TICKS = 10;
const CLIENT_TIMEOUT_MS = 600;
const KEYS = ['a', 'b', 'c'];

type SimEvent =
  | { kind: 'tick'; node: NodeId; epoch: number }
  | { kind: 'deliver'; msg: Message }
  | { kind: 'client'; client: number }
  | { kind: 'client-timeout'; client: number; opId: number }
  | { kind: 'nemesis' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'crash'; node: NodeId; epoch: number }
  | { kind: 'heal-phase' }
  | { kind: 'liveness-probe' }
  | { kind: 'end' };

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode | null;
  sm: KvStateMachine;
  epoch: number;
  /** Wall clock = virtual time + offset; the nemesis jumps it. */
  clockOffset: number;
  pausedUntil: number;
  /** Crash right after the next Ready is persisted, before its messages are sent. */
  crashAfterPersist: boolean;
  appliedIndex: number;
  appliedSinceCompact: number;
  /** Writes proposed here, by log index. */
  waitingWrites: Map<number, { client: number; opId: number; term: number }>;
  /** Reads by context, and the index each may be served at once known. */
  waitingReads: Map<string, { client: number; opId: number; index: number | null }>;
}

interface PendingOp {
  readonly opId: number;
  readonly input: KvInput;
  readonly call: number;
  readonly node: NodeId;
  readonly viaLog: boolean;
}

interface Client {
  readonly id: number;
  pending: PendingOp | null;
  leaderGuess: NodeId | null;
  lastSeen: Map<string, string | null>;
}

export class Simulation {
  private readonly rng: Random;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly net: Network;
  private readonly checker = new SafetyChecker();
  private readonly clients: Client[] = [];
  private readonly history: KvOperation[] = [];
  private readonly traceLines: string[] = [];
  private readonly stats: SimStats;
  private readonly chaosMs: number;
  private readonly snapshotEvery: number;
  private readonly scenario: Scenario;
  private now = 0;
  /** Order of history events within one virtual millisecond (see stamp()). */
  private stampMs = -1;
  private stampSeq = 0;
  private nextOpId = 1;
  private nextNodeNumber = 1;
  private calm = false;
  private finished = false;
  private probe: { opId: number; node: NodeId; index: number; term: number } | null = null;
  private probeApplied = new Set<NodeId>();

  constructor(private readonly opts: SimOptions) {
    this.rng = new Random(opts.seed);
    this.chaosMs = opts.chaosMs ?? 3000;
    this.net = new Network(this.rng.fork(), randomProfile(this.rng));
    this.snapshotEvery = this.rng.pick([8, 25, 100, 1_000_000]);
    this.scenario = opts.scenario ?? this.rng.pick(['mixed', 'mixed', 'mixed', 'leader-churn', 'membership-churn']);
    const voters = this.scenario === 'leader-churn' ? this.rng.pick([3, 3, 5]) : this.rng.pick([1, 2, 3, 3, 3, 4, 5, 5]);
    const ids = Array.from({ length: voters }, () => this.freshId());
    for (const id of ids) this.addNode(id, { voters: ids, learners: [] });
    this.stats = {
      scenario: this.scenario,
      members: voters,
      events: 0,
      leadersElected: 0,
      applied: 0,
      opsOk: 0,
      opsUnknown: 0,
      crashes: 0,
      snapshotsInstalled: 0,
      confChanges: 0,
      transfers: 0,
      partitions: 0,
    };
    const clientCount = this.rng.int(1, 4);
    for (let c = 0; c < clientCount; c++) {
      this.clients.push({ id: c, pending: null, leaderGuess: null, lastSeen: new Map() });
      this.queue.push(this.rng.int(0, 50), { kind: 'client', client: c });
    }
    this.queue.push(this.rng.int(100, 300), { kind: 'nemesis' });
    this.queue.push(this.chaosMs, { kind: 'heal-phase' });
  }

  run(): SimResult {
    try {
      for (;;) {
        const ev = this.queue.pop();
        if (ev === undefined || this.finished) break;
        this.now = ev.at;
        this.checker.now = ev.at;
        this.stats.events++;
        this.handle(ev.item);
      }
      this.checkLinearizability();
      return { seed: this.opts.seed, ok: true, stats: this.stats, trace: this.traceLines };
    } catch (err) {
      const violation =
        err instanceof Violation
          ? err
          : new Violation('invariant', err instanceof Error ? `${err.name}: ${err.message}` : String(err), this.now);
      if (!(err instanceof Violation) && !(err instanceof RaftInvariantError) && err instanceof Error) {
        // A crash of the simulator itself, not a finding: show where.
        this.trace(`exception: ${err.stack ?? err.message}`);
      }
      return { seed: this.opts.seed, ok: false, violation, stats: this.stats, trace: this.traceLines };
    }
  }

  // ---------------------------------------------------------------- members

  private freshId(): NodeId {
    return `n${this.nextNodeNumber++}`;
  }

  private addNode(id: NodeId, config?: { voters: NodeId[]; learners: NodeId[] }): SimNode {
    const n: SimNode = {
      id,
      storage: new MemoryStorage(config),
      raw: null,
      sm: new KvStateMachine(),
      epoch: 0,
      clockOffset: 0,
      pausedUntil: 0,
      crashAfterPersist: false,
      appliedIndex: 0,
      appliedSinceCompact: 0,
      waitingWrites: new Map(),
      waitingReads: new Map(),
    };
    this.nodes.set(id, n);
    this.start(n);
    return n;
  }

  private start(n: SimNode): void {
    n.raw = new RawNode({
      id: n.id,
      storage: n.storage,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1,
      randomSeed: this.rng.uint32(),
      snapshotChunkBytes: this.rng.pick([16, 64, 4096]),
      snapshotChunksInFlight: this.rng.int(1, 4),
      maxInflightMessages: this.scenario === 'leader-churn' ? 1 : this.rng.pick([1, 4, 64]),
      // One entry per append in leader-churn, so old-term entries can be acknowledged on their own.
      maxMessageBytes: this.scenario === 'leader-churn' ? 1 : this.rng.pick([200, 4096, 1 << 20]),
      testingKnobs: this.opts.knobs,
    });
    const snap = n.storage.snapshot();
    n.sm.restore(snap.data);
    n.appliedIndex = snap.meta.index;
    n.appliedSinceCompact = 0;
    this.checker.onRestart(n.id, snap.meta.time);
    n.epoch++;
    this.queue.push(this.now + this.rng.int(1, TICK_MS), { kind: 'tick', node: n.id, epoch: n.epoch });
  }

  private crash(n: SimNode): void {
    if (n.raw === null) return;
    this.trace(`${n.id} crashes`);
    this.stats.crashes++;
    n.raw = null;
    n.epoch++;
    // Clients waiting on it lose the connection: writes become unknown, reads are dropped.
    for (const w of n.waitingWrites.values()) this.finishUnknown(w.client, w.opId);
    for (const r of n.waitingReads.values()) this.abandon(r.client, r.opId);
    n.waitingWrites.clear();
    n.waitingReads.clear();
  }

  private wallClock(n: SimNode): number {
    return 1_000_000 + this.now + n.clockOffset;
  }

  // ---------------------------------------------------------------- events

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const n = this.nodes.get(ev.node);
        if (!n || n.raw === null || n.epoch !== ev.epoch) return;
        if (this.now < n.pausedUntil) {
          this.queue.push(n.pausedUntil, ev);
          return;
        }
        this.guard(n, () => n.raw?.tick(this.wallClock(n)));
        this.queue.push(this.now + TICK_MS, ev);
        return;
      }
      case 'deliver': {
        const n = this.nodes.get(ev.msg.to);
        if (!n || n.raw === null || !this.net.open(ev.msg.from, ev.msg.to)) return;
        if (this.now < n.pausedUntil) {
          this.queue.push(n.pausedUntil, ev);
          return;
        }
        this.guard(n, () => n.raw?.step(ev.msg));
        return;
      }
      case 'client':
        this.clientStep(ev.client);
        return;
      case 'client-timeout': {
        const c = this.clients[ev.client];
        if (c?.pending?.opId !== ev.opId) return;
        const node = this.nodes.get(c.pending.node);
        if (c.pending.viaLog || c.pending.input.op !== 'get') {
          for (const [i, w] of node?.waitingWrites ?? []) if (w.opId === ev.opId) node?.waitingWrites.delete(i);
          this.finishUnknown(ev.client, ev.opId);
        } else {
          for (const [ctx, r] of node?.waitingReads ?? []) if (r.opId === ev.opId) node?.waitingReads.delete(ctx);
          this.abandon(ev.client, ev.opId);
        }
        return;
      }
      case 'nemesis':
        if (!this.calm) {
          this.nemesis();
          const [lo, hi] = this.scenario === 'leader-churn' ? [20, 120] : [30, 300];
          this.queue.push(this.now + this.rng.int(lo, hi), { kind: 'nemesis' });
        }
        return;
      case 'crash': {
        const n = this.nodes.get(ev.node);
        if (!n || n.raw === null || n.epoch !== ev.epoch || this.calm) return;
        this.crash(n);
        this.queue.push(this.now + this.rng.int(50, 400), { kind: 'restart', node: n.id });
        return;
      }
      case 'restart': {
        const n = this.nodes.get(ev.node);
        if (n && n.raw === null) {
          this.trace(`${n.id} restarts from storage`);
          this.start(n);
        }
        return;
      }
      case 'heal-phase':
        this.healPhase();
        return;
      case 'liveness-probe':
        this.livenessProbe();
        return;
      case 'end':
        this.finish();
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
  }

  /** Runs an input on a member, then handles its Ready until none is left. */
  private guard(n: SimNode, input: () => void): void {
    try {
      input();
    } catch (err) {
      if (err instanceof RaftInvariantError) throw new Violation('invariant', `${n.id}: ${err.message}`, this.now);
      throw err;
    }
    this.drain(n);
  }

  private drain(n: SimNode): void {
    while (n.raw !== null && n.raw.hasReady()) {
      const rd = n.raw.ready();
      this.handleReady(n, n.raw, rd);
    }
    const raft = n.raw?.raft;
    if (raft?.role === 'leader') {
      const commit = raft.log.committed;
      this.checker.onLeaderCommit(raft.term, commit, raft.log.term(commit) ?? 0);
    }
  }

  private handleReady(n: SimNode, raw: RawNode, rd: Ready): void {
    if (rd.softState) {
      this.trace(`${n.id} is ${rd.softState.role} (leader ${rd.softState.leader ?? '-'}, term ${raw.raft.term})`);
      if (rd.softState.role === 'leader') {
        this.stats.leadersElected++;
        const log = raw.raft.log;
        this.checker.onLeader(n.id, raw.raft.term, { term: (i) => log.term(i), snapshotIndex: () => log.firstIndex() - 1 });
        if (this.scenario === 'leader-churn') {
          // A leader that dies before its first entry replicates leaves a divergent log behind:
          // the raw material of the dissertation's Figure 3.7.
          const roll = this.rng.float();
          if (roll < 0.4) n.crashAfterPersist = true;
          else if (roll < 0.8) this.queue.push(this.now + this.rng.int(0, 30), { kind: 'crash', node: n.id, epoch: n.epoch });
        }
      }
    }
    // 1. Persist: snapshot, entries, hard state.
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.sm.restore(rd.snapshot.data);
      n.appliedIndex = rd.snapshot.meta.index;
      this.checker.onRestart(n.id, rd.snapshot.meta.time);
      this.stats.snapshotsInstalled++;
      this.trace(`${n.id} installs snapshot at ${rd.snapshot.meta.index}`);
    }
    const first = rd.entries[0];
    if (first) {
      const prevTerm = n.storage.term(first.index - 1);
      n.storage.append(rd.entries);
      this.checker.onPersist(n.id, rd.entries, prevTerm);
    }
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (n.crashAfterPersist && !this.calm) {
      // Durable, but the process dies before sending, applying or advancing.
      n.crashAfterPersist = false;
      this.crash(n);
      this.queue.push(this.now + this.rng.int(50, 400), { kind: 'restart', node: n.id });
      return;
    }
    // 2. Send.
    for (const m of rd.messages) {
      for (const delay of this.net.route(m)) this.queue.push(this.now + delay, { kind: 'deliver', msg: m });
    }
    // 3. Apply, then serve reads that became servable.
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) {
      const r = n.waitingReads.get(rs.context);
      if (r) r.index = rs.index;
    }
    this.serveReads(n);
    raw.advance(rd);
    if (n.appliedSinceCompact >= this.snapshotEvery && n.appliedIndex > n.storage.firstIndex()) {
      n.storage.compact(n.appliedIndex, raw.raft.configs.at(n.appliedIndex), n.sm.serialize());
      n.appliedSinceCompact = 0;
    }
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index !== n.appliedIndex + 1) {
      throw new Violation('invariant', `${n.id} applied ${e.index} after ${n.appliedIndex}`, this.now);
    }
    this.checker.onApply(n.id, e);
    n.appliedIndex = e.index;
    n.appliedSinceCompact++;
    this.stats.applied = Math.max(this.stats.applied, e.index);
    let output: KvOutput | undefined;
    let opId = 0;
    if (e.kind === 'normal') {
      const cmd = decodeCommand(e.data);
      opId = cmd.opId;
      output = n.sm.apply(cmd.input);
      if (this.probe?.opId === opId) this.probeApplied.add(n.id);
    } else if (e.kind === 'config') {
      this.trace(`${n.id} applies ${e.change.type} ${e.change.node} -> voters [${e.config.voters.join(',')}] learners [${e.config.learners.join(',')}]`);
    }
    const w = n.waitingWrites.get(e.index);
    if (w) {
      n.waitingWrites.delete(e.index);
      // Another entry took our index: ours was not committed there. Unknown is always sound.
      if (opId === w.opId && e.term === w.term && output !== undefined) this.finishOk(w.client, w.opId, output);
      else this.finishUnknown(w.client, w.opId);
    }
  }

  private serveReads(n: SimNode): void {
    for (const [ctx, r] of n.waitingReads) {
      if (r.index === null || n.appliedIndex < r.index) continue;
      n.waitingReads.delete(ctx);
      const c = this.clients[r.client];
      const input = c?.pending?.input;
      if (input?.op !== 'get' || c?.pending?.opId !== r.opId) continue;
      this.finishOk(r.client, r.opId, { value: n.sm.read(input.key) });
    }
  }

  // ---------------------------------------------------------------- clients

  private clientStep(id: number): void {
    const c = this.clients[id] as Client;
    if (c.pending !== null || this.calm) return;
    const target = this.pickNodeFor(c);
    if (target === null || target.raw === null) {
      this.queue.push(this.now + 20, { kind: 'client', client: id });
      return;
    }
    const input = this.randomInput(c);
    const opId = this.nextOpId++;
    const viaLog = input.op !== 'get' || this.rng.chance(0.25);
    const raw = target.raw;
    try {
      if (viaLog) {
        if (raw.raft.role !== 'leader') throw new ProposalDroppedError('NOT_LEADER', raw.raft.leader);
        raw.observeClock(this.wallClock(target));
        const { index, term } = raw.propose(encodeCommand({ opId, input }));
        target.waitingWrites.set(index, { client: id, opId, term });
      } else {
        target.waitingReads.set(`r${opId}`, { client: id, opId, index: null });
        raw.readIndex(`r${opId}`);
      }
    } catch (err) {
      target.waitingReads.delete(`r${opId}`);
      if (!(err instanceof RaftError)) throw err;
      // Refused before anything was proposed: no effect, not part of the history.
      c.leaderGuess = err instanceof ProposalDroppedError ? err.leaderHint : null;
      this.queue.push(this.now + this.rng.int(1, 20), { kind: 'client', client: id });
      this.drain(target);
      return;
    }
    c.pending = { opId, input, call: this.stamp(), node: target.id, viaLog };
    this.queue.push(this.now + CLIENT_TIMEOUT_MS, { kind: 'client-timeout', client: id, opId });
    this.drain(target);
  }

  private pickNodeFor(c: Client): SimNode | null {
    const guess = c.leaderGuess ? this.nodes.get(c.leaderGuess) : undefined;
    if (guess && guess.raw !== null && this.rng.chance(0.8)) return guess;
    const up = [...this.nodes.values()].filter((n) => n.raw !== null);
    return up.length === 0 ? null : this.rng.pick(up);
  }

  private randomInput(c: Client): KvInput {
    const key = this.rng.pick(KEYS);
    const roll = this.rng.float();
    if (roll < 0.45) return { op: 'get', key };
    if (roll < 0.85) return { op: 'put', key, value: `v${this.nextOpId}` };
    return { op: 'cas', key, expected: c.lastSeen.get(key) ?? null, value: `v${this.nextOpId}` };
  }

  /**
   * A history timestamp: virtual time plus the order of events within the millisecond. Many
   * things happen at one virtual instant (a single voter proposes, commits and applies a write
   * while a read returns), and the checker reads equal times as return-before-call, so events
   * at one instant must still be strictly ordered as they happened.
   */
  private stamp(): number {
    if (this.now !== this.stampMs) {
      this.stampMs = this.now;
      this.stampSeq = 0;
    }
    return this.now + ++this.stampSeq / 1_000_000;
  }

  private finishOk(client: number, opId: number, output: KvOutput): void {
    const c = this.clients[client];
    if (!c?.pending || c.pending.opId !== opId) return;
    const p = c.pending;
    this.history.push({ clientId: client, input: p.input, call: p.call, return: this.stamp(), output });
    if ('value' in output) c.lastSeen.set(p.input.key, output.value);
    this.stats.opsOk++;
    this.next(c);
  }

  private finishUnknown(client: number, opId: number): void {
    const c = this.clients[client];
    if (!c?.pending || c.pending.opId !== opId) return;
    const p = c.pending;
    if (p.viaLog || p.input.op !== 'get') {
      this.history.push({ clientId: client, input: p.input, call: p.call, return: Number.POSITIVE_INFINITY, output: undefined });
      this.stats.opsUnknown++;
    }
    this.next(c);
  }

  /** A read whose outcome is unknown has no effect: it is left out of the history. */
  private abandon(client: number, opId: number): void {
    const c = this.clients[client];
    if (!c?.pending || c.pending.opId !== opId) return;
    this.next(c);
  }

  private next(c: Client): void {
    c.pending = null;
    this.queue.push(this.now + this.rng.int(0, 10), { kind: 'client', client: c.id });
  }

  // ---------------------------------------------------------------- nemesis

  private nemesis(): void {
    const all = [...this.nodes.values()];
    const up = all.filter((n) => n.raw !== null);
    const leader = up.find((n) => n.raw?.raft.role === 'leader');
    const w = WEIGHTS[this.scenario];
    const actions: [number, () => void][] = [
      [w.partition, () => this.partitionRandom(all)],
      [w.heal, () => this.heal()],
      [w.isolate, () => leader && this.isolate(leader)],
      [w.asymmetric, () => this.asymmetric(all)],
      [w.crash, () => this.crashSome(up, leader)],
      [w.crashAfterPersist, () => this.crashAfterPersist(up)],
      [w.pause, () => this.pause(up)],
      [w.clockJump, () => this.clockJump(up)],
      [w.membership, () => leader && this.changeMembership(leader)],
      [w.transfer, () => leader && this.transfer(leader)],
      [w.nothing, () => undefined],
    ];
    let roll = this.rng.float() * actions.reduce((s, [w]) => s + w, 0);
    for (const [w, act] of actions) {
      roll -= w;
      if (roll < 0) {
        act();
        return;
      }
    }
  }

  private partitionRandom(all: SimNode[]): void {
    const ids = all.map((n) => n.id);
    const a = ids.filter(() => this.rng.chance(0.5));
    const b = ids.filter((id) => !a.includes(id));
    this.net.heal();
    this.net.split(a, b);
    this.stats.partitions++;
    this.trace(`partition [${a.join(',')}] | [${b.join(',')}]`);
  }

  private isolate(n: SimNode): void {
    this.net.heal();
    this.net.split([n.id], [...this.nodes.keys()].filter((id) => id !== n.id));
    this.stats.partitions++;
    this.trace(`isolate ${n.id}`);
  }

  private asymmetric(all: SimNode[]): void {
    if (all.length < 2) return;
    const from = this.rng.pick(all).id;
    const to = this.rng.pick(all).id;
    if (from === to) return;
    this.net.block(from, to);
    this.stats.partitions++;
    this.trace(`block ${from} -> ${to}`);
  }

  private heal(): void {
    this.net.heal();
    this.trace('heal network');
  }

  private crashSome(up: SimNode[], leader: SimNode | undefined): void {
    const leaderBias = this.scenario === 'leader-churn' ? 0.8 : 0.5;
    const victim = leader && this.rng.chance(leaderBias) ? leader : up.length > 0 ? this.rng.pick(up) : undefined;
    if (!victim) return;
    this.crash(victim);
    const downFor = this.scenario === 'leader-churn' ? this.rng.int(10, 150) : this.rng.int(10, 500);
    this.queue.push(this.now + downFor, { kind: 'restart', node: victim.id });
  }

  /** Arms a crash between the fsync of a member's next Ready and the sending of its messages. */
  private crashAfterPersist(up: SimNode[]): void {
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    n.crashAfterPersist = true;
    this.trace(`${n.id} will crash after its next fsync`);
  }

  private pause(up: SimNode[]): void {
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    n.pausedUntil = this.now + this.rng.int(50, 400);
    this.trace(`${n.id} pauses until ${n.pausedUntil}`);
  }

  private clockJump(up: SimNode[]): void {
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    n.clockOffset += this.rng.int(-20_000, 20_000);
    this.trace(`${n.id} clock jumps to offset ${n.clockOffset}`);
  }

  /**
   * Proposes a random valid membership change on the leader; in membership-churn, a burst of
   * them (a correct leader refuses all but the first) followed by a partition half the time.
   */
  private changeMembership(leader: SimNode): void {
    const burst = this.scenario === 'membership-churn' ? this.rng.int(1, 3) : 1;
    for (let i = 0; i < burst; i++) this.proposeOneChange(leader);
    if (this.scenario === 'membership-churn' && this.rng.chance(0.5)) this.partitionRandom([...this.nodes.values()]);
    this.drain(leader);
  }

  private proposeOneChange(leader: SimNode): void {
    const raw = leader.raw;
    if (raw === null || raw.raft.role !== 'leader') return;
    const config = raw.raft.configs.current();
    const options: ConfChange[] = [];
    const memberCount = config.voters.length + config.learners.length;
    if (memberCount < 7) options.push({ type: 'add-learner', node: `n${this.nextNodeNumber}` });
    for (const l of config.learners) options.push({ type: 'promote', node: l });
    for (const id of config.voters) if (config.voters.length > 1) options.push({ type: 'remove', node: id });
    for (const id of config.learners) options.push({ type: 'remove', node: id });
    if (options.length === 0) return;
    const change = this.rng.pick(options);
    try {
      raw.proposeConfChange(change);
    } catch (err) {
      if (err instanceof RaftError) return;
      throw err;
    }
    this.stats.confChanges++;
    this.trace(`${leader.id} proposes ${change.type} ${change.node}`);
    if (change.type === 'add-learner') this.addNode(this.freshId());
  }

  private transfer(leader: SimNode): void {
    const raw = leader.raw as RawNode;
    const voters = raw.raft.configs.current().voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const target = this.rng.pick(voters);
    raw.transferLeadership(target);
    this.stats.transfers++;
    this.trace(`${leader.id} transfers leadership to ${target}`);
    this.drain(leader);
  }

  // ---------------------------------------------------------------- the end: heal, progress, check

  private healPhase(): void {
    this.calm = true;
    this.net.heal();
    this.net.calm();
    for (const n of this.nodes.values()) {
      n.pausedUntil = 0;
      if (n.raw === null) {
        this.trace(`${n.id} restarts for the healing phase`);
        this.start(n);
      }
    }
    this.trace('healing phase: network healed, every member up');
    this.queue.push(this.now + 30 * ELECTION_TICKS * TICK_MS, { kind: 'liveness-probe' });
  }

  /** After healing, a leader must exist and a write must reach every member of its config. */
  private livenessProbe(): void {
    const leaders = [...this.nodes.values()].filter((n) => n.raw?.raft.role === 'leader');
    const leader = leaders.sort((a, b) => (b.raw?.raft.term ?? 0) - (a.raw?.raft.term ?? 0))[0];
    if (!leader || leader.raw === null) {
      throw new Violation('liveness', `no leader 3 s after the network healed with every member up\n${this.describeCluster()}`, this.now);
    }
    if (leader.raw.raft.leadTransferee !== null) {
      // A transfer still pending would refuse the probe; it is abandoned after a timeout.
      this.queue.push(this.now + ELECTION_TICKS * TICK_MS * 2, { kind: 'liveness-probe' });
      return;
    }
    const opId = this.nextOpId++;
    leader.raw.observeClock(this.wallClock(leader));
    const { index, term } = leader.raw.propose(encodeCommand({ opId, input: { op: 'put', key: '__probe', value: 'done' } }));
    this.probe = { opId, node: leader.id, index, term };
    this.trace(`liveness probe proposed on ${leader.id} at ${index}`);
    this.drain(leader);
    this.queue.push(this.now + 30 * ELECTION_TICKS * TICK_MS, { kind: 'end' });
  }

  private finish(): void {
    const probe = this.probe;
    if (probe === null) throw new Violation('liveness', 'the liveness probe never ran', this.now);
    const leaderNode = [...this.nodes.values()].find((n) => n.raw?.raft.role === 'leader');
    const config = leaderNode?.raw?.raft.configs.current();
    if (!config) throw new Violation('liveness', 'no leader at the end of the healing phase', this.now);
    const missing = [...config.voters, ...config.learners].filter((id) => !this.probeApplied.has(id));
    // The probe may have been lost with a leader change; then the newer leader's no-op must have
    // reached everyone, which the applied index shows.
    const maxApplied = Math.max(...[...this.nodes.values()].map((n) => n.appliedIndex));
    const behind = [...config.voters, ...config.learners].filter((id) => (this.nodes.get(id)?.appliedIndex ?? 0) < Math.min(maxApplied, probe.index));
    if (missing.length > 0 && behind.length > 0) {
      throw new Violation('liveness', `members ${behind.join(', ')} did not catch up within 3 s after healing\n${this.describeCluster()}`, this.now);
    }
    this.finished = true;
  }

  private checkLinearizability(): void {
    const result = checkLinearizable(kvModel, this.history, { maxSteps: 2_000_000 });
    if (result.result === 'illegal') {
      throw new Violation('linearizability', result.failure?.explanation ?? 'history is not linearizable', this.now);
    }
  }

  /** Every member's state, for failure reports. */
  describeCluster(): string {
    const lines: string[] = [];
    for (const n of this.nodes.values()) {
      const st = n.raw?.status();
      if (!st) {
        lines.push(`  ${n.id}: down`);
        continue;
      }
      const progress = [...st.progress].map(([id, p]) => `${id}:${p.state}/m${p.match}/n${p.next}/i${p.inflight}`).join(' ');
      lines.push(
        `  ${n.id}: ${st.role} term ${st.term} leader ${st.leader ?? '-'} commit ${st.commit} applied ${n.appliedIndex} ` +
          `log [${st.firstIndex}, ${st.lastIndex}] voters [${st.config.voters.join(',')}] learners [${st.config.learners.join(',')}]` +
          (progress ? ` progress ${progress}` : ''),
      );
    }
    return lines.join('\n');
  }

  private trace(line: string): void {
    if (this.opts.trace) this.traceLines.push(`t=${String(this.now).padStart(5)} ${line}`);
  }
}

export function simulate(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

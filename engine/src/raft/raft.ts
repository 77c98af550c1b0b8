/**
 * The Raft state machine of one member: elections (with pre-vote and check-quorum),
 * replication, commitment, ReadIndex, snapshots, membership and leadership transfer.
 *
 * It is deterministic and does no I/O: the driver feeds it ticks, messages and proposals, and
 * collects what to persist, send and apply through RawNode's Ready. Randomness (election
 * timeouts) comes from a seeded generator and time (entry timestamps) from the driver.
 */
import { ProposalDroppedError, RaftError } from './errors.js';
import { RaftInvariantError, RaftLog } from './log.js';
import { ConfigHistory, applyConfChange, isVoter, members } from './membership.js';
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, voteOutcome } from './quorum.js';
import { Random } from './random.js';
import { ReadIndexQueue } from './read-index.js';
import type { PendingRead } from './read-index.js';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer.js';
import type { Storage } from './storage.js';
import type { ClusterConfig, ConfChange, Entry, Message, NodeId, ReadState, Role, Snapshot } from './types.js';

export interface RaftOptions {
  readonly id: NodeId;
  readonly storage: Storage;
  /** Ticks without hearing from a leader before a follower campaigns (randomized up to 2x). */
  readonly electionTicks?: number;
  /** Ticks between the leader's heartbeats. Must be well below electionTicks. */
  readonly heartbeatTicks?: number;
  /** Ask for votes without raising the term first, so a partitioned node cannot disrupt. */
  readonly preVote?: boolean;
  /** A leader that has not heard from a quorum for an election timeout steps down. */
  readonly checkQuorum?: boolean;
  /** Append messages in flight per follower before the leader waits for acknowledgements. */
  readonly maxInflightMessages?: number;
  /** Soft limit on the entries in one append message. */
  readonly maxMessageBytes?: number;
  /** Soft limit on the committed entries handed out in one Ready. */
  readonly maxApplyBytes?: number;
  readonly snapshotChunkBytes?: number;
  readonly snapshotChunksInFlight?: number;
  /** Index the state machine has already applied (on restart); defaults to the snapshot. */
  readonly applied?: number;
  /** Seed of the election-timeout randomness; must differ between members (default: from the id). */
  readonly randomSeed?: number;
  /** Deliberate bugs, for tests that prove the simulator's checkers catch them. Never in production. */
  readonly testingKnobs?: RaftTestingKnobs;
}

/**
 * Switches that break Raft on purpose. Each names the safety rule it disables; the simulator's
 * tests turn one on and assert that a checker reports a violation.
 */
export interface RaftTestingKnobs {
  /** Grant votes without the election restriction (candidate's log at least as up to date). */
  readonly unsafeVoteWithoutLogCheck?: boolean;
  /** Commit an entry of an earlier term by counting replicas (the dissertation's Figure 3.7). */
  readonly unsafeCommitPreviousTermByCount?: boolean;
  /** Let a membership change be proposed while another is uncommitted. */
  readonly unsafeConcurrentConfChanges?: boolean;
  /** Answer ReadIndex from the leader's commit index without confirming leadership. */
  readonly unsafeReadIndexWithoutQuorum?: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly config: ClusterConfig;
  readonly leadTransferee: NodeId | null;
  /** Leader only: each member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: string; inflight: number; recentActive: boolean }>;
}

const DEFAULTS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxInflightMessages: 256,
  maxMessageBytes: 1 << 20,
  maxApplyBytes: 64 << 20,
  snapshotChunkBytes: 256 << 10,
  snapshotChunksInFlight: 4,
};

/** A deterministic seed that differs between members (FNV-1a of the id). */
function seedFromId(id: NodeId): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class Raft {
  readonly id: NodeId;
  term: number;
  vote: NodeId | null;
  role: Role = 'follower';
  leader: NodeId | null = null;
  readonly log: RaftLog;
  readonly configs: ConfigHistory;

  /** Messages to send, drained by RawNode into each Ready. */
  msgs: Message[] = [];
  /** Reads confirmed and ready to serve once applied reaches their index. */
  readStates: ReadState[] = [];

  private readonly opts: typeof DEFAULTS;
  private readonly knobs: RaftTestingKnobs;
  private readonly random: Random;
  private readonly progress = new Map<NodeId, Progress>();
  private readonly snapshotSenders = new Map<NodeId, SnapshotSender>();
  private readonly snapshotReceiver = new SnapshotReceiver();
  private readonly reads = new ReadIndexQueue();
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: { context: string; from: NodeId }[] = [];
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  leadTransferee: NodeId | null = null;
  private transferElapsed = 0;
  /** Leader: new entries were appended and followers have not been sent them yet. */
  private appendPending = false;
  /** Leader: reads wait for a heartbeat round to confirm leadership. */
  private heartbeatPending = false;
  /** The driver's latest wall-clock reading, for entry timestamps. */
  private clock = 0;

  constructor(options: RaftOptions) {
    this.id = options.id;
    if (this.id.length === 0) throw new RaftError('INVALID_ARGUMENT', 'member id must not be empty');
    this.opts = {
      electionTicks: options.electionTicks ?? DEFAULTS.electionTicks,
      heartbeatTicks: options.heartbeatTicks ?? DEFAULTS.heartbeatTicks,
      preVote: options.preVote ?? DEFAULTS.preVote,
      checkQuorum: options.checkQuorum ?? DEFAULTS.checkQuorum,
      maxInflightMessages: options.maxInflightMessages ?? DEFAULTS.maxInflightMessages,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      maxApplyBytes: options.maxApplyBytes ?? DEFAULTS.maxApplyBytes,
      snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes,
      snapshotChunksInFlight: options.snapshotChunksInFlight ?? DEFAULTS.snapshotChunksInFlight,
    };
    if (this.opts.heartbeatTicks <= 0 || this.opts.electionTicks <= this.opts.heartbeatTicks) {
      throw new RaftError('INVALID_ARGUMENT', 'electionTicks must be greater than heartbeatTicks, which must be positive');
    }
    this.knobs = options.testingKnobs ?? {};
    // Members must draw different election timeouts, or they split votes in lockstep forever.
    this.random = new Random(options.randomSeed ?? seedFromId(this.id));

    const storage = options.storage;
    const hs = storage.hardState();
    const snap = storage.snapshot();
    this.term = hs.term;
    this.vote = hs.vote;
    this.log = new RaftLog(storage, hs.commit, options.applied ?? snap.meta.index);
    this.configs = new ConfigHistory(snap.meta.index, snap.meta.config);
    // Configuration is that of the last config entry in the log, committed or not.
    const last = storage.lastIndex();
    for (let lo = storage.firstIndex(); lo <= last; ) {
      const batch = storage.entries(lo, last + 1, 8 << 20);
      for (const e of batch) if (e.kind === 'config') this.configs.append(e.index, e.config);
      lo += batch.length;
    }
    this.becomeFollower(this.term, null);
  }

  // ---------------------------------------------------------------- driver inputs

  /** Advances logical time by one tick. `now` is the driver's wall clock, for entry times. */
  tick(now?: number): void {
    if (now !== undefined) this.clock = now;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Sets the wall-clock reading used to timestamp entries proposed from now on. */
  observeClock(now: number): void {
    this.clock = now;
  }

  /** Proposes entries; returns the index and term the first one was given. Leader only. */
  propose(data: readonly Uint8Array[]): { index: number; term: number } {
    this.checkCanPropose();
    if (data.length === 0) throw new RaftError('INVALID_ARGUMENT', 'nothing to propose');
    let index = this.log.lastIndex();
    const time = this.nextEntryTime();
    const entries: Entry[] = data.map((d) => ({ index: ++index, term: this.term, time, kind: 'normal', data: d }));
    this.appendEntries(entries);
    return { index: (entries[0] as Entry).index, term: this.term };
  }

  /** Proposes one membership change. Leader only; at most one may be uncommitted. */
  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.checkCanPropose();
    if (!this.knobs.unsafeConcurrentConfChanges) {
      if (!this.committedInCurrentTerm()) {
        throw new RaftError('LEADER_NOT_READY', 'the leader has not yet committed an entry of its term; retry shortly');
      }
      if (this.configs.lastIndex() > this.log.committed) {
        throw new RaftError('CONF_CHANGE_PENDING', `membership change at index ${this.configs.lastIndex()} is not yet committed`);
      }
    }
    const config = applyConfChange(this.configs.current(), change);
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, time: this.nextEntryTime(), kind: 'config', change, config };
    this.appendEntries([entry]);
    return { index: entry.index, term: entry.term };
  }

  /** Starts a linearizable read; a ReadState with `context` follows once it is safe. */
  readIndex(context: string): void {
    if (this.role === 'leader') {
      this.leaderReadIndex(context, this.id);
    } else if (this.leader !== null) {
      this.send({ from: this.id, type: 'read-index', to: this.leader, term: this.term, context });
    } else {
      throw new ProposalDroppedError('NOT_LEADER', null);
    }
  }

  /** Hands leadership to `target` (a voter), e.g. before this member restarts. Leader only. */
  transferLeadership(target: NodeId): void {
    if (this.role !== 'leader') throw new ProposalDroppedError('NOT_LEADER', this.leader);
    if (target === this.id) return;
    if (!isVoter(this.configs.current(), target)) {
      throw new RaftError('INVALID_ARGUMENT', `${target} is not a voter and cannot lead`);
    }
    if (this.leadTransferee === target) return;
    this.leadTransferee = target;
    this.transferElapsed = 0;
    const pr = this.progress.get(target);
    if (pr && pr.match === this.log.lastIndex()) this.send({ from: this.id, type: 'timeout-now', to: target, term: this.term });
    else this.sendAppend(target);
  }

  /** Starts an election now (e.g. to bootstrap a single-voter cluster without waiting). */
  campaign(): void {
    if (this.role === 'leader' || !this.promotable()) return;
    this.startElection(this.opts.preVote ? 'pre' : 'real', false);
  }

  /** The driver persisted entries through `index` of `term`: the leader may count itself. */
  onStable(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.role !== 'leader') return;
    const self = this.progress.get(this.id);
    if (self && self.maybeUpdate(Math.min(index, this.log.lastStableIndex())) && this.maybeCommit()) {
      this.broadcastAppend();
    }
  }

  /** Whether proposals or reads are waiting to be sent to followers (flushed at the next Ready). */
  hasPendingBroadcast(): boolean {
    return this.appendPending || this.heartbeatPending;
  }

  /**
   * Sends what proposals and reads since the last flush need: one append per follower for all
   * new entries, one heartbeat round for all new reads. This is the batching point.
   */
  flush(): void {
    const appends = this.appendPending;
    const heartbeats = this.heartbeatPending;
    this.appendPending = false;
    this.heartbeatPending = false;
    if (this.role !== 'leader') return;
    if (appends) this.broadcastAppend();
    if (heartbeats) this.broadcastHeartbeat();
  }

  // ---------------------------------------------------------------- message handling

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote') {
        const inLease = this.opts.checkQuorum && this.leader !== null && this.electionElapsed < this.opts.electionTicks;
        // A recent leader exists: a candidate asking for votes is a disruptive server (removed,
        // or partitioned and back), unless the leader itself handed over leadership.
        if (!m.transfer && inLease) return;
      }
      if (m.type === 'vote' && m.preVote) {
        // A pre-vote does not change our term.
      } else if (m.type === 'vote-response' && m.preVote && m.granted) {
        // A granted pre-vote carries the term the candidate will campaign in.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // A stale leader cut off by a partition: our reply at our term makes it step down.
        this.send({ from: this.id, type: 'append-response', to: m.from, term: this.term, success: false, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'vote' && m.preVote) {
        this.send({ from: this.id, type: 'vote-response', to: m.from, term: this.term, preVote: true, granted: false });
      }
      return;
    }

    if (m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
      default: {
        const never: never = this.role;
        throw new RaftInvariantError(`unknown role ${String(never)}`);
      }
    }
  }

  private handleVoteRequest(m: Extract<Message, { type: 'vote' }>): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.preVote && m.term > this.term);
    const upToDate = this.knobs.unsafeVoteWithoutLogCheck || this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (canVote && upToDate) {
      // A granted pre-vote answers with the term asked for, so the candidate can count it.
      this.send({ from: this.id, type: 'vote-response', to: m.from, term: m.term, preVote: m.preVote, granted: true });
      if (!m.preVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ from: this.id, type: 'vote-response', to: m.from, term: this.term, preVote: m.preVote, granted: false });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        break;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(m.commit);
        this.send({ from: this.id, type: 'heartbeat-response', to: m.from, term: this.term, readRound: m.readRound });
        break;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshotChunk(m);
        break;
      case 'timeout-now':
        // The leader hands over: campaign at once, skipping pre-vote (the leader is cooperating).
        if (this.promotable()) this.startElection('real', true);
        break;
      case 'read-index-response':
        this.readStates.push({ context: m.context, index: m.index });
        break;
      case 'read-index':
        // Forwarded to a non-leader: the asker retries.
        break;
      case 'vote': // handled before the role switch
      case 'vote-response':
      case 'append-response':
      case 'heartbeat-response':
      case 'snapshot-response':
        break;
      default: {
        const never: never = m;
        throw new RaftInvariantError(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case 'vote-response': {
        const phasePre = this.role === 'pre-candidate';
        if (m.preVote !== phasePre) break;
        if (m.term !== (phasePre ? this.term + 1 : this.term) && m.granted) break;
        this.votes.set(m.from, m.granted);
        const outcome = voteOutcome(this.configs.current().voters, this.votes);
        if (outcome === 'won') {
          if (phasePre) this.startElection('real', false);
          else this.becomeLeader();
        } else if (outcome === 'lost') {
          this.becomeFollower(this.term, null);
        }
        break;
      }
      case 'vote': // handled before the role switch
      case 'timeout-now':
      case 'read-index':
      case 'read-index-response':
      case 'append-response':
      case 'heartbeat-response':
      case 'snapshot-response':
        break;
      default: {
        const never: never = m;
        throw new RaftInvariantError(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'append-response':
        if (!pr) break;
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        break;
      case 'heartbeat-response':
        if (!pr) break;
        pr.recentActive = true;
        pr.probeSent = false;
        pr.freeFirstOne();
        if (pr.state === 'snapshot') {
          const sender = this.snapshotSenders.get(m.from);
          if (sender && sender.resendIfStalled()) this.sendSnapshotChunks(m.from, sender);
        } else if (pr.match < this.log.lastIndex()) {
          this.sendAppend(m.from);
        }
        if (m.readRound > 0) this.releaseReads(this.reads.ack(m.from, m.readRound, this.id, this.configs.current().voters));
        break;
      case 'snapshot-response':
        if (!pr) break;
        pr.recentActive = true;
        this.handleSnapshotResponse(m, pr);
        break;
      case 'read-index':
        this.leaderReadIndex(m.context, m.from);
        break;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Same term, another leader: election safety is broken. Never continue.
        throw new RaftInvariantError(`two leaders in term ${this.term}: ${this.id} and ${m.from}`);
      case 'vote': // handled before the role switch
      case 'vote-response':
      case 'timeout-now':
      case 'read-index-response':
        break;
      default: {
        const never: never = m;
        throw new RaftInvariantError(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  // ---------------------------------------------------------------- elections

  /**
   * Whether this member may start elections: a voter in its latest configuration, or in the
   * committed one while a change that removes it is still uncommitted. The latter matters: it
   * may hold the only log that can win (dissertation, section 4.2.2). It never counts its own
   * vote unless it is a voter in its latest configuration (voteOutcome only counts voters).
   */
  private promotable(): boolean {
    return isVoter(this.configs.current(), this.id) || isVoter(this.configs.at(this.log.committed), this.id);
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(this.opts.preVote ? 'pre' : 'real', false);
    }
  }

  private startElection(phase: 'pre' | 'real', transfer: boolean): void {
    if (phase === 'pre') {
      // Pre-candidate: ask whether we could win, without raising our term.
      this.role = 'pre-candidate';
      this.leader = null;
      this.votes = new Map();
    } else {
      this.resetTerm(this.term + 1);
      this.role = 'candidate';
      this.vote = this.id;
    }
    this.votes.set(this.id, true);
    if (voteOutcome(this.configs.current().voters, this.votes) === 'won') {
      if (phase === 'pre') this.startElection('real', transfer);
      else this.becomeLeader();
      return;
    }
    const term = phase === 'pre' ? this.term + 1 : this.term;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.configs.current().voters) {
      if (id === this.id) continue;
      this.send({ from: this.id, type: 'vote', to: id, term, preVote: phase === 'pre', lastIndex, lastTerm, transfer });
    }
  }

  private resetTerm(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.opts.electionTicks + this.random.int(0, this.opts.electionTicks - 1);
    this.votes = new Map();
    this.leadTransferee = null;
    this.transferElapsed = 0;
    this.progress.clear();
    this.snapshotSenders.clear();
    this.reads.clear();
    this.readsAwaitingCommit = [];
    this.appendPending = false;
    this.heartbeatPending = false;
  }

  becomeFollower(term: number, leader: NodeId | null): void {
    this.resetTerm(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomeLeader(): void {
    if (this.role !== 'candidate') throw new RaftInvariantError(`${this.role} cannot become leader`);
    this.resetTerm(this.term);
    this.role = 'leader';
    this.leader = this.id;
    const last = this.log.lastIndex();
    for (const id of members(this.configs.current())) this.progress.set(id, this.newProgress(last + 1));
    if (!this.progress.has(this.id)) this.progress.set(this.id, this.newProgress(last + 1));
    // Check-quorum counts from the election on: followers must answer within a timeout.
    for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
    const self = this.progress.get(this.id) as Progress;
    self.match = this.log.lastStableIndex();
    self.becomeReplicate();
    // An empty entry of our term: committing it commits everything before it (section 3.6.2),
    // and it gates ReadIndex and membership changes.
    this.appendEntries([{ index: last + 1, term: this.term, time: this.nextEntryTime(), kind: 'noop' }]);
  }

  /** A member just added counts as active, so check-quorum gives it a timeout to answer. */
  private newProgress(next: number): Progress {
    const pr = new Progress(next, this.opts.maxInflightMessages);
    pr.recentActive = true;
    return pr;
  }

  // ---------------------------------------------------------------- leader duties

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum) {
        const voters = this.configs.current().voters;
        const active = hasQuorum(voters, (id) => id === this.id || (this.progress.get(id)?.recentActive ?? false));
        for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
        if (!active) {
          // Cut off from a majority: stop serving, so a stale leader cannot answer reads.
          this.becomeFollower(this.term, null);
          return;
        }
      }
    }
    if (this.leadTransferee !== null && ++this.transferElapsed >= this.opts.electionTicks) {
      // The target did not take over within an election timeout: give up, accept proposals again.
      this.leadTransferee = null;
      this.transferElapsed = 0;
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw new ProposalDroppedError('NOT_LEADER', this.leader);
    if (this.leadTransferee !== null) throw new ProposalDroppedError('TRANSFER_IN_PROGRESS', this.leader);
  }

  /** Never earlier than the entry before it: applied times never go backwards. */
  private nextEntryTime(): number {
    return Math.max(this.clock, this.log.lastTime());
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Appends entries to our log (leader side); followers receive them at the next flush. */
  private appendEntries(entries: Entry[]): void {
    this.log.append(entries);
    this.trackConfigs(entries);
    if (this.role === 'leader') {
      this.syncProgressToConfig();
      // Our own entries count once durable (onStable), so a single voter commits only then.
      this.appendPending = true;
    }
  }

  /** Keeps the configuration history in step with the log after an append. */
  private trackConfigs(appended: readonly Entry[]): void {
    const first = appended[0];
    if (first === undefined) return;
    this.configs.truncateFrom(first.index);
    for (const e of appended) if (e.kind === 'config') this.configs.append(e.index, e.config);
  }

  /** Leader: start tracking new members, stop tracking removed ones. */
  private syncProgressToConfig(): void {
    const config = this.configs.current();
    const wanted = new Set(members(config));
    for (const id of wanted) {
      if (!this.progress.has(id)) this.progress.set(id, this.newProgress(this.log.lastIndex()));
    }
    for (const id of [...this.progress.keys()]) {
      if (!wanted.has(id) && id !== this.id) {
        this.progress.delete(id);
        this.snapshotSenders.delete(id);
      }
    }
    if (this.leadTransferee !== null && !isVoter(config, this.leadTransferee)) this.leadTransferee = null;
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private broadcastHeartbeat(): void {
    const readRound = this.reads.roundToBroadcast();
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      this.send({ from: this.id, type: 'heartbeat', to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), readRound });
    }
  }

  /** Sends the next append to `to` if its window allows; falls back to a snapshot. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = prevTerm === null ? null : this.log.slice(pr.next, this.log.lastIndex() + 1, this.opts.maxMessageBytes);
    if (prevTerm === null || entries === null) {
      this.startSnapshot(to, pr);
      return true;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ from: this.id, type: 'append', to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentEntries(prevIndex + entries.length, entries.length);
    return true;
  }

  private handleAppendResponse(m: Extract<Message, { type: 'append-response' }>, pr: Progress): void {
    if (!m.success) {
      // Fast backtracking: skip the follower's whole conflicting term in one step.
      const probe = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, false);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      this.snapshotSenders.delete(m.from);
      pr.becomeProbe();
      pr.becomeReplicate();
    }
    if (this.maybeCommit()) this.broadcastAppend();
    // Keep the pipeline full.
    while (this.sendAppend(m.from, false)) {
      if (pr.state !== 'replicate') break;
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ from: this.id, type: 'timeout-now', to: m.from, term: this.term });
    }
  }

  /** Advances the commit index to what a majority of voters hold; true if it moved. */
  private maybeCommit(): boolean {
    const config = this.configs.current();
    const index = committedIndex(config.voters, (id) => this.progress.get(id)?.match ?? 0);
    if (index <= this.log.committed) return false;
    // Only entries of the current term are committed by counting (section 3.6.2, Figure 3.7).
    if (this.log.term(index) !== this.term && !this.knobs.unsafeCommitPreviousTermByCount) return false;
    const wasReady = this.committedInCurrentTerm();
    this.log.commitTo(index);
    if (!wasReady && this.committedInCurrentTerm()) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const r of waiting) this.leaderReadIndex(r.context, r.from);
    }
    // Removed from the voters and the removal is committed: hand over and step down. The most
    // caught-up voter is told to campaign at once (as in a transfer), so the cluster does not
    // wait an election timeout for a leader; any election is safe, so this costs nothing.
    if (!isVoter(config, this.id) && this.configs.lastIndex() <= this.log.committed) {
      const successor = config.voters
        .map((id) => ({ id, match: this.progress.get(id)?.match ?? 0 }))
        .sort((a, b) => b.match - a.match || (a.id < b.id ? -1 : 1))[0];
      if (successor) this.send({ from: this.id, type: 'timeout-now', to: successor.id, term: this.term });
      this.becomeFollower(this.term, null);
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- reads

  private leaderReadIndex(context: string, from: NodeId): void {
    if (this.knobs.unsafeReadIndexWithoutQuorum) {
      this.releaseReads([{ context, index: this.log.committed, from, round: 0 }]);
      return;
    }
    if (!this.committedInCurrentTerm()) {
      // Our commit index may lag what earlier leaders committed until our no-op commits.
      this.readsAwaitingCommit.push({ context, from });
      return;
    }
    const voters = this.configs.current().voters;
    this.reads.add(context, this.log.committed, from);
    if (voters.length === 1 && voters[0] === this.id) {
      this.releaseReads(this.reads.release(this.id, voters));
      return;
    }
    this.heartbeatPending = true;
  }

  private releaseReads(done: readonly PendingRead[]): void {
    for (const r of done) {
      if (r.from === this.id) this.readStates.push({ context: r.context, index: r.index });
      else this.send({ from: this.id, type: 'read-index-response', to: r.from, term: this.term, context: r.context, index: r.index });
    }
  }

  // ---------------------------------------------------------------- followers

  private handleAppend(m: Extract<Message, { type: 'append' }>): void {
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit index already matches the leader's log.
      this.send({ from: this.id, type: 'append-response', to: m.from, term: this.term, success: true, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const result = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (result !== null) {
      this.trackConfigs(result.appended);
      this.log.commitTo(Math.min(m.commit, result.lastNew));
      this.send({ from: this.id, type: 'append-response', to: m.from, term: this.term, success: true, index: result.lastNew, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({ from: this.id, type: 'append-response', to: m.from, term: this.term, success: false, index: m.prevIndex, hintIndex: hint.index, hintTerm: hint.term });
  }

  // ---------------------------------------------------------------- snapshots

  private startSnapshot(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) throw new RaftInvariantError(`${to} needs compacted entries but there is no snapshot`);
    pr.becomeSnapshot(snap.meta.index);
    const sender = new SnapshotSender(snap, this.opts.snapshotChunkBytes, this.opts.snapshotChunksInFlight);
    this.snapshotSenders.set(to, sender);
    this.sendSnapshotChunks(to, sender);
  }

  private sendSnapshotChunks(to: NodeId, sender: SnapshotSender): void {
    for (const c of sender.nextChunks()) this.send({ from: this.id, type: 'snapshot', to, term: this.term, ...c });
  }

  private handleSnapshotResponse(m: Extract<Message, { type: 'snapshot-response' }>, pr: Progress): void {
    const sender = this.snapshotSenders.get(m.from);
    if (pr.state !== 'snapshot' || !sender || sender.index !== m.index) return;
    if (m.done) {
      this.snapshotSenders.delete(m.from);
      pr.maybeUpdate(m.index);
      pr.becomeProbe();
      this.sendAppend(m.from);
    } else if (m.reject) {
      sender.rewind(m.nextOffset);
      this.sendSnapshotChunks(m.from, sender);
    } else {
      sender.ack(m.nextOffset);
      this.sendSnapshotChunks(m.from, sender);
    }
  }

  private handleSnapshotChunk(m: Extract<Message, { type: 'snapshot' }>): void {
    const reply = (nextOffset: number, done: boolean, reject: boolean): void =>
      this.send({ from: this.id, type: 'snapshot-response', to: m.from, term: this.term, index: m.meta.index, nextOffset, done, reject });
    if (m.meta.index <= this.log.committed) {
      // We already have (and committed) everything it covers.
      this.snapshotReceiver.reset();
      reply(m.totalBytes, true, false);
      return;
    }
    const r = this.snapshotReceiver.accept(m);
    switch (r.kind) {
      case 'more':
        reply(r.nextOffset, false, false);
        return;
      case 'reject':
        reply(r.nextOffset, false, true);
        return;
      case 'complete':
        this.restore(r.snapshot);
        reply(m.totalBytes, true, false);
        return;
      default: {
        const never: never = r;
        throw new RaftInvariantError(`unknown receive result ${JSON.stringify(never)}`);
      }
    }
  }

  private restore(snap: Snapshot): void {
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // Our log already holds the snapshot's last entry: just commit up to it.
      this.log.commitTo(snap.meta.index);
      return;
    }
    this.log.restore(snap);
    this.configs.reset(snap.meta.index, snap.meta.config);
  }

  // ---------------------------------------------------------------- helpers

  /** Queues a message (built whole at the call site: spreading it in here was the hot spot). */
  private send(m: Message): void {
    this.msgs.push(m);
  }

  maxApplyBytes(): number {
    return this.opts.maxApplyBytes;
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, { match: number; next: number; state: string; inflight: number; recentActive: boolean }>();
    for (const [id, pr] of this.progress) {
      progress.set(id, { match: pr.match, next: pr.next, state: pr.state, inflight: pr.inflightCount(), recentActive: pr.recentActive });
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      config: this.configs.current(),
      leadTransferee: this.leadTransferee,
      progress,
    };
  }
}

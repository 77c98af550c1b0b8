/**
 * A small pure model of a LeviathanCluster on Kubernetes, to execute the planner's steps and the
 * world's faults against: a StatefulSet that creates and deletes pods, volumes that hold a member's
 * identity, engines that found, join as learners, catch up and elect leaders, and an operator
 * memory (status). It is deliberately simple (one Raft group, one global truth instead of per-node
 * views), but it follows the rules that matter to the planner:
 *
 * - a pod on an empty volume gets a new incarnation; it founds the cluster only when the ConfigMap
 *   named it when it started, else it joins as a learner once a leader exists;
 * - a pod on a volume resumes that incarnation (a member, or stranded if no longer in the config);
 * - a pod is ready when it runs, is a member and a leader is known (the engine's /readyz);
 * - a restarted or new member is behind until a tick after it runs;
 * - a leader exists while a quorum of voters run; a lost leader is replaced by a running voter.
 *
 * Every planned step is checked as it is applied (`violations`): the safety properties of the
 * issue, stated on the model's truth rather than on what the planner was shown.
 */
import type { Desired, Observed, ObservedMember, PlanMemory, Step } from '../../src/plan/index.js';

/** The model's own majority arithmetic: an oracle must not share the code it judges. */
const quorum = (voters: number): number => Math.floor(voters / 2) + 1;

export const NAME = 'db';
export const MAX_LAG = 10;
const BEHIND_LAG = 50;

type Phase = 'starting' | 'running' | 'sick';

interface Pod {
  readonly ordinal: number;
  readonly uid: string;
  readonly hash: string;
  /** LEVIATHAN_BOOTSTRAP_MEMBER as read when the container started. */
  readonly bootstrapEnv: string | null;
  phase: Phase;
  terminating: boolean;
  /** Identity of the engine once it runs (from the volume, or new). */
  memberId: string | null;
  /** Started on an empty volume and not a member yet: the engine keeps asking to join. */
  joining: boolean;
}

interface Member {
  role: 'voter' | 'learner';
  caughtUp: boolean;
}

export type Fault =
  | { readonly kind: 'scale'; readonly replicas: number }
  | { readonly kind: 'template-change' }
  | { readonly kind: 'delete-pod'; readonly ordinal: number }
  | { readonly kind: 'wipe-volume'; readonly ordinal: number }
  | { readonly kind: 'sick'; readonly ordinal: number }
  | { readonly kind: 'heal'; readonly ordinal: number }
  | { readonly kind: 'lag'; readonly ordinal: number }
  | { readonly kind: 'leader-change'; readonly pick: number }
  | { readonly kind: 'stale-memory'; readonly back: number }
  /** The resource is deleted (owned objects garbage-collected, volumes per retention) and created again. */
  | { readonly kind: 'recreate-resource' };

const podName = (o: number): string => `${NAME}-${o}`;
const nameOf = (id: string): string => id.slice(0, id.lastIndexOf('@'));
const ordinalOf = (id: string): number => Number(nameOf(id).slice(NAME.length + 1));

export class ClusterModel {
  desired: Desired;
  memory: PlanMemory = { bootstrapped: false, pendingStep: null };
  sts: number | null = null;
  readonly pods = new Map<number, Pod>();
  /** Volumes: ordinal -> identity written on it (null: empty). */
  readonly volumes = new Map<number, string | null>();
  readonly members = new Map<string, Member>();
  leader: string | null = null;
  /** The ConfigMap's bootstrap-member, as last applied by the operator. */
  configMapBootstrap: string | null = null;
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  /** Steps taken, for the stale-memory fault. */
  readonly history: Step[] = [];
  private seq = 0;

  constructor(replicas: number, volumeRetention: Desired['volumeRetention'], updateStrategy: Desired['updateStrategy'] = 'RollingUpdate') {
    this.desired = { name: NAME, replicas, templateHash: 't0', volumeRetention, updateStrategy, maxLag: MAX_LAG };
  }

  // ----- what the operator sees ------------------------------------------------------------------

  private running(p: Pod | undefined): p is Pod {
    return p !== undefined && p.phase === 'running' && !p.terminating;
  }

  /** The member runs: its pod runs this very incarnation. */
  up(id: string): boolean {
    const p = this.pods.get(ordinalOf(id));
    return this.running(p) && p.memberId === id;
  }

  private ready(p: Pod): boolean {
    return this.running(p) && p.memberId !== null && this.members.has(p.memberId) && this.leader !== null;
  }

  observe(): Observed {
    const pods = [...this.pods.values()]
      .sort((a, b) => a.ordinal - b.ordinal)
      .map((p) => ({ name: podName(p.ordinal), ordinal: p.ordinal, uid: p.uid, ready: this.ready(p), terminating: p.terminating, templateHash: p.hash, memberId: this.running(p) ? p.memberId : null }));
    const pvcs = [...this.volumes.keys()].sort((a, b) => a - b).map((o) => ({ name: `data-${NAME}-${o}`, ordinal: o, terminating: false }));
    const anyoneAnswers = [...this.pods.values()].some((p) => this.running(p) && p.memberId !== null && this.members.has(p.memberId));
    const members: ObservedMember[] = [...this.members.entries()].map(([id, m]) =>
      this.leader === null
        ? { id, role: m.role, lag: null, active: null }
        : { id, role: m.role, lag: id === this.leader || m.caughtUp ? 0 : BEHIND_LAG, active: this.up(id) },
    );
    return {
      statefulSet: this.sts === null ? null : { replicas: this.sts },
      pods,
      pvcs,
      group0: anyoneAnswers ? { groupId: 0, partition: null, leaderId: this.leader, members } : null,
      partitions: [],
    };
  }

  // ----- Raft truth --------------------------------------------------------------------------------

  voters(): string[] {
    return [...this.members.entries()].filter(([, m]) => m.role === 'voter').map(([id]) => id);
  }

  /** Voters that run and hold every committed entry (the leader does by definition). */
  caughtUpVoters(): string[] {
    return this.voters().filter((id) => this.up(id) && (id === this.leader || (this.members.get(id)?.caughtUp ?? false)));
  }

  /** Identities that were ever in a configuration: their volumes hold Raft state. */
  private readonly everMember = new Set<string>();

  /** Elections: a leader exists exactly while a quorum of voters runs. */
  settle(): void {
    for (const id of this.members.keys()) this.everMember.add(id);
    const voters = this.voters();
    if (this.leader !== null && (!voters.includes(this.leader) || !this.up(this.leader))) this.leader = null;
    const running = voters.filter((id) => this.up(id));
    if (running.length < quorum(voters.length)) {
      this.leader = null;
      return;
    }
    if (this.leader === null) {
      // The election restriction: the winner holds every committed entry.
      const winner = running.find((id) => this.members.get(id)?.caughtUp) ?? running[0];
      if (winner !== undefined) {
        this.leader = winner;
        const m = this.members.get(winner);
        if (m) m.caughtUp = true;
      }
    }
  }

  // ----- Kubernetes and engines --------------------------------------------------------------------

  private createPod(ordinal: number): void {
    if (!this.volumes.has(ordinal)) this.volumes.set(ordinal, null);
    this.pods.set(ordinal, { ordinal, uid: `u${++this.seq}`, hash: this.desired.templateHash, bootstrapEnv: this.configMapBootstrap, phase: 'starting', terminating: false, memberId: null, joining: false });
    this.trace.push(`  k8s: pod ${podName(ordinal)} created`);
  }

  /**
   * The engine process starts: identity from the volume, or a new one. A volume with Raft state
   * resumes; one without (empty, or an identity that never became a member) founds the cluster
   * when the ConfigMap named this pod, else keeps asking to join.
   */
  private start(p: Pod): void {
    p.phase = 'running';
    const onVolume = this.volumes.get(p.ordinal) ?? null;
    if (onVolume !== null && this.everMember.has(onVolume)) {
      p.memberId = onVolume;
      const m = this.members.get(onVolume);
      if (m) m.caughtUp = false;
      return;
    }
    const id = onVolume ?? `${podName(p.ordinal)}@${++this.seq}`;
    this.volumes.set(p.ordinal, id);
    p.memberId = id;
    p.joining = p.bootstrapEnv !== podName(p.ordinal);
    if (!p.joining) {
      // Founding a second cluster is only harmless if nothing of the first one survives.
      const survivors = [...this.members.keys()].filter((mid) => [...this.volumes.values()].includes(mid));
      if (survivors.length > 0) this.violations.push(`${id} founded a new cluster while ${survivors.join(', ')} still hold data of the existing one`);
      this.members.clear();
      this.members.set(id, { role: 'voter', caughtUp: true });
      this.leader = id;
      this.trace.push(`  engine: ${id} founded the cluster`);
    }
  }

  /** Time passes: the StatefulSet controller acts, engines start, join and catch up. */
  tick(): void {
    for (const p of [...this.pods.values()]) if (p.terminating) this.pods.delete(p.ordinal);
    if (this.sts !== null) for (let o = 0; o < this.sts; o++) if (!this.pods.has(o)) this.createPod(o);
    // Members that ran through the whole tick catch up.
    for (const [id, m] of this.members) if (this.up(id)) m.caughtUp = true;
    for (const p of this.pods.values()) if (p.phase === 'starting') this.start(p);
    this.settle();
    // Engines on empty volumes ask to join (--learner) once there is a leader.
    for (const p of this.pods.values()) {
      if (!this.running(p) || p.memberId === null || !p.joining) continue;
      if (this.members.has(p.memberId)) p.joining = false;
      else if (this.leader !== null) {
        this.members.set(p.memberId, { role: 'learner', caughtUp: false });
        p.joining = false;
        this.trace.push(`  engine: ${p.memberId} joined as a learner`);
      }
    }
    this.settle();
  }

  // ----- faults ------------------------------------------------------------------------------------

  fault(f: Fault): void {
    this.trace.push(`fault: ${JSON.stringify(f)}`);
    const p = 'ordinal' in f ? this.pods.get(f.ordinal) : undefined;
    switch (f.kind) {
      case 'scale':
        this.desired = { ...this.desired, replicas: f.replicas };
        break;
      case 'template-change':
        this.desired = { ...this.desired, templateHash: `t${++this.seq}` };
        break;
      case 'delete-pod':
        if (p && !p.terminating) {
          this.pods.delete(f.ordinal);
          if (this.sts !== null && f.ordinal < this.sts) this.createPod(f.ordinal);
        }
        break;
      case 'wipe-volume':
        if (p && !p.terminating) {
          this.pods.delete(f.ordinal);
          this.volumes.delete(f.ordinal);
          if (this.sts !== null && f.ordinal < this.sts) this.createPod(f.ordinal);
        }
        break;
      case 'sick':
        if (p && p.phase === 'running') p.phase = 'sick';
        break;
      case 'heal':
        if (p && p.phase === 'sick') p.phase = 'running';
        break;
      case 'lag':
        if (p?.memberId && p.memberId !== this.leader) {
          const m = this.members.get(p.memberId);
          if (m) m.caughtUp = false;
        }
        break;
      case 'leader-change': {
        const others = this.caughtUpVoters().filter((id) => id !== this.leader);
        const to = others[f.pick % Math.max(1, others.length)];
        if (to !== undefined) this.leader = to;
        break;
      }
      case 'stale-memory': {
        // Status written long ago (or by an operator that lost its race): an old pending step.
        const old = this.history[this.history.length - 1 - f.back];
        if (old !== undefined) this.memory = { ...this.memory, pendingStep: old };
        break;
      }
      case 'recreate-resource':
        this.pods.clear();
        this.sts = null;
        this.configMapBootstrap = null;
        this.memory = { bootstrapped: false, pendingStep: null };
        this.history.length = 0;
        if (this.desired.volumeRetention === 'Delete') this.volumes.clear();
        break;
      default: {
        const never: never = f;
        throw new Error(`unknown fault ${JSON.stringify(never)}`);
      }
    }
    this.settle();
  }

  // ----- the operator's steps ----------------------------------------------------------------------

  /** The controller's apply of owned objects: the ConfigMap's bootstrap-member, as the planner says. */
  applyConfigMap(member: string | null): void {
    this.configMapBootstrap = member;
  }

  private violate(step: Step, what: string): void {
    this.violations.push(`${step.kind} ${JSON.stringify(step)}: ${what}`);
  }

  apply(step: Step): void {
    this.trace.push(`step: ${step.kind} ${JSON.stringify({ ...step, reason: undefined })} — ${step.reason}`);
    this.history.push(step);
    const votersBefore = this.voters().length;
    const caughtUpBefore = this.caughtUpVoters().length;
    const hadQuorum = caughtUpBefore >= quorum(votersBefore);
    switch (step.kind) {
      case 'scale-statefulset':
        this.sts = step.replicas;
        for (const p of this.pods.values()) if (p.ordinal >= step.replicas) p.terminating = true;
        break;
      case 'mark-bootstrapped':
        this.memory = { ...this.memory, bootstrapped: true };
        break;
      case 'add-learner':
        if (!this.members.has(step.memberId)) this.members.set(step.memberId, { role: 'learner', caughtUp: false });
        break;
      case 'promote': {
        const m = this.members.get(step.memberId);
        if (m === undefined || m.role !== 'learner') this.violate(step, 'not a learner');
        else if (!m.caughtUp || !this.up(step.memberId)) this.violate(step, 'promoted a learner that had not caught up');
        else m.role = 'voter';
        break;
      }
      case 'remove-member':
        this.members.delete(step.memberId);
        break;
      case 'transfer-leadership':
        if (this.leader !== step.from) this.violate(step, `${step.from} was not the leader`);
        else if (!this.caughtUpVoters().includes(step.to)) this.violate(step, `${step.to} is not a caught-up voter`);
        else this.leader = step.to;
        break;
      case 'restart-pod': {
        const p = this.pods.get(ordinalOf(`${step.podName}@x`));
        if (p === undefined || p.uid !== step.podUid) break;
        const id = p.memberId;
        if (id !== null && id === this.leader) {
          const others = this.caughtUpVoters().filter((v) => v !== id);
          if (others.length > 0) this.violate(step, `restarted the leader ${id} while ${others.join(', ')} could take over`);
        }
        this.pods.delete(p.ordinal);
        if (this.sts !== null && p.ordinal < this.sts) this.createPod(p.ordinal);
        break;
      }
      case 'delete-pvc': {
        if (this.pods.has(step.ordinal)) this.violate(step, `deleted the volume of ${podName(step.ordinal)} while its pod exists`);
        const still = [...this.members.keys()].filter((id) => nameOf(id) === podName(step.ordinal));
        if (still.length > 0) this.violate(step, `deleted the volume of ${podName(step.ordinal)} while ${still.join(', ')} is a member`);
        this.volumes.delete(step.ordinal);
        break;
      }
      default: {
        const never: never = step;
        throw new Error(`unknown step ${JSON.stringify(never)}`);
      }
    }
    this.settle();
    // The central property: a quorum of caught-up voters of the NEW configuration survives every
    // step, unless it was already lost, or a group that tolerates no failure (one or two voters)
    // restarts a member during a rollout: nothing could prevent that.
    const voters = this.voters().length;
    const caughtUp = this.caughtUpVoters().length;
    const unavoidable = step.kind === 'restart-pod' && votersBefore - quorum(votersBefore) === 0;
    if (hadQuorum && !unavoidable && caughtUp < quorum(voters)) {
      this.violate(step, `left ${caughtUp} caught-up voter(s) of ${voters}, fewer than a quorum (${quorum(voters)}); before: ${caughtUpBefore} of ${votersBefore}`);
    }
  }

  // ----- the end state -----------------------------------------------------------------------------

  /** Whether a quorum of the voters can ever run again (their data survives). */
  recoverable(): boolean {
    // Before the operator saw a leader, ordinal 0 may found (again): see resources/bootstrap.ts;
    // unless volumes of other ordinals exist, which are adopted and must elect a leader.
    if (!this.memory.bootstrapped && ![...this.volumes.keys()].some((o) => o >= 1)) return true;
    const voters = this.voters();
    if (voters.length === 0) return false;
    const alive = voters.filter((id) => this.volumes.get(ordinalOf(id)) === id);
    return alive.length >= quorum(voters.length);
  }

  /** Heal every sick pod: faults stop. */
  healAll(): void {
    for (const p of this.pods.values()) if (p.phase === 'sick') p.phase = 'running';
    this.settle();
  }

  /** What "converged" means, as a list of what is still off. */
  convergenceProblems(): string[] {
    const n = this.desired.replicas;
    const out: string[] = [];
    if (this.sts !== n) out.push(`StatefulSet has ${this.sts} replicas, want ${n}`);
    if (this.leader === null) out.push('no leader');
    for (let o = 0; o < n; o++) {
      const p = this.pods.get(o);
      const id = this.volumes.get(o);
      if (!p || id === undefined || id === null) {
        out.push(`${podName(o)} missing`);
        continue;
      }
      if (this.members.get(id)?.role !== 'voter') out.push(`${id} is not a voter`);
      // Under OnDelete a pod keeps its template until someone deletes it.
      if (p.hash !== this.desired.templateHash && this.desired.updateStrategy === 'RollingUpdate') out.push(`${podName(o)} runs template ${p.hash}`);
    }
    if (this.members.size !== n) out.push(`${this.members.size} members: ${[...this.members.keys()].join(', ')}`);
    if (this.desired.volumeRetention === 'Delete') for (const o of this.volumes.keys()) if (o >= n) out.push(`volume of ordinal ${o} left behind`);
    return out;
  }
}

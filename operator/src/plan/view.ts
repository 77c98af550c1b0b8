/**
 * The planner's reading of the observed state: each Raft member joined with its pod, judged
 * healthy or not, caught up or not, and placed relative to the desired size. Computed once per
 * plan() call; every rule and every safety check reads this, never the raw input.
 */
import { ordinalOf, podName } from '../resources/index.js';
import type { Desired, MemberRole, Observed, ObservedGroup, ObservedPod, PlanMemory } from './types.js';

export interface MemberState {
  readonly id: string;
  /** The member name (the pod name), `id` without `@incarnation`. */
  readonly name: string;
  /** Ordinal of the pod it names; null for a name that is none of this resource's pods. */
  readonly ordinal: number | null;
  readonly role: MemberRole;
  readonly isLeader: boolean;
  readonly lag: number | null;
  /** Its pod exists, is ready, runs this incarnation, and the leader hears from it. */
  readonly healthy: boolean;
  /** Healthy and within maxLag of the leader (the leader always is). */
  readonly caughtUp: boolean;
  /** Its pod reports another incarnation: this member's data is gone for good. */
  readonly replaced: boolean;
  /** Ordinal at or beyond the desired size: scale-down will remove it. */
  readonly departing: boolean;
  /** Why it is not healthy (or not caught up); null when it is both. */
  readonly problem: string | null;
}

export interface GroupState {
  readonly groupId: number;
  readonly partition: number | null;
  /** "group 0" or "partition 2 (group 7)", for reasons. */
  readonly label: string;
  readonly leaderId: string | null;
  readonly members: readonly MemberState[];
  readonly voters: readonly MemberState[];
  readonly learners: readonly MemberState[];
  readonly leader: MemberState | null;
}

export interface View {
  readonly desired: Desired;
  readonly observed: Observed;
  readonly memory: PlanMemory;
  /** Observed StatefulSet replicas; null when it does not exist. */
  readonly stsReplicas: number | null;
  readonly podByName: ReadonlyMap<string, ObservedPod>;
  /** Group 0 first, then partitions; empty when group 0 was not observed. */
  readonly groups: readonly GroupState[];
  readonly group0: GroupState | null;
}

export function memberName(id: string): string {
  const at = id.lastIndexOf('@');
  return at < 0 ? id : id.slice(0, at);
}

function groupLabel(g: ObservedGroup): string {
  return g.partition === null ? `group ${g.groupId}` : `partition ${g.partition} (group ${g.groupId})`;
}

function assessGroup(desired: Desired, pods: ReadonlyMap<string, ObservedPod>, g: ObservedGroup): GroupState {
  const members = g.members.map((m): MemberState => {
    const name = memberName(m.id);
    const ordinal = ordinalOf(desired.name, name);
    const pod = pods.get(name);
    const isLeader = m.id === g.leaderId;
    let problem: string | null = null;
    let replaced = false;
    if (ordinal === null) problem = `${m.id} is not one of ${desired.name}'s pods`;
    else if (pod === undefined) problem = `the pod of ${m.id} does not exist`;
    else if (pod.terminating) problem = `the pod of ${m.id} is terminating`;
    else if (pod.memberId !== null && pod.memberId !== m.id) {
      replaced = true;
      problem = `${name} came back as ${pod.memberId} (its volume was lost): ${m.id} is gone for good`;
    } else if (!pod.ready) problem = `the pod of ${m.id} is not ready`;
    else if (!isLeader && m.active !== true) problem = m.active === null ? `the leader's view of ${m.id} is unknown` : `the leader has not heard from ${m.id}`;
    const healthy = problem === null;
    const lag = isLeader ? 0 : m.lag;
    const caughtUp = healthy && lag !== null && lag <= desired.maxLag;
    if (healthy && !caughtUp) problem = lag === null ? `the lag of ${m.id} is unknown` : `${m.id} is ${lag} entries behind the leader`;
    return { id: m.id, name, ordinal, role: m.role, isLeader, lag, healthy, caughtUp, replaced, departing: ordinal !== null && ordinal >= desired.replicas, problem };
  });
  const voters = members.filter((m) => m.role === 'voter');
  return {
    groupId: g.groupId,
    partition: g.partition,
    label: groupLabel(g),
    leaderId: g.leaderId,
    members,
    voters,
    learners: members.filter((m) => m.role === 'learner'),
    leader: members.find((m) => m.isLeader) ?? null,
  };
}

export function viewOf(desired: Desired, observed: Observed, memory: PlanMemory): View {
  const podByName = new Map(observed.pods.map((p) => [p.name, p]));
  const group0 = observed.group0 === null ? null : assessGroup(desired, podByName, observed.group0);
  const groups = group0 === null ? [] : [group0, ...observed.partitions.map((g) => assessGroup(desired, podByName, g))];
  return { desired, observed, memory, stsReplicas: observed.statefulSet?.replicas ?? null, podByName, groups, group0 };
}

/** Highest ordinal of any member of any group, or -1. */
export function highestMemberOrdinal(v: View): number {
  let max = -1;
  for (const g of v.groups) for (const m of g.members) if (m.ordinal !== null && m.ordinal > max) max = m.ordinal;
  return max;
}

/** Whether any group holds a member with this pod name (any incarnation). */
export function nameIsMember(v: View, name: string): boolean {
  return v.groups.some((g) => g.members.some((m) => m.name === name));
}

/** The groups in which this pod's member leads. */
export function groupsLedBy(v: View, name: string): GroupState[] {
  return v.groups.filter((g) => g.leader !== null && g.leader.name === name);
}

export function podOf(v: View, ordinal: number): ObservedPod | undefined {
  return v.podByName.get(podName(v.desired.name, ordinal));
}

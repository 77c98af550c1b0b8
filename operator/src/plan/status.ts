/**
 * The observed part of a resource's status: sizes, the leader, each member's role, health and lag,
 * and for topics each partition's leader. Conditions are in conditions.ts.
 */
import type { DisheapTopicStatus, LeviathanClusterStatus, MemberRoleName, MemberStatus, PartitionStatus } from '../api/index.js';
import type { Desired, Observed } from './types.js';
import { viewOf } from './view.js';
import type { MemberState, View } from './view.js';

export interface StatusContext {
  /** metadata.generation of the resource this status describes. */
  readonly generation: number;
  /** The pod selector, for the scale subresource. */
  readonly selector: string;
}

function role(m: MemberState): MemberRoleName {
  if (m.isLeader) return 'Leader';
  return m.role === 'voter' ? 'Follower' : 'Learner';
}

function members(v: View): MemberStatus[] {
  return [...(v.group0?.members ?? [])]
    .sort((a, b) => (a.ordinal ?? Number.MAX_SAFE_INTEGER) - (b.ordinal ?? Number.MAX_SAFE_INTEGER) || (a.id < b.id ? -1 : 1))
    .map((m) => ({ name: m.name, id: m.id, role: role(m), healthy: m.healthy, ...(m.lag === null ? {} : { lag: m.lag }) }));
}

/** Pods whose member is caught up in every group it belongs to. */
function caughtUpEverywhere(v: View): number {
  const names = new Set((v.group0?.members ?? []).map((m) => m.name));
  let n = 0;
  for (const name of names) {
    const all = v.groups.flatMap((g) => g.members.filter((m) => m.name === name && !m.replaced));
    if (all.length > 0 && all.every((m) => m.caughtUp)) n++;
  }
  return n;
}

type ObservedStatus<S> = Omit<S, 'conditions'>;

export function clusterStatus(desired: Desired, observed: Observed, ctx: StatusContext): ObservedStatus<LeviathanClusterStatus> {
  const v = viewOf(desired, observed, { bootstrapped: true, pendingStep: null });
  return {
    observedGeneration: ctx.generation,
    replicas: v.group0?.members.length ?? 0,
    readyReplicas: caughtUpEverywhere(v),
    selector: ctx.selector,
    ...(v.group0?.leaderId ? { leader: v.group0.leaderId } : {}),
    members: members(v),
  };
}

export function topicStatus(desired: Desired, observed: Observed, ctx: StatusContext): ObservedStatus<DisheapTopicStatus> {
  const v = viewOf(desired, observed, { bootstrapped: true, pendingStep: null });
  const partitions: PartitionStatus[] = v.groups
    .filter((g) => g.partition !== null)
    .map((g) => ({ id: g.partition ?? 0, ...(g.leaderId === null ? {} : { leader: g.leaderId }) }))
    .sort((a, b) => a.id - b.id);
  return {
    observedGeneration: ctx.generation,
    replicas: v.group0?.members.length ?? 0,
    readyReplicas: caughtUpEverywhere(v),
    selector: ctx.selector,
    partitions,
  };
}

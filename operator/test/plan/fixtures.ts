/**
 * Compact builders of planner inputs for scenario tests: a healthy cluster of n voters named
 * db-0..db-(n-1) (incarnation "i<ordinal>"), then small edits that say what is different.
 */
import type { Desired, Observed, ObservedGroup, ObservedMember, ObservedPod, PlanMemory, Step } from '../../src/plan/index.js';

export const NAME = 'db';
export const HASH = 'h1';

export const id = (ordinal: number, incarnation = `i${ordinal}`): string => `${NAME}-${ordinal}@${incarnation}`;
export const pod = (ordinal: number): string => `${NAME}-${ordinal}`;

export function desired(over: Partial<Desired> = {}): Desired {
  return { name: NAME, replicas: 3, templateHash: HASH, volumeRetention: 'Retain', updateStrategy: 'RollingUpdate', maxLag: 10, ...over };
}

export const BOOTSTRAPPED: PlanMemory = { bootstrapped: true, pendingStep: null };
export const FRESH: PlanMemory = { bootstrapped: false, pendingStep: null };
export const pending = (step: Step): PlanMemory => ({ bootstrapped: true, pendingStep: step });

export function podView(ordinal: number, over: Partial<ObservedPod> = {}): ObservedPod {
  return { name: pod(ordinal), ordinal, uid: `uid-${ordinal}`, ready: true, terminating: false, templateHash: HASH, memberId: id(ordinal), ...over };
}

export function voter(ordinal: number, over: Partial<ObservedMember> = {}): ObservedMember {
  return { id: id(ordinal), role: 'voter', lag: 0, active: true, ...over };
}

/** n healthy voters, db-0 leading, StatefulSet of n, a volume each. */
export function healthy(n: number, leader = 0): Observed {
  const ordinals = Array.from({ length: n }, (_, i) => i);
  return {
    statefulSet: { replicas: n },
    pods: ordinals.map((i) => podView(i)),
    pvcs: ordinals.map((i) => ({ name: `data-${NAME}-${i}`, ordinal: i, terminating: false })),
    group0: { groupId: 0, partition: null, leaderId: id(leader), members: ordinals.map((i) => voter(i)) },
    partitions: [],
  };
}

type Edit = (o: Observed) => Observed;

export const edit = (o: Observed, ...edits: Edit[]): Observed => edits.reduce((acc, e) => e(acc), o);

export const withPod =
  (ordinal: number, over: Partial<ObservedPod> | null): Edit =>
  (o) => {
    const others = o.pods.filter((p) => p.ordinal !== ordinal);
    const cur = o.pods.find((p) => p.ordinal === ordinal) ?? podView(ordinal);
    return { ...o, pods: over === null ? others : [...others, { ...cur, ...over }].sort((a, b) => a.ordinal - b.ordinal) };
  };

export const withoutPvcs =
  (...ordinals: number[]): Edit =>
  (o) => ({ ...o, pvcs: o.pvcs.filter((p) => !ordinals.includes(p.ordinal)) });

export const withPvc =
  (ordinal: number): Edit =>
  (o) => ({ ...o, pvcs: [...o.pvcs.filter((p) => p.ordinal !== ordinal), { name: `data-${NAME}-${ordinal}`, ordinal, terminating: false }] });

export const withSts =
  (replicas: number | null): Edit =>
  (o) => ({ ...o, statefulSet: replicas === null ? null : { replicas } });

const mapGroup0 = (o: Observed, f: (g: ObservedGroup) => ObservedGroup): Observed => ({ ...o, group0: o.group0 === null ? null : f(o.group0) });

export const withMember =
  (memberId: string, over: Partial<ObservedMember> | null): Edit =>
  (o) =>
    mapGroup0(o, (g) => {
      const others = g.members.filter((m) => m.id !== memberId);
      const cur = g.members.find((m) => m.id === memberId) ?? { id: memberId, role: 'voter' as const, lag: 0, active: true };
      return { ...g, members: over === null ? others : [...others, { ...cur, ...over }] };
    });

export const withLeader =
  (leaderId: string | null): Edit =>
  (o) =>
    mapGroup0(o, (g) => ({ ...g, leaderId }));

export const withoutGroup0: Edit = (o) => ({ ...o, group0: null });

export const withPartitions =
  (...groups: ObservedGroup[]): Edit =>
  (o) => ({ ...o, partitions: groups });

/** A partition group with the given voters (ordinals), led by `leader`. */
export function partition(p: number, ordinals: number[], leader: number | null): ObservedGroup {
  return { groupId: 100 + p, partition: p, leaderId: leader === null ? null : id(leader), members: ordinals.map((i) => voter(i)) };
}

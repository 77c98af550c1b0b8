/**
 * From the Status answers of a resource's pods to the planner's view of its Raft groups. Pure.
 *
 * Each group is described by its leader's answer when some pod says it leads it (only a leader
 * knows each member's lag and whether it answers); when several pods claim to lead (an old leader
 * that has not heard of the new term yet), the highest term wins. A group whose leader is unknown
 * is described from the follower with the highest term, with lag and activity unknown: the planner
 * then knows its voters (to tell an election from a lost quorum) but takes no step in it.
 */
import { MemberRole, RaftRole } from '../gen/leviathan/admin/v1/admin.js';
import type { GroupStatus, StatusResponse } from '../gen/leviathan/admin/v1/admin.js';
import type { ObservedGroup, ObservedMember } from '../plan/index.js';

export interface PodAnswer {
  readonly pod: string;
  /** null when the pod did not answer. */
  readonly status: StatusResponse | null;
}

export interface EngineView {
  /** Pod name → the member id its engine reports (name@incarnation); null when it did not answer. */
  readonly memberIds: ReadonlyMap<string, string | null>;
  readonly group0: ObservedGroup | null;
  readonly partitions: readonly ObservedGroup[];
}

interface PartitionMeta {
  readonly kind: 'partition';
  readonly topic: string;
  readonly partition: number;
}

/** The partition number of a topic's partition group, from the group's recorded meta. */
export function partitionOf(meta: string, topic: string | null): number | null {
  if (meta === '') return null;
  try {
    const m = JSON.parse(meta) as Partial<PartitionMeta>;
    if (m.kind !== 'partition' || typeof m.partition !== 'number') return null;
    if (topic !== null && m.topic !== topic) return null;
    return m.partition;
  } catch {
    return null;
  }
}

function describe(g: GroupStatus, fromLeader: boolean, partition: number | null): ObservedGroup {
  const members = g.members.map(
    (m): ObservedMember => ({
      id: m.id,
      role: m.role === MemberRole.MEMBER_ROLE_LEARNER ? 'learner' : 'voter',
      lag: fromLeader ? m.lag : null,
      active: fromLeader ? m.active : null,
    }),
  );
  return { groupId: g.groupId, partition, leaderId: fromLeader ? g.leaderId : null, members };
}

/**
 * @param topic the DisheapTopic's name (partition groups of other topics are ignored), or null
 *              for a LeviathanCluster (only group 0 matters).
 */
export function engineView(answers: readonly PodAnswer[], topic: string | null): EngineView {
  const memberIds = new Map<string, string | null>();
  const best = new Map<number, { g: GroupStatus; leader: boolean }>();
  for (const a of answers) {
    memberIds.set(a.pod, a.status?.node?.memberId ?? null);
    if (a.status === null) continue;
    const self = a.status.node?.memberId ?? '';
    for (const g of a.status.groups) {
      const leader = g.role === RaftRole.RAFT_ROLE_LEADER && g.leaderId === self;
      const cur = best.get(g.groupId);
      // A leader's view beats a follower's; among equals the higher term is the newer truth.
      if (cur === undefined || (leader && !cur.leader) || (leader === cur.leader && g.term > cur.g.term)) best.set(g.groupId, { g, leader });
    }
  }
  const g0 = best.get(0);
  const partitions: ObservedGroup[] = [];
  if (topic !== null) {
    for (const [id, { g, leader }] of best) {
      if (id === 0) continue;
      const p = partitionOf(g.meta, topic);
      if (p !== null) partitions.push(describe(g, leader, p));
    }
    partitions.sort((a, b) => (a.partition ?? 0) - (b.partition ?? 0));
  }
  return { memberIds, group0: g0 === undefined ? null : describe(g0.g, g0.leader, null), partitions };
}

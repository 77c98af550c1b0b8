/** A group's status as this node sees it: what the admin API, /raft/status and metrics show. */
import { isLearner } from '../raft/index.js';
import type { NodeId, Role } from '../raft/index.js';
import type { RaftGroup } from './raft-group.js';

export interface MemberView {
  readonly id: NodeId;
  readonly address: string | null;
  readonly role: 'voter' | 'learner';
  /** Leader only (null elsewhere). */
  readonly match: number | null;
  readonly lag: number | null;
  readonly active: boolean | null;
  readonly replicationState: string | null;
}

export interface GroupView {
  readonly groupId: number;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly recoveryFence: number;
  readonly members: readonly MemberView[];
}

export function groupView(g: RaftGroup, resolve: (id: NodeId) => string | undefined): GroupView {
  const st = g.status();
  const leader = st.role === 'leader';
  const members = [...st.config.voters, ...st.config.learners].map((id): MemberView => {
    const pr = leader ? (id === st.id ? { match: st.lastIndex, state: 'self', recentActive: true } : st.progress.get(id)) : undefined;
    return {
      id,
      address: resolve(id) ?? null,
      role: isLearner(st.config, id) ? 'learner' : 'voter',
      match: pr?.match ?? null,
      lag: pr === undefined ? null : Math.max(0, st.lastIndex - pr.match),
      active: pr?.recentActive ?? null,
      replicationState: pr?.state ?? null,
    };
  });
  return {
    groupId: g.id,
    role: st.role,
    term: st.term,
    leader: st.leader,
    commit: st.commit,
    applied: g.appliedIndex,
    firstIndex: st.firstIndex,
    lastIndex: st.lastIndex,
    snapshotIndex: g.currentSnapshotIndex,
    recoveryFence: g.recoveryFence,
    members,
  };
}

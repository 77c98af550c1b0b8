import { describe, expect, it } from 'vitest';
import { engineView, partitionOf } from '../../src/controller/engine-view.js';
import type { PodAnswer } from '../../src/controller/engine-view.js';
import { MemberRole, RaftRole } from '../../src/gen/leviathan/admin/v1/admin.js';
import type { GroupStatus, StatusResponse } from '../../src/gen/leviathan/admin/v1/admin.js';

function group(groupId: number, role: RaftRole, term: number, leaderId: string, members: [string, 'voter' | 'learner', number, boolean][], meta = ''): GroupStatus {
  return {
    groupId,
    role,
    term,
    leaderId,
    commitIndex: 0,
    appliedIndex: 0,
    firstIndex: 0,
    lastIndex: 0,
    snapshotIndex: 0,
    recoveryFence: 0,
    meta,
    members: members.map(([id, r, lag, active]) => ({ id, address: '', role: r === 'voter' ? MemberRole.MEMBER_ROLE_VOTER : MemberRole.MEMBER_ROLE_LEARNER, matchIndex: 0, lag, active, replicationState: '' })),
  };
}

function answer(pod: string, memberId: string, groups: GroupStatus[]): PodAnswer {
  const status: StatusResponse = { node: { name: pod, incarnation: memberId.split('@')[1] ?? '', memberId, address: '', version: '' }, groups };
  return { pod, status };
}

const L = RaftRole.RAFT_ROLE_LEADER;
const F = RaftRole.RAFT_ROLE_FOLLOWER;

describe('engineView', () => {
  it("describes a group by its leader's view, with lag and activity", () => {
    const v = engineView(
      [
        answer('db-0', 'db-0@a', [group(0, L, 3, 'db-0@a', [['db-0@a', 'voter', 0, true], ['db-1@b', 'voter', 7, true], ['db-2@c', 'learner', 900, false]])]),
        answer('db-1', 'db-1@b', [group(0, F, 3, 'db-0@a', [['db-0@a', 'voter', 0, false], ['db-1@b', 'voter', 0, false], ['db-2@c', 'learner', 0, false]])]),
        { pod: 'db-2', status: null },
      ],
      null,
    );
    expect(v.memberIds).toEqual(new Map([['db-0', 'db-0@a'], ['db-1', 'db-1@b'], ['db-2', null]]));
    expect(v.group0).toEqual({
      groupId: 0,
      partition: null,
      leaderId: 'db-0@a',
      members: [
        { id: 'db-0@a', role: 'voter', lag: 0, active: true },
        { id: 'db-1@b', role: 'voter', lag: 7, active: true },
        { id: 'db-2@c', role: 'learner', lag: 900, active: false },
      ],
    });
    expect(v.partitions).toEqual([]);
  });

  it('without a leader answering: members from the newest follower view, lag and leader unknown', () => {
    const v = engineView(
      [
        answer('db-1', 'db-1@b', [group(0, F, 4, 'db-0@a', [['db-0@a', 'voter', 0, false], ['db-1@b', 'voter', 0, false]])]),
        answer('db-2', 'db-2@c', [group(0, F, 5, '', [['db-0@a', 'voter', 0, false], ['db-1@b', 'voter', 0, false], ['db-2@c', 'voter', 0, false]])]),
      ],
      null,
    );
    expect(v.group0?.leaderId).toBeNull();
    expect(v.group0?.members.map((m) => [m.id, m.lag, m.active])).toEqual([
      ['db-0@a', null, null],
      ['db-1@b', null, null],
      ['db-2@c', null, null],
    ]);
  });

  it('a deposed leader (lower term) loses to the current one', () => {
    const v = engineView(
      [
        answer('db-0', 'db-0@a', [group(0, L, 2, 'db-0@a', [['db-0@a', 'voter', 0, true], ['db-1@b', 'voter', 0, true]])]),
        answer('db-1', 'db-1@b', [group(0, L, 3, 'db-1@b', [['db-0@a', 'voter', 5, false], ['db-1@b', 'voter', 0, true]])]),
      ],
      null,
    );
    expect(v.group0?.leaderId).toBe('db-1@b');
  });

  it("maps a topic's partition groups by their meta and ignores other topics' groups", () => {
    const meta = (topic: string, partition: number) => JSON.stringify({ kind: 'partition', topic, partition, config: {} });
    const v = engineView(
      [
        answer('t-0', 't-0@a', [
          group(0, L, 1, 't-0@a', [['t-0@a', 'voter', 0, true]]),
          group(7, L, 1, 't-0@a', [['t-0@a', 'voter', 0, true]], meta('t', 1)),
          group(5, L, 1, 't-0@a', [['t-0@a', 'voter', 0, true]], meta('t', 0)),
          group(9, L, 1, 't-0@a', [['t-0@a', 'voter', 0, true]], meta('other', 0)),
        ]),
      ],
      't',
    );
    expect(v.partitions.map((p) => [p.groupId, p.partition])).toEqual([
      [5, 0],
      [7, 1],
    ]);
    expect(engineView([answer('t-0', 't-0@a', [group(5, L, 1, 't-0@a', [], meta('t', 0))])], null).partitions).toEqual([]);
  });

  it('partitionOf reads only partition metas', () => {
    expect(partitionOf('', 't')).toBeNull();
    expect(partitionOf('not json', 't')).toBeNull();
    expect(partitionOf('{"kind":"catalog"}', 't')).toBeNull();
    expect(partitionOf('{"kind":"partition","topic":"t","partition":3}', 't')).toBe(3);
    expect(partitionOf('{"kind":"partition","topic":"t","partition":3}', 'u')).toBeNull();
  });
});

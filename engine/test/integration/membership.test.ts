/**
 * Membership on real processes: a wiped member comes back only as a new member, an isolated
 * follower whose log was compacted away catches up by InstallSnapshot, the admin API works from
 * any member (forwarded to the leader), and the groups of a multi-group node are independent.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { AdminServiceClient, MemberRole, RaftRole } from '../../src/gen/leviathan/admin/v1/admin.js';
import { KvError } from '../../src/kv/kv-client.js';
import { waitFor } from './engine-cluster.js';
import type { EngineCluster, EngineNode } from './engine-cluster.js';
import { expectAllReadable, metricValue, putAll, putSurely, useCluster } from './helpers.js';

const startCluster = useCluster(30_000);

async function memberIdOf(n: EngineNode): Promise<string> {
  return waitFor(`${n.name}'s member id`, async () => (await n.status())?.node.memberId);
}

/** An admin client to `address`, closed with the cluster. */
function admin(c: EngineCluster, address: string): AdminServiceClient {
  return c.adopt(new AdminServiceClient(address, grpc.credentials.createInsecure()));
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

/** Calls one admin method with a deadline. */
function rpc<Req, Res>(client: AdminServiceClient, method: Unary<Req, Res>, req: Req, timeoutMs = 20_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

describe('membership on real processes', () => {
  it('a member whose data directory was wiped rejoins only as a new member', async () => {
    const c = await startCluster({ size: 3 });
    const acked = await putAll(c, 'before', 30);
    const li = await c.waitLeader();
    const [fi, gi] = [0, 1, 2].filter((i) => i !== li) as [number, number];
    const f = c.node(fi);
    const ids = await Promise.all(c.nodes.map((n) => memberIdOf(n)));
    const oldId = ids[fi] as string;

    await f.kill();
    f.wipe();
    // Without --join it cannot start at all: an empty data directory is not the old member.
    const logFrom = f.log().length;
    c.startNode(fi);
    expect(await f.waitExit(20_000)).toBe(2);
    expect(f.log().slice(logFrom)).toContain('is empty: pass --bootstrap to start a new cluster, or --join');

    for (const [k, v] of await putAll(c, 'while-down', 20)) acked.set(k, v);

    c.startJoiner(fi);
    const newId = await memberIdOf(f);
    expect(newId).not.toBe(oldId);
    expect(newId.startsWith(`${f.name}@`)).toBe(true);
    const { view } = await c.waitVoterSet([ids[li] as string, ids[gi] as string, newId]);
    expect(view.members.map((m) => m.id)).not.toContain(oldId);
    expect(f.log().slice(logFrom)).toContain('joined the group');

    // No member keeps any trace of the old incarnation.
    await waitFor('every member to forget the old incarnation', async () => {
      const sts = await c.statuses();
      return sts.every((s) => s !== null && s.groups.every((g) => g.members.length === 3 && g.members.every((m) => m.id !== oldId)));
    });

    // The new member serves linearizable reads itself, with everything written before and
    // while it was gone.
    await expectAllReadable(c, acked, { endpoint: f.address });

    // And it is a real voter: with the other follower down, the leader commits with its vote.
    await c.node(gi).kill();
    const client = c.client({ timeoutMs: 10_000 });
    await putSurely(client, 'needs-the-new-member', 'yes');
    expect(await client.get('needs-the-new-member', { endpoint: f.address })).toBe('yes');
  }, 90_000);

  it('an isolated follower whose log was compacted away catches up by InstallSnapshot', async () => {
    const c = await startCluster({ size: 3, snapshotEntries: 100 });
    const early = await putAll(c, 'early', 20);
    const li = await c.waitLeader();
    const fi = [0, 1, 2].find((i) => i !== li) as number;
    const [l, f] = [c.node(li), c.node(fi)];
    await c.waitVoters(3);
    const installedBefore = metricValue(await f.metrics(), 'leviathan_raft_snapshots_total', { group: '0', kind: 'installed' });
    expect(installedBefore).toBe(0);

    c.isolate(fi);
    // 8 rounds over 50 keys: 400 entries, 4 snapshots' worth. The latest value of each key is
    // the last round's.
    const keys = 50;
    const rounds = 8;
    let latest = new Map<string, string>();
    for (let r = 0; r < rounds; r++) latest = await putAll(c, 'hot', keys, (k) => `${k}@round-${r}`);
    const fBehind = await f.group();
    const lAhead = await l.group();
    expect(fBehind).not.toBeNull();
    expect(lAhead).not.toBeNull();
    // The entry the follower needs next is gone from the leader's log.
    expect(lAhead!.firstIndex).toBeGreaterThan(fBehind!.lastIndex + 1);
    expect(lAhead!.snapshotIndex).toBeGreaterThan(fBehind!.lastIndex);
    expect(fBehind!.snapshotIndex).toBe(0);

    c.heal(fi);
    const caughtUp = await waitFor(
      'the follower to catch up with the leader',
      async () => {
        const lv = await l.group();
        const fv = await f.group();
        return lv !== null && fv !== null && fv.applied === lv.commit && fv.commit === lv.commit ? fv : null;
      },
      40_000,
      100,
    );
    expect(caughtUp.snapshotIndex).toBeGreaterThanOrEqual(lAhead!.snapshotIndex);
    expect(caughtUp.firstIndex).toBeGreaterThan(fBehind!.lastIndex + 1);
    expect(metricValue(await f.metrics(), 'leviathan_raft_snapshots_total', { group: '0', kind: 'installed' })).toBeGreaterThanOrEqual(1);
    expect(f.log()).toContain('snapshot installed from the leader');

    // Local reads on the follower: the latest values, straight from its own state machine.
    await expectAllReadable(c, latest, { endpoint: f.address, consistency: 'local' });
    await expectAllReadable(c, early, { endpoint: f.address, consistency: 'local' });
    await c.waitVoters(3);
  }, 90_000);

  it('admin API over gRPC from a follower: transfer leadership, remove a member, add it back, status', async () => {
    const c = await startCluster({ size: 3 });
    const acked = await putAll(c, 'k', 10);
    const li = await c.waitLeader();
    const [f1, f2] = [0, 1, 2].filter((i) => i !== li) as [number, number];
    const ids = await Promise.all(c.nodes.map((n) => memberIdOf(n)));
    await c.waitVoters(3);

    // Status, on the leader: every member with its role and replication state.
    const onLeader = admin(c, c.node(li).address);
    const st = await rpc(onLeader, onLeader.status, {});
    expect(st.node?.memberId).toBe(ids[li]);
    expect(st.node?.name).toBe(c.node(li).name);
    const g = st.groups[0]!;
    expect(g.groupId).toBe(0);
    expect(g.role).toBe(RaftRole.RAFT_ROLE_LEADER);
    expect(g.leaderId).toBe(ids[li]);
    expect(g.commitIndex).toBeGreaterThan(10);
    expect(g.members.map((m) => m.id).sort()).toEqual([...ids].sort());
    for (const m of g.members) {
      expect(m.role).toBe(MemberRole.MEMBER_ROLE_VOTER);
      expect(m.lag).toBe(0);
      expect(m.matchIndex).toBe(g.lastIndex);
      expect(m.address).not.toBe('');
      expect(m.replicationState).toBe(m.id === ids[li] ? 'self' : 'replicate');
    }
    // On a follower: its own view, with the leader's id.
    const onF1 = admin(c, c.node(f1).address);
    const fst = await rpc(onF1, onF1.status, { groupId: 0 });
    expect(fst.groups[0]?.role).toBe(RaftRole.RAFT_ROLE_FOLLOWER);
    expect(fst.groups[0]?.leaderId).toBe(ids[li]);
    await expect(rpc(onF1, onF1.status, { groupId: 9 })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    // Transfer leadership, asked of a follower: forwarded to the leader.
    const moved = await rpc(onF1, onF1.transferLeadership, { groupId: 0, targetId: ids[f2]! });
    expect(moved.leaderId).toBe(ids[f2]);
    await waitFor('f2 to lead', async () => (await c.leaderIndex()) === f2);
    expect((await c.node(li).group())?.role).toBe('follower');

    // Remove f1, asked of the old leader (a follower now).
    const onOld = admin(c, c.node(li).address);
    const removed = await rpc(onOld, onOld.removeMember, { groupId: 0, memberId: ids[f1]! });
    expect(removed.index).toBeGreaterThan(0);
    await c.waitVoterSet([ids[li]!, ids[f2]!]);
    // Removing it again is a no-op.
    expect((await rpc(onOld, onOld.removeMember, { groupId: 0, memberId: ids[f1]! })).index).toBe(0);
    for (const [k, v] of await putAll(c, 'two-voters', 10)) acked.set(k, v);

    // Add it back: a learner first (status says so), then promoted once caught up.
    const added = await rpc(onOld, onOld.addLearner, { groupId: 0, memberId: ids[f1]!, address: c.node(f1).advertise });
    expect(added.index).toBeGreaterThan(removed.index);
    const onNewLeader = admin(c, c.node(f2).address);
    const asLearner = await rpc(onNewLeader, onNewLeader.status, { groupId: 0 });
    const learner = asLearner.groups[0]?.members.find((m) => m.id === ids[f1]);
    expect(learner?.role).toBe(MemberRole.MEMBER_ROLE_LEARNER);
    expect(asLearner.groups[0]?.members.filter((m) => m.role === MemberRole.MEMBER_ROLE_VOTER)).toHaveLength(2);
    await waitFor('the learner to catch up', async () => {
      const s = await rpc(onNewLeader, onNewLeader.status, { groupId: 0 });
      const m = s.groups[0]?.members.find((x) => x.id === ids[f1]);
      return m !== undefined && m.lag === 0 && m.matchIndex === s.groups[0]?.lastIndex;
    });
    const promoted = await waitFor('the promotion', async () => {
      try {
        return await rpc(onOld, onOld.promote, { groupId: 0, memberId: ids[f1]!, maxLag: 0 });
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.FAILED_PRECONDITION) return null;
        throw err;
      }
    });
    expect(promoted.index).toBeGreaterThan(added.index);
    await c.waitVoterSet(ids);
    const after = await rpc(onNewLeader, onNewLeader.status, {});
    expect(after.groups[0]?.members.every((m) => m.role === MemberRole.MEMBER_ROLE_VOTER)).toBe(true);

    // f1 counts again: with the old leader down, f2 and f1 commit.
    await c.node(li).kill();
    const client = c.client({ timeoutMs: 10_000 });
    await putSurely(client, 'after-readd', 'yes');
    expect(await client.get('after-readd', { endpoint: c.node(f1).address })).toBe('yes');
    await expectAllReadable(c, acked, { endpoint: c.node(f1).address });
  }, 90_000);

  it('three groups on three nodes: each has a leader, keys and leadership are per group', async () => {
    const c = await startCluster({ size: 3, groups: 3 });
    for (const gid of [0, 1, 2]) await c.waitVoters(3, gid);
    const sts = await c.statuses();
    for (const s of sts) expect(s?.groups.map((x) => x.groupId).sort()).toEqual([0, 1, 2]);
    const leaders = await Promise.all([0, 1, 2].map((gid) => c.waitLeader(gid)));
    const ids = await Promise.all(c.nodes.map((n) => memberIdOf(n)));

    const [g0, g1, g2] = [0, 1, 2].map((groupId) => c.client({ groupId, timeoutMs: 10_000 })) as [ReturnType<EngineCluster['client']>, ReturnType<EngineCluster['client']>, ReturnType<EngineCluster['client']>];
    const commit0 = (await c.node(leaders[0]!).group(0))!.commit;
    await g1.put('shared', 'in-group-1');
    await g2.put('shared', 'in-group-2');
    await g1.put('only-in-1', 'x');
    await Promise.all(Array.from({ length: 20 }, (_, i) => g2.put(`g2-${i}`, String(i))));
    expect(await g1.get('shared')).toBe('in-group-1');
    expect(await g2.get('shared')).toBe('in-group-2');
    expect(await g0.get('shared')).toBeNull();
    expect(await g1.get('only-in-1')).toBe('x');
    expect(await g2.get('only-in-1')).toBeNull();
    expect(await g0.get('only-in-1')).toBeNull();
    expect(await g1.get('g2-3')).toBeNull();
    expect(await g2.get('g2-3')).toBe('3');
    // Every replica of group 2 has its keys (linearizable reads through each node).
    for (const n of c.nodes) expect(await g2.get('g2-19', { endpoint: n.address })).toBe('19');
    // Group 0's log did not move.
    expect((await c.node(leaders[0]!).group(0))!.commit).toBe(commit0);
    // A group this node does not host.
    await expect(c.client({ groupId: 3, timeoutMs: 3_000 }).get('x')).rejects.toSatisfy((e) => e instanceof KvError && e.code === grpc.status.NOT_FOUND);

    // Leadership of group 2 moves on its own; the other groups keep their leaders.
    const target = [0, 1, 2].find((i) => i !== leaders[2]) as number;
    const a = admin(c, c.node(target).address);
    const moved = await rpc(a, a.transferLeadership, { groupId: 2, targetId: ids[target]! });
    expect(moved.leaderId).toBe(ids[target]);
    await waitFor('group 2 to be led by the target', async () => (await c.leaderIndex(2)) === target);
    expect(await c.leaderIndex(0)).toBe(leaders[0]);
    expect(await c.leaderIndex(1)).toBe(leaders[1]);
    await g2.put('after-transfer', 'y');
    expect(await g2.get('after-transfer')).toBe('y');
    expect(await g1.get('after-transfer')).toBeNull();
  }, 90_000);
});

/**
 * The AdminService (proto/leviathan/admin/v1/admin.proto). Status is answered locally; changes
 * go to the group's leader: a follower forwards the call there (one hop, marked so that it is
 * never forwarded twice), so callers may talk to any member.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AdminServiceClient, MemberRole, RaftRole } from '../gen/leviathan/admin/v1/admin.js';
import type { AdminServiceServer, GroupStatus, StatusResponse } from '../gen/leviathan/admin/v1/admin.js';
import { NodeError, groupView } from '../node/index.js';
import type { GroupView, NodeHost } from '../node/index.js';
import type { Role } from '../raft/index.js';
import { timeLeft, unary } from './grpc-util.js';
import type { EngineMetrics } from './metrics.js';

const FORWARDED_KEY = 'leviathan-forwarded';

export interface AdminDeps {
  readonly host: NodeHost;
  readonly node: { readonly name: string; readonly incarnation: string; readonly address: string; readonly version: string };
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** Joins can wait for a learner to catch up: they get longer. */
  readonly joinTimeoutMs: number;
}

const ROLE: Record<Role, RaftRole> = {
  follower: RaftRole.RAFT_ROLE_FOLLOWER,
  'pre-candidate': RaftRole.RAFT_ROLE_PRE_CANDIDATE,
  candidate: RaftRole.RAFT_ROLE_CANDIDATE,
  leader: RaftRole.RAFT_ROLE_LEADER,
};

export function toProtoGroupStatus(v: GroupView, meta: string | null = null): GroupStatus {
  return {
    meta: meta ?? '',
    groupId: v.groupId,
    role: ROLE[v.role],
    term: v.term,
    leaderId: v.leader ?? '',
    commitIndex: v.commit,
    appliedIndex: v.applied,
    firstIndex: v.firstIndex,
    lastIndex: v.lastIndex,
    snapshotIndex: v.snapshotIndex,
    recoveryFence: v.recoveryFence,
    members: v.members.map((m) => ({
      id: m.id,
      address: m.address ?? '',
      role: m.role === 'voter' ? MemberRole.MEMBER_ROLE_VOTER : MemberRole.MEMBER_ROLE_LEARNER,
      matchIndex: m.match ?? 0,
      lag: m.lag ?? 0,
      active: m.active ?? false,
      replicationState: m.replicationState ?? '',
    })),
  };
}

type Method = 'addLearner' | 'promote' | 'removeMember' | 'transferLeadership' | 'join';

export function adminService(deps: AdminDeps): AdminServiceServer {
  const { host } = deps;
  const clients = new Map<string, InstanceType<typeof AdminServiceClient>>();
  const client = (address: string): InstanceType<typeof AdminServiceClient> => {
    let c = clients.get(address);
    if (c === undefined) {
      c = new AdminServiceClient(address, grpc.credentials.createInsecure());
      clients.set(address, c);
    }
    return c;
  };

  /** Runs `local` here; on NOT_LEADER, forwards the same request to the leader once. */
  function leaderCall<Req, Res>(method: Method, local: (req: Req, timeoutMs: number) => Promise<Res>, timeoutMs: number) {
    return unary<Req, Res>('AdminService', method, deps, async (req, call) => {
      const budget = timeLeft(call, timeoutMs);
      try {
        return await local(req, budget);
      } catch (err) {
        const forwarded = call.metadata.get(FORWARDED_KEY).length > 0;
        if (!(err instanceof NodeError) || err.code !== 'NOT_LEADER' || forwarded) throw err;
        if (err.leaderAddress === null) throw new NodeError('UNAVAILABLE', `${err.message}, and no leader is known: retry shortly`);
        const md = new grpc.Metadata();
        md.set(FORWARDED_KEY, deps.node.address);
        const c = client(err.leaderAddress) as unknown as Record<Method, (r: Req, m: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: (e: grpc.ServiceError | null, res: Res) => void) => void>;
        return new Promise<Res>((resolve, reject) => {
          c[method].call(c, req, md, { deadline: Date.now() + budget }, (e, res) => (e ? reject(e) : resolve(res)));
        });
      }
    });
  }

  return {
    status: unary('AdminService', 'status', deps, async (req): Promise<StatusResponse> => {
      const groups = [...host.groups.values()].filter((g) => req.groupId === undefined || g.id === req.groupId);
      if (req.groupId !== undefined && groups.length === 0) throw new NodeError('NOT_FOUND', `group ${req.groupId} is not hosted on this node`);
      return {
        node: { name: deps.node.name, incarnation: deps.node.incarnation, memberId: host.selfId, address: deps.node.address, version: deps.node.version },
        groups: groups.map((g) => toProtoGroupStatus(groupView(g, (id) => host.resolve(id)), host.groupMeta(g.id))),
      };
    }),
    addLearner: leaderCall('addLearner', async (req: { groupId: number; memberId: string; address: string }, t) => {
      if (req.memberId === '') throw new NodeError('INVALID_ARGUMENT', 'member_id is required');
      return { index: await host.addLearner(req.groupId, req.memberId, req.address, t) };
    }, deps.requestTimeoutMs),
    promote: leaderCall('promote', async (req: { groupId: number; memberId: string; maxLag: number }, t) => ({
      index: await host.promote(req.groupId, req.memberId, req.maxLag, t),
    }), deps.requestTimeoutMs),
    removeMember: leaderCall('removeMember', async (req: { groupId: number; memberId: string }, t) => ({
      index: await host.removeMember(req.groupId, req.memberId, t),
    }), deps.requestTimeoutMs),
    transferLeadership: leaderCall('transferLeadership', async (req: { groupId: number; targetId: string }, t) => ({
      leaderId: await host.transferLeadership(req.groupId, req.targetId === '' ? null : req.targetId, t),
    }), deps.requestTimeoutMs),
    join: leaderCall('join', async (req: { groupId: number; memberId: string; address: string; learnerOnly: boolean }, t) => {
      if (req.memberId === '' || !req.memberId.includes('@')) throw new NodeError('INVALID_ARGUMENT', `member_id must be name@incarnation, got "${req.memberId}"`);
      if (req.address === '') throw new NodeError('INVALID_ARGUMENT', 'address is required');
      const r = await host.join(req.groupId, req.memberId, req.address, req.learnerOnly, t);
      return {
        leaderId: host.selfId,
        role: r.role === 'voter' ? MemberRole.MEMBER_ROLE_VOTER : MemberRole.MEMBER_ROLE_LEARNER,
        replaced: r.replaced,
      };
    }, deps.joinTimeoutMs),
  };
}

/**
 * Join through a DNS name, as a pod does through a headless Service: the joiner resolves the
 * name to addresses and asks them until a member accepts. Here the name is `localhost`
 * (resolved from /etc/hosts), standing for the Service name.
 */
import { describe, expect, it } from 'vitest';
import { EngineCluster, waitFor } from './engine-cluster.js';
import { useCluster } from './helpers.js';

const createCluster = useCluster(20_000, (o) => EngineCluster.create(o));

describe('join by DNS name', () => {
  it('members found through a DNS name join and become voters; a learner-only joiner stays a learner', async () => {
    const c = await createCluster({ size: 3 });
    c.startNode(0, ['--bootstrap']);
    await c.waitLeader();
    const port = c.node(0).grpcPort;
    c.startNode(1, ['--join-dns', `localhost:${port}`]);
    await c.waitVoters(2);
    c.startNode(2, ['--join-dns', `localhost:${port}`, '--learner']);
    const st = await waitForLearner(c);
    expect(st.voters).toBe(2);
    expect(st.learners).toBe(1);
    // The learner receives the log: a write through the leader is readable on it.
    const client = c.client();
    await client.put('k', 'v');
    expect(await client.get('k', { endpoint: c.node(2).address })).toBe('v');
  }, 60_000);
});

describe('--bootstrap-member: every member started with the same flags, as pods of a StatefulSet', () => {
  it('the named member founds the cluster once; the others join through DNS; with data it resumes instead of founding again', async () => {
    const c = await createCluster({ size: 3 });
    // Every member resolves the "service" name to node 0's port first: until node 0 founds the
    // cluster nobody answers a join, so the others keep asking, as pods do before a leader exists.
    const dns = `localhost:${c.node(0).grpcPort}`;
    const flags = ['--bootstrap-member', 'node-0', '--join-dns', dns];
    for (const i of [1, 2, 0]) c.startNode(i, flags);
    await c.waitVoters(3);
    const client = c.client();
    await client.put('k', 'v1');
    const founder = (await c.node(0).status())?.node.memberId;

    // node-0 restarted with the same flags: it holds Raft state, so it resumes as the same member.
    await c.node(0).kill();
    c.startNode(0, flags);
    await waitFor('node 0 back with its data', async () => (await c.node(0).status())?.node.memberId === founder && (await c.node(0).ready()));
    expect(c.node(0).log()).toContain('holds Raft state: resuming, not founding');
    const g = await c.node(await c.waitLeader()).group(0);
    expect(g?.members.filter((m) => m.role === 'voter')).toHaveLength(3);
    await client.put('k', 'v2');
    expect(await client.get('k', { endpoint: c.node(0).address })).toBe('v2');
  }, 90_000);

  it('an identity left by a join that never completed does not stop the named member from founding', async () => {
    const c = await createCluster({ size: 1 });
    // A join that cannot complete (nobody answers): the directory gets an identity and empty groups.
    c.startNode(0, ['--join', '127.0.0.1:1']);
    await waitFor('identity written', async () => (await c.node(0).status()) !== null);
    await c.node(0).kill();
    c.startNode(0, ['--bootstrap-member', 'node-0', '--join', '127.0.0.1:1']);
    await c.waitLeader();
    await c.client().put('k', 'v');
  }, 60_000);
});

async function waitForLearner(c: EngineCluster): Promise<{ voters: number; learners: number }> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const l = await c.leaderIndex();
    const g = l === null ? undefined : (await c.node(l).status())?.groups[0];
    const learners = g?.members.filter((m) => m.role === 'learner') ?? [];
    if (g && learners.length === 1 && learners.every((m) => m.lag === 0)) {
      return { voters: g.members.filter((m) => m.role === 'voter').length, learners: learners.length };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out waiting for the learner to join and catch up');
}

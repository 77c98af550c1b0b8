/**
 * Join through a DNS name, as a pod does through a headless Service: the joiner resolves the
 * name to addresses and asks them until a member accepts. Here the name is `localhost`
 * (resolved from /etc/hosts), standing for the Service name.
 */
import { describe, expect, it } from 'vitest';
import { EngineCluster } from './engine-cluster.js';
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

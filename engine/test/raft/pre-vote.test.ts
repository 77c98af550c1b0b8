import { describe, expect, it } from 'vitest';
import { MemoryStorage, RawNode } from '../../src/raft/index.js';
import { Cluster } from '../harness/cluster.js';
import { Tap, alone, tickChecked, tickUntil } from './helpers.js';

const ELECTION = 10;

describe('pre-vote (dissertation 9.6): a partitioned server does not disrupt the cluster', () => {
  it('a partitioned node keeps campaigning in the pre-vote phase without raising its term', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    const term = c.node('a').raft.term;
    tap.inner = alone('c');
    tickChecked(c, 10 * ELECTION);
    const cr = c.node('c').raft;
    expect(cr.role).toBe('pre-candidate');
    expect(cr.term).toBe(term);
    // It did ask, several times, always for the next term only.
    const asks = tap.of('vote', { from: 'c' });
    expect(asks.length).toBeGreaterThan(2);
    expect(asks.every((m) => m.preVote && m.term === term + 1)).toBe(true);
    expect(c.leaders()).toEqual(['a']);
  });

  it('when it rejoins, the leader and the term are unchanged and it catches up as a follower', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    const term = c.node('a').raft.term;
    tap.inner = alone('c');
    tickChecked(c, 10 * ELECTION);
    c.put('a', 'x', 'during');
    tap.inner = null;
    tickChecked(c, 3 * ELECTION);
    expect(c.leaders()).toEqual(['a']);
    for (const id of ['a', 'b', 'c']) expect(c.node(id).raft.term).toBe(term);
    expect(c.node('c').raft.role).toBe('follower');
    expect(c.node('c').raft.leader).toBe('a');
    expect(c.get('c').kv.get('x')).toBe('during');
  });

  it('contrast: without pre-vote the partitioned node inflates its term and deposes the leader on rejoin', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false });
    const tap = new Tap(c);
    c.elect('a');
    const term = c.node('a').raft.term;
    tap.inner = alone('c');
    tickChecked(c, 10 * ELECTION);
    expect(c.node('c').raft.term).toBeGreaterThan(term + 2);
    tap.inner = null;
    tickChecked(c, 5 * ELECTION);
    const leader = c.leaders()[0] as string;
    expect(c.node(leader).raft.term).toBeGreaterThan(term + 2);
  });

  it('granting a pre-vote changes neither the voter’s term nor its vote', () => {
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    storage.setHardState({ term: 3, vote: 'a', commit: 0 });
    const b = new RawNode({ id: 'b', storage });
    b.step({ type: 'vote', from: 'c', to: 'b', term: 4, preVote: true, lastIndex: 0, lastTerm: 0, transfer: false });
    const rd = b.ready();
    expect(rd.hardState).toBeNull();
    expect(rd.messages.map((m) => m.type === 'vote-response' && [m.term, m.preVote, m.granted])).toEqual([[4, true, true]]);
    expect(b.raft.term).toBe(3);
    expect(b.raft.vote).toBe('a');
  });

  it('after the leader dies, the survivors elect a new leader in the very next term', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const term = c.node('a').raft.term;
    c.crash('a');
    tickUntil(c, () => c.leaders().length === 1, 10 * ELECTION);
    const leader = c.leaders()[0] as string;
    expect(['b', 'c']).toContain(leader);
    expect(c.node(leader).raft.term).toBe(term + 1);
  });
});

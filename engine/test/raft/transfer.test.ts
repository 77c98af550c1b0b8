import { describe, expect, it } from 'vitest';
import { ProposalDroppedError } from '../../src/raft/index.js';
import { Cluster, command } from '../harness/cluster.js';
import { Tap, alone, expectRaftError, shape } from './helpers.js';

const ELECTION = 10;

function settled(): { c: Cluster; tap: Tap; term: number } {
  const c = new Cluster(['a', 'b', 'c']);
  const tap = new Tap(c);
  c.elect('a');
  c.tickAll(1);
  tap.clear();
  return { c, tap, term: c.node('a').raft.term };
}

function expectDropped(fn: () => unknown, code: 'NOT_LEADER' | 'TRANSFER_IN_PROGRESS'): void {
  let thrown: unknown = null;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ProposalDroppedError);
  expect((thrown as ProposalDroppedError).code).toBe(code);
}

describe('leadership transfer (dissertation 3.10)', () => {
  it('to an up-to-date follower: TimeoutNow at once, and the target leads the next term without waiting for a timeout', () => {
    const { c, tap, term } = settled();
    c.node('a').transferLeadership('b');
    c.processReady();
    expect(c.inFlight.filter((m) => m.from === 'a').map((m) => `${m.type}>${m.to}`)).toEqual(['timeout-now>b']);
    c.stabilize();
    expect(c.leaders()).toEqual(['b']);
    expect(c.node('b').raft.term).toBe(term + 1);
    expect(c.node('a').raft.role).toBe('follower');
    expect(c.node('a').raft.leader).toBe('b');
    // The target campaigned directly (no pre-vote round), flagged as a transfer.
    const asks = tap.of('vote', { from: 'b' });
    expect(asks.length).toBe(2);
    expect(asks.every((m) => !m.preVote && m.transfer && m.term === term + 1)).toBe(true);
    c.put('b', 'k', 'v');
    c.tickAll(1);
    for (const id of ['a', 'b', 'c']) expect(c.get(id).kv.get('k')).toBe('v');
  });

  it('to a lagging follower: the leader first brings it up to date, then hands over', () => {
    const { c, tap } = settled();
    tap.inner = alone('c');
    for (let i = 0; i < 5; i++) c.put('a', 'k', String(i));
    tap.inner = null;
    tap.clear();
    const last = c.node('a').raft.log.lastIndex();
    c.node('a').transferLeadership('c');
    c.processReady();
    const first = c.inFlight.filter((m) => m.from === 'a');
    expect(first.some((m) => m.type === 'timeout-now')).toBe(false);
    expect(first.some((m) => m.type === 'append' && m.to === 'c')).toBe(true);
    c.stabilize();
    expect(c.leaders()).toEqual(['c']);
    // TimeoutNow went out only after c acknowledged the leader's last entry.
    const sent = tap.sent;
    const handover = sent.findIndex((m) => m.type === 'timeout-now');
    const caughtUp = sent.findIndex((m) => m.type === 'append-response' && m.from === 'c' && m.success && m.index === last);
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(handover).toBeGreaterThan(caughtUp);
    expect(c.get('c').kv.get('k')).toBe('4');
    c.tickAll(1);
    expect(shape(c, 'a')).toEqual(shape(c, 'c'));
  });

  it('proposals (and membership changes) are refused while a transfer is pending', () => {
    const { c, tap } = settled();
    tap.inner = alone('c');
    c.node('a').transferLeadership('c');
    c.stabilize();
    expect(c.node('a').raft.leadTransferee).toBe('c');
    expectDropped(() => c.node('a').propose(command('k', 'v')), 'TRANSFER_IN_PROGRESS');
    expectDropped(() => c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' }), 'TRANSFER_IN_PROGRESS');
    expect(c.node('a').raft.role).toBe('leader');
  });

  it('a transfer that cannot complete is abandoned after an election timeout, and proposals are accepted again', () => {
    const { c, tap, term } = settled();
    tap.inner = alone('c');
    c.node('a').transferLeadership('c');
    c.stabilize();
    for (let i = 1; i < ELECTION; i++) {
      c.tickAll(1);
      expect(c.node('a').raft.leadTransferee, `tick ${i}`).toBe('c');
    }
    c.tickAll(1);
    expect(c.node('a').raft.leadTransferee).toBeNull();
    expect(c.leaders()).toEqual(['a']);
    expect(c.node('a').raft.term).toBe(term);
    const { index } = c.node('a').propose(command('k', 'v'));
    c.stabilize();
    expect(c.node('a').raft.log.committed).toBeGreaterThanOrEqual(index);
    expect(c.get('b').kv.get('k')).toBe('v');
  });

  it('transferring to a learner, to a non-member, or from a follower is refused', () => {
    const { c } = settled();
    c.addEmpty('d');
    c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' });
    c.stabilize();
    expectRaftError(() => c.node('a').transferLeadership('d'), 'INVALID_ARGUMENT');
    expectRaftError(() => c.node('a').transferLeadership('zz'), 'INVALID_ARGUMENT');
    expect(c.node('a').raft.leadTransferee).toBeNull();
    expectDropped(() => c.node('b').transferLeadership('c'), 'NOT_LEADER');
    expect(() => c.node('a').propose(command('k', 'v'))).not.toThrow();
  });

  it('transferring to itself changes nothing', () => {
    const { c, term } = settled();
    c.node('a').transferLeadership('a');
    expect(c.node('a').raft.leadTransferee).toBeNull();
    c.stabilize();
    expect(c.leaders()).toEqual(['a']);
    expect(c.node('a').raft.term).toBe(term);
  });

  it('the refused proposal names the leader, so the client can retry', () => {
    const { c } = settled();
    c.node('a').transferLeadership('b');
    c.stabilize();
    let thrown: unknown = null;
    try {
      c.node('a').propose(command('k', 'v'));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ProposalDroppedError);
    expect((thrown as ProposalDroppedError).code).toBe('NOT_LEADER');
    expect((thrown as ProposalDroppedError).leaderHint).toBe('b');
  });
});

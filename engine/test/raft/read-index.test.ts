import { describe, expect, it } from 'vitest';
import { ProposalDroppedError } from '../../src/raft/index.js';
import type { Message } from '../../src/raft/index.js';
import { Cluster, command } from '../harness/cluster.js';
import { Tap, cut, tickUntil } from './helpers.js';

type Heartbeat = Extract<Message, { type: 'heartbeat' }>;

function settled3(): { c: Cluster; tap: Tap } {
  const c = new Cluster(['a', 'b', 'c']);
  const tap = new Tap(c);
  c.elect('a');
  c.tickAll(1);
  tap.clear();
  return { c, tap };
}

describe('ReadIndex (dissertation 6.4): linearizable reads without writing to the log', () => {
  it('the leader yields a ReadState only after a quorum acknowledged a heartbeat round sent after the read', () => {
    const { c } = settled3();
    const commit = c.node('a').raft.log.committed;
    c.node('a').readIndex('r1');
    expect(c.node('a').raft.readStates).toEqual([]);
    c.processReady();
    expect(c.get('a').readStates).toEqual([]);
    const beats = c.inFlight.filter((m): m is Heartbeat => m.type === 'heartbeat');
    expect(beats.map((m) => m.to).sort()).toEqual(['b', 'c']);
    expect(beats.every((m) => m.readRound > 0)).toBe(true);

    // Only b hears the round: with a itself, that is a quorum of 3.
    c.inFlight = [];
    c.node('b').step(beats.find((m) => m.to === 'b') as Heartbeat);
    c.processReady();
    const acks = c.inFlight.splice(0);
    expect(acks.map((m) => m.type)).toEqual(['heartbeat-response']);
    expect(c.get('a').readStates).toEqual([]);
    c.node('a').step(acks[0] as Message);
    c.processReady();
    expect(c.get('a').readStates).toEqual([{ context: 'r1', index: commit }]);
  });

  it('acknowledgements of a heartbeat round sent before the read do not confirm it', () => {
    const { c } = settled3();
    // A plain heartbeat round goes out (no read pending)...
    c.node('a').tick();
    c.processReady();
    const old = c.inFlight.splice(0);
    expect(old.every((m) => m.type === 'heartbeat' && m.readRound === 0)).toBe(true);
    // ...then the read arrives, and only the answers to the old round come back.
    c.node('a').readIndex('r');
    for (const m of old) c.node(m.to).step(m);
    c.inFlight = [];
    c.processReady();
    const fresh = c.inFlight.filter((m) => m.from === 'a');
    const answers = c.inFlight.filter((m) => m.type === 'heartbeat-response');
    expect(answers.length).toBe(2);
    c.inFlight = [];
    for (const m of answers) c.node('a').step(m);
    c.processReady();
    expect(c.get('a').readStates).toEqual([]);
    // The answers to the round that followed the read confirm it.
    for (const m of fresh) c.node(m.to).step(m);
    c.inFlight = [];
    c.stabilize();
    expect(c.get('a').readStates.map((r) => r.context)).toEqual(['r']);
  });

  it('late acknowledgements of an earlier read round do not confirm a later read', () => {
    const { c } = settled3();
    c.node('a').readIndex('r1');
    c.processReady();
    const round1 = c.inFlight.splice(0).filter((m): m is Heartbeat => m.type === 'heartbeat');
    // b answers round 1 at once (r1 confirmed); c's answer to round 1 is held back.
    c.node('b').step(round1.find((m) => m.to === 'b') as Heartbeat);
    c.node('c').step(round1.find((m) => m.to === 'c') as Heartbeat);
    c.processReady();
    const answers = c.inFlight.splice(0);
    c.node('a').step(answers.find((m) => m.from === 'b') as Message);
    c.processReady();
    expect(c.get('a').readStates.map((r) => r.context)).toEqual(['r1']);
    c.inFlight = [];
    // r2 needs a new round: c's late answer to round 1 must not confirm it.
    c.node('a').readIndex('r2');
    c.processReady();
    const round2 = c.inFlight.splice(0);
    expect(round2.every((m) => m.type === 'heartbeat' && m.readRound > (round1[0] as Heartbeat).readRound)).toBe(true);
    c.node('a').step(answers.find((m) => m.from === 'c') as Message);
    c.processReady();
    expect(c.get('a').readStates.map((r) => r.context)).toEqual(['r1']);
    c.inFlight = [];
    for (const m of round2) c.node(m.to).step(m);
    c.stabilize();
    expect(c.get('a').readStates.map((r) => r.context)).toEqual(['r1', 'r2']);
  });

  it('reads that arrive before the next heartbeat share one round, confirmed together', () => {
    const { c, tap } = settled3();
    for (const ctx of ['r1', 'r2', 'r3']) c.node('a').readIndex(ctx);
    c.stabilize();
    expect(tap.of('heartbeat', { from: 'a' }).length).toBe(2);
    expect(c.get('a').readStates.map((r) => r.context)).toEqual(['r1', 'r2', 'r3']);
  });

  it('the ReadState carries the commit index at the time of the read, not of later writes', () => {
    const { c } = settled3();
    const commit = c.node('a').raft.log.committed;
    c.node('a').readIndex('r');
    c.node('a').propose(command('k', 'later'));
    c.stabilize();
    expect(c.node('a').raft.log.committed).toBe(commit + 1);
    expect(c.get('a').readStates).toEqual([{ context: 'r', index: commit }]);
  });

  it('a read forwarded from a follower is confirmed by the leader and answered to the follower', () => {
    const { c, tap } = settled3();
    c.put('a', 'k', 'v');
    const commit = c.node('a').raft.log.committed;
    c.node('b').readIndex('from-b');
    c.stabilize();
    expect(tap.of('read-index', { from: 'b', to: 'a' }).map((m) => m.context)).toEqual(['from-b']);
    expect(c.get('b').readStates).toEqual([{ context: 'from-b', index: commit }]);
    expect(c.get('a').readStates).toEqual([]);
  });

  it('a follower that knows no leader refuses the read at once', () => {
    const c = new Cluster(['a', 'b', 'c']);
    expect(() => c.node('b').readIndex('r')).toThrow(ProposalDroppedError);
  });

  it('a leader in a minority partition never yields a ReadState, before or after it steps down', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = cut(['a', 'b'], ['c', 'd', 'e']);
    c.node('a').readIndex('stale');
    c.node('b').readIndex('stale-from-b');
    c.tickAll(3);
    expect(c.node('a').raft.role).toBe('leader');
    expect(c.get('a').readStates).toEqual([]);
    tickUntil(c, () => c.node('a').raft.role !== 'leader', 100);
    tap.inner = null;
    c.tickAll(30);
    expect(c.get('a').readStates).toEqual([]);
    expect(c.get('b').readStates).toEqual([]);
  });

  it('a new leader holds reads until it has committed an entry of its term, then answers at least the old commit', () => {
    const c = new Cluster(['a', 'b', 'c'], { checkQuorum: false });
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    // x commits on a and b; c stores x but never learns it committed.
    tap.inner = (m) => (m.to === 'c' && (m.type === 'heartbeat' || (m.type === 'append' && m.entries.length === 0)) ? null : m);
    const x = c.put('a', 'x', '1');
    expect(c.node('a').raft.log.committed).toBe(x.index);
    expect(c.node('c').raft.log.lastIndex()).toBe(x.index);
    expect(c.node('c').raft.log.committed).toBeLessThan(x.index);

    // a crashes; c becomes leader but its no-op does not commit yet.
    c.crash('a');
    tap.inner = (m) => (m.to === 'c' && m.type === 'append-response' ? null : m);
    c.node('c').campaign();
    c.stabilize();
    expect(c.node('c').raft.role).toBe('leader');
    c.node('c').readIndex('early');
    c.stabilize();
    expect(c.get('c').readStates).toEqual([]);
    expect(tap.of('heartbeat', { from: 'c' }).filter((m) => m.readRound > 0)).toEqual([]);

    tap.inner = null;
    c.tickAll(1);
    const noop = c.node('c').raft.log.committed;
    expect(noop).toBeGreaterThan(x.index);
    expect(c.get('c').readStates).toEqual([{ context: 'early', index: noop }]);
  });

  it('a single-voter cluster answers at once, without any message', () => {
    const c = new Cluster(['a']);
    const tap = new Tap(c);
    c.elect('a');
    c.put('a', 'k', 'v');
    const commit = c.node('a').raft.log.committed;
    c.node('a').readIndex('solo');
    expect(c.node('a').raft.readStates).toEqual([{ context: 'solo', index: commit }]);
    c.stabilize();
    expect(c.get('a').readStates).toEqual([{ context: 'solo', index: commit }]);
    expect(tap.sent).toEqual([]);
  });

  it('a single voter’s read before its first commit waits for its no-op', () => {
    const c = new Cluster(['a']);
    c.node('a').campaign();
    c.node('a').readIndex('first');
    expect(c.node('a').raft.readStates).toEqual([]);
    c.stabilize();
    expect(c.get('a').readStates).toEqual([{ context: 'first', index: 1 }]);
  });
});

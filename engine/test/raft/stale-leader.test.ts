import { describe, expect, it } from 'vitest';
import { command } from '../harness/cluster.js';
import { Cluster } from '../harness/cluster.js';
import { Tap, cut, payloads, shape } from './helpers.js';

const ALL = ['a', 'b', 'c', 'd', 'e'];

/**
 * a leads term 1; then a and b are cut off from c, d, e, which elect c in term 2. Check quorum is
 * off so that a keeps believing it leads (the dissertation's basic algorithm), which is the
 * worst case for a stale leader.
 */
function deposed(): { c: Cluster; tap: Tap; staleIndex: number } {
  const c = new Cluster(ALL, { checkQuorum: false });
  const tap = new Tap(c);
  c.elect('a');
  c.put('a', 'k', 'v0');
  c.tickAll(1);
  tap.inner = cut(['a', 'b'], ['c', 'd', 'e']);
  c.node('c').campaign();
  c.stabilize();
  expect(c.node('c').raft.role).toBe('leader');
  expect(c.node('c').raft.term).toBe(2);
  expect(c.node('a').raft.role).toBe('leader');
  expect(c.node('a').raft.term).toBe(1);
  const { index } = c.node('a').propose(command('k', 'stale'));
  c.stabilize();
  return { c, tap, staleIndex: index };
}

describe('a stale leader (dissertation 3.6, 6.4)', () => {
  it('a deposed leader in a minority partition cannot commit, however long it tries', () => {
    const { c, staleIndex } = deposed();
    const a = c.node('a').raft;
    expect(a.log.lastIndex()).toBe(staleIndex);
    expect(c.node('b').raft.log.lastIndex()).toBe(staleIndex);
    c.tickAll(30);
    expect(a.role).toBe('leader');
    expect(a.log.committed).toBeLessThan(staleIndex);
    for (const id of ALL) expect(c.get(id).kv.get('k')).toBe('v0');
  });

  it('the majority side commits meanwhile under the new leader', () => {
    const { c } = deposed();
    c.put('c', 'k', 'fresh');
    c.tickAll(1);
    for (const id of ['c', 'd', 'e']) expect(c.get(id).kv.get('k')).toBe('fresh');
  });

  it('a stale leader’s appends are rejected with the higher term, and it steps down on seeing it', () => {
    const { c, tap } = deposed();
    c.put('c', 'k', 'fresh');
    tap.inner = null;
    tap.clear();
    c.node('a').propose(command('k', 'stale-2'));
    // Deliver a's appends and the answers to them, nothing else (no ticks).
    c.stabilize();
    const answers = tap.of('append-response', { to: 'a' }).filter((m) => ['c', 'd', 'e'].includes(m.from));
    expect(answers.length).toBeGreaterThanOrEqual(3);
    for (const m of answers.slice(0, 3)) {
      expect(m.term).toBe(2);
      expect(m.success).toBe(false);
    }
    expect(c.node('a').raft.role).toBe('follower');
    expect(c.node('a').raft.term).toBe(2);
    for (const id of ['c', 'd', 'e']) expect(payloads(c, id)).not.toContain('k=stale-2');
  });

  it('after healing, the deposed leader’s uncommitted entries are overwritten by the new leader’s log', () => {
    const { c, tap, staleIndex } = deposed();
    c.put('c', 'k', 'fresh');
    tap.inner = null;
    c.tickAll(5);
    expect(c.leaders()).toEqual(['c']);
    for (const id of ALL) {
      expect(c.node(id).raft.term).toBe(2);
      expect(shape(c, id)).toEqual(shape(c, 'c'));
      expect(payloads(c, id)).not.toContain('k=stale');
      expect(c.get(id).kv.get('k')).toBe('fresh');
    }
    // The stale entry's slot now holds the new leader's entry.
    const slot = c.node('a').raft.log.term(staleIndex);
    expect(slot).toBe(2);
    // Nobody ever applied the stale write.
    for (const id of ALL) expect(c.appliedData(id)).not.toContain('k=stale');
  });

  it('a deposed leader rejoining without a word from the new leader still learns the term from any reply', () => {
    const { c, tap } = deposed();
    tap.inner = null;
    // Only a's heartbeat goes out (a ticks); c, d, e answer with their term.
    c.node('a').tick();
    c.stabilize();
    expect(c.node('a').raft.role).toBe('follower');
    expect(c.node('a').raft.term).toBe(2);
  });
});

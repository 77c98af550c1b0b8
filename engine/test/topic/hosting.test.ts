import { describe, expect, it } from 'vitest';
import { placeReplicas } from '../../src/topic/catalog-state.js';
import { LeaderTenure, holdsNoRaftState, preferredVoter } from '../../src/topic/hosting.js';
import { hashKey } from '../../src/topic/topic-api.js';

const pods = (n: number, inc = 'x'): string[] => Array.from({ length: n }, (_, i) => `orders-${i}@${inc}${i}`);

/** How many of `partitions` partitions of `topic` prefer each voter. */
function leadersPerVoter(voters: readonly string[], topic: string, partitions: number): Map<string, number> {
  const count = new Map<string, number>(voters.map((v) => [v, 0]));
  for (let p = 0; p < partitions; p++) {
    const v = preferredVoter(voters, topic, p);
    expect(v).toBeDefined();
    count.set(v as string, (count.get(v as string) ?? 0) + 1);
  }
  return count;
}

describe('preferred leader over the current voters (--partition-hosting all)', () => {
  it('spreads partitions evenly over the voters (within one), for any number of voters and partitions', () => {
    for (const n of [1, 2, 3, 4, 5, 7]) {
      for (const partitions of [1, 3, 8, 64, 100]) {
        for (const topic of ['orders', 'a', 'jobs-eu-west']) {
          const counts = [...leadersPerVoter(pods(n), topic, partitions).values()];
          expect(counts.reduce((a, b) => a + b, 0)).toBe(partitions);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        }
      }
    }
  });

  it('is deterministic: the same whatever the order of the voters, on every replica', () => {
    const voters = pods(5);
    const reversed = [...voters].reverse();
    const shuffled = [voters[2], voters[4], voters[0], voters[3], voters[1]] as string[];
    for (let p = 0; p < 50; p++) {
      const want = preferredVoter(voters, 'orders', p);
      expect(preferredVoter(reversed, 'orders', p)).toBe(want);
      expect(preferredVoter(shuffled, 'orders', p)).toBe(want);
      expect(preferredVoter(voters, 'orders', p)).toBe(want);
    }
    expect(preferredVoter([], 'orders', 0)).toBeUndefined();
  });

  it('orders voters by member name, not by incarnation, and rotates by partition from hash(topic)', () => {
    // Sorted by name: orders-1, orders-10, orders-2 (by id, orders-10@... would come first:
    // '0' sorts before '@').
    const voters = ['orders-10@zzz', 'orders-2@aaa', 'orders-1@mmm'];
    const byName = ['orders-1@mmm', 'orders-10@zzz', 'orders-2@aaa'];
    const h = hashKey('t');
    for (let p = 0; p < 6; p++) expect(preferredVoter(voters, 't', p)).toBe(byName[(h + p) % 3]);
    // A rejoined member (new incarnation) keeps its place.
    const rejoined = ['orders-10@zzz', 'orders-2@bbb', 'orders-1@mmm'];
    for (let p = 0; p < 6; p++) expect(preferredVoter(rejoined, 't', p)?.split('@')[0]).toBe(byName[(h + p) % 3]?.split('@')[0]);
  });

  it('matches the placement rotation when the voters are the catalog members (so a new topic starts balanced)', () => {
    const members = pods(3);
    const placements = placeReplicas(members, 6, 3, hashKey('orders') % members.length);
    for (let p = 0; p < 6; p++) expect(preferredVoter(members, 'orders', p)).toBe(placements[p]?.[0]);
  });

  it('moves only some partitions when a voter joins, and keeps the spread even', () => {
    const three = pods(3);
    const four = pods(4);
    const counts = [...leadersPerVoter(four, 'orders', 12).values()];
    expect(counts).toEqual([3, 3, 3, 3]);
    const moved = Array.from({ length: 12 }, (_, p) => p).filter((p) => preferredVoter(three, 'orders', p) !== preferredVoter(four, 'orders', p));
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length).toBeLessThan(12);
  });
});

describe('leader tenure', () => {
  it('counts from the first time the node is seen leading in a term', () => {
    const t = new LeaderTenure();
    expect(t.heldFor(7, 1_000)).toBe(0);
    t.observe(7, true, 3, 1_000);
    t.observe(7, true, 3, 5_000);
    expect(t.heldFor(7, 31_000)).toBe(30_000);
    expect(t.heldFor(8, 31_000)).toBe(0);
  });

  it('starts over after leadership was lost: seen not leading, or leading in another term', () => {
    const t = new LeaderTenure();
    t.observe(7, true, 3, 0);
    t.observe(7, false, 4, 10_000);
    expect(t.heldFor(7, 10_000)).toBe(0);
    t.observe(7, true, 5, 12_000);
    expect(t.heldFor(7, 20_000)).toBe(8_000);
    // Lost and regained between two observations: the term tells.
    t.observe(7, true, 9, 21_000);
    expect(t.heldFor(7, 22_000)).toBe(1_000);
    t.forget(7);
    expect(t.heldFor(7, 22_000)).toBe(0);
  });
});

describe('when a partition group may ask to join', () => {
  const empty = { voters: [] as string[], learners: [] as string[] };
  it('only while it holds no Raft state at all', () => {
    expect(holdsNoRaftState({ lastIndex: 0, snapshotIndex: 0, config: empty })).toBe(true);
    // Removed from the group: it has a log (and maybe still the old configuration).
    expect(holdsNoRaftState({ lastIndex: 42, snapshotIndex: 0, config: { voters: ['a@1', 'b@1'], learners: [] } })).toBe(false);
    expect(holdsNoRaftState({ lastIndex: 42, snapshotIndex: 0, config: empty })).toBe(false);
    expect(holdsNoRaftState({ lastIndex: 0, snapshotIndex: 40, config: empty })).toBe(false);
    // A founder: its configuration is the placement before any entry.
    expect(holdsNoRaftState({ lastIndex: 0, snapshotIndex: 0, config: { voters: ['a@1'], learners: [] } })).toBe(false);
    expect(holdsNoRaftState({ lastIndex: 0, snapshotIndex: 0, config: { voters: [], learners: ['c@1'] } })).toBe(false);
  });
});

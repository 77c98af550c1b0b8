/**
 * Partition hosting policy, the pure parts (topic-runtime.ts applies them): the hosting modes,
 * when a group may ask to join, which replica of a partition should lead it, and how long this
 * node has led a group without a break (a leader hands leadership to the preferred replica only
 * after holding it for a while).
 */
import { hashKey } from './hash.js';

/**
 * Which partitions a topic node hosts: `placement`, the ones the catalog placed on it; `all`,
 * every partition of every topic (a DisheapTopic's pods: every pod hosts every partition).
 */
export type PartitionHosting = 'placement' | 'all';
export const PARTITION_HOSTING_MODES: readonly PartitionHosting[] = ['placement', 'all'];
/** How long a partition leader leads before handing leadership to the preferred replica. */
export const DEFAULT_LEADER_BALANCE_DELAY_MS = 30_000;

/** The member name of an id `name@incarnation`. */
export function memberName(id: string): string {
  const at = id.lastIndexOf('@');
  return at < 0 ? id : id.slice(0, at);
}

/**
 * `--partition-hosting all`: the preferred leader of partition `partition` of `topic` among the
 * group's current voters. The voters are sorted by member name and partition p prefers index
 * (hash(topic) + p) mod voters, the rotation the catalog uses for placement, so consecutive
 * partitions prefer consecutive voters: over many partitions every voter is preferred by as
 * many as any other (give or take one), whatever the voters are, and every replica computes
 * the same answer from the same configuration.
 */
export function preferredVoter(voters: readonly string[], topic: string, partition: number): string | undefined {
  if (voters.length === 0) return undefined;
  const sorted = [...voters].sort((a, b) => {
    const na = memberName(a);
    const nb = memberName(b);
    return na < nb ? -1 : na > nb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
  return sorted[(hashKey(topic) + partition) % sorted.length];
}

/**
 * Since when this node has led each group without a break: a term of leadership starts when
 * it is first seen leading in a term, and ends when it is seen not leading or leading in
 * another term (it lost leadership in between).
 */
export class LeaderTenure {
  private readonly since = new Map<number, { term: number; at: number }>();

  /** Records what the node is now in `groupId`. */
  observe(groupId: number, leading: boolean, term: number, now: number): void {
    if (!leading) {
      this.since.delete(groupId);
      return;
    }
    const s = this.since.get(groupId);
    if (s === undefined || s.term !== term) this.since.set(groupId, { term, at: now });
  }

  /** How long it has led `groupId` without a break (0 when it does not lead it). */
  heldFor(groupId: number, now: number): number {
    const s = this.since.get(groupId);
    return s === undefined ? 0 : Math.max(0, now - s.at);
  }

  forget(groupId: number): void {
    this.since.delete(groupId);
  }
}

/**
 * Whether a group holds no Raft state at all: no log entry, no snapshot, no configuration. Such
 * a group was created here to join (a new node, or one whose data was wiped) and has not been
 * let in yet; one that ever held state was a member, and if it is no longer one it was removed
 * and must not ask to come back.
 */
export function holdsNoRaftState(st: { readonly lastIndex: number; readonly snapshotIndex: number; readonly config: { readonly voters: readonly string[]; readonly learners: readonly string[] } }): boolean {
  return st.lastIndex === 0 && st.snapshotIndex === 0 && st.config.voters.length === 0 && st.config.learners.length === 0;
}

/**
 * The PodDisruptionBudget's maxUnavailable, from the live voter set: a voluntary eviction (a node
 * drain, a cluster autoscaler) must never take a group below quorum. With V voters of which H are
 * healthy and caught up, H - quorum(V) of them may go; and none at all while anything is unhealthy
 * or unknown, because the operator may be in the middle of a repair and the evictor cannot know.
 * For a topic the tightest group decides.
 */
import { quorum } from './quorum.js';
import { blockers } from './health.js';
import type { Desired, Observed } from './types.js';
import { viewOf } from './view.js';

/** The table: V voters, H of them healthy and caught up, and whether anything is unhealthy. */
export function maxUnavailableFor(voters: number, healthyVoters: number, anythingUnhealthy: boolean): number {
  if (anythingUnhealthy || voters === 0) return 0;
  return Math.max(0, healthyVoters - quorum(voters));
}

export function pdbMaxUnavailable(desired: Desired, observed: Observed): number {
  const v = viewOf(desired, observed, { bootstrapped: true, pendingStep: null });
  if (v.group0 === null) return 0;
  const anythingUnhealthy = blockers(v).length > 0 || v.groups.some((g) => g.members.some((m) => !m.healthy));
  let allowed = Number.POSITIVE_INFINITY;
  for (const g of v.groups) allowed = Math.min(allowed, maxUnavailableFor(g.voters.length, g.voters.filter((m) => m.caughtUp).length, anythingUnhealthy));
  return Number.isFinite(allowed) ? allowed : 0;
}

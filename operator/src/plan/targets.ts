/** Choosing whom leadership moves to. */
import type { GroupState, MemberState, View } from './view.js';

/**
 * The best voter to take over `g`: caught up, staying, not the leader; preferring one whose pod
 * already runs the desired template (so a rollout does not move leadership twice), then the
 * smallest lag, then the lowest ordinal (deterministic).
 */
export function transferTarget(v: View, g: GroupState): MemberState | null {
  const onDesired = (m: MemberState): number => (v.podByName.get(m.name)?.templateHash === v.desired.templateHash ? 0 : 1);
  const candidates = g.voters
    .filter((m) => !m.isLeader && m.caughtUp && !m.departing && m.ordinal !== null)
    .sort((a, b) => onDesired(a) - onDesired(b) || (a.lag ?? 0) - (b.lag ?? 0) || (a.ordinal ?? 0) - (b.ordinal ?? 0));
  return candidates[0] ?? null;
}

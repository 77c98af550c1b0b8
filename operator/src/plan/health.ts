/**
 * Is the cluster healthy enough for a voluntary change? `blockers` lists what stands in the way:
 * groups without a leader, members that stay but are unhealthy, pods of wanted ordinals that are
 * missing or not ready, pods the StatefulSet is still removing. Members on their way out
 * (departing) do not block: removing them is what the user asked for.
 */
import { podName } from '../resources/index.js';
import type { MemberState, View } from './view.js';

/** What keeps the cluster from being healthy, ignoring members on their way out. */
export function blockers(v: View): string[] {
  const out: string[] = [];
  for (const g of v.groups) {
    if (g.leaderId === null) out.push(`${g.label} has no leader`);
    for (const m of g.members) if (!m.departing && !m.healthy && m.problem !== null) out.push(m.problem);
  }
  const sts = v.stsReplicas ?? 0;
  const wanted = Math.min(v.desired.replicas, sts);
  for (let i = 0; i < wanted; i++) {
    const name = podName(v.desired.name, i);
    const pod = v.podByName.get(name);
    if (pod === undefined) out.push(`pod ${name} does not exist`);
    else if (pod.terminating) out.push(`pod ${name} is terminating`);
    else if (!pod.ready) out.push(`pod ${name} is not ready`);
  }
  for (const p of v.observed.pods) if (p.ordinal >= sts) out.push(`pod ${p.name} is being removed by the StatefulSet`);
  return [...new Set(out)];
}

/** Voters that stay but are not caught up (a rollout waits for them). */
export function laggingVoters(v: View): MemberState[] {
  return v.groups.flatMap((g) => g.voters.filter((m) => !m.departing && !m.caughtUp));
}

/** All blockers in one sentence, or null when the cluster is healthy. */
export function unhealthy(v: View): string | null {
  const b = blockers(v);
  return b.length === 0 ? null : `the cluster is not healthy: ${b.join('; ')}`;
}

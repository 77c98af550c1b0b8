/**
 * Rolling upgrade: when pods run an old template, restart them one at a time, followers first
 * (highest ordinal first), the leader last after handing leadership to a caught-up voter (one on
 * the new template when there is one), and only while every voter is caught up, so each restarted
 * member has caught up before the next goes down. A group of one or two voters tolerates no
 * failure, so each of its restarts pauses commits; it restarts anyway (the leader still last, when
 * there is someone to hand over to), since the alternative is never upgrading.
 *
 * Under updateStrategy OnDelete there is no rollout: pods on an old template stay until someone
 * deletes them (the StatefulSet then re-creates them from the current template).
 */
import { firstSafe, stepOrBlocked } from './rule.js';
import type { Rule } from './rule.js';
import { laggingVoters } from './health.js';
import { check } from './safety.js';
import { transferTarget } from './targets.js';
import type { Step } from './types.js';
import { groupsLedBy } from './view.js';

export const rollPods: Rule = (v) => {
  if (v.stsReplicas === null || v.desired.updateStrategy === 'OnDelete') return null;
  const sts = v.stsReplicas;
  // Pods beyond the desired size are on their way out: not worth a restart.
  const stale = v.observed.pods.filter((p) => p.ordinal < Math.min(sts, v.desired.replicas) && !p.terminating && p.templateHash !== v.desired.templateHash);
  if (stale.length === 0) return null;
  const lagging = laggingVoters(v);
  if (lagging.length > 0) return { kind: 'blocked', reason: `rolling upgrade: waiting for ${lagging.map((m) => m.id).join(', ')} to catch up before the next restart` };
  const byOrdinalDesc = [...stale].sort((a, b) => b.ordinal - a.ordinal);
  const followers = byOrdinalDesc.filter((p) => groupsLedBy(v, p.name).length === 0);
  const restart = firstSafe(
    v,
    followers.map((p): Step => ({ kind: 'restart-pod', podName: p.name, podUid: p.uid, reason: `rolling upgrade: restarting follower ${p.name} on the new template (${stale.length} pod(s) left)` })),
  );
  if (restart !== null) return restart;
  if (followers.length > 0) {
    const p = followers[0];
    return { kind: 'blocked', reason: `rolling upgrade: ${p === undefined ? '' : (check(v, { kind: 'restart-pod', podName: p.name, podUid: p.uid, reason: '' }) ?? '')}` };
  }
  // Only leaders are left on the old template: move leadership away (or restart a lone voter).
  for (const p of byOrdinalDesc) {
    for (const g of groupsLedBy(v, p.name)) {
      const leader = g.leader;
      if (leader === null) continue;
      if (g.voters.length === 1) {
        return stepOrBlocked(v, { kind: 'restart-pod', podName: p.name, podUid: p.uid, reason: `rolling upgrade: restarting ${p.name}, the only voter of ${g.label}; the cluster is unavailable until it is back` }, 'rolling upgrade');
      }
      const to = transferTarget(v, g);
      if (to === null) return { kind: 'blocked', reason: `rolling upgrade: ${leader.id} leads ${g.label} and no caught-up voter can take over yet` };
      return stepOrBlocked(v, { kind: 'transfer-leadership', groupId: g.groupId, from: leader.id, to: to.id, reason: `rolling upgrade: ${leader.id} leads ${g.label}; handing leadership to ${to.id} before restarting ${p.name}` }, 'rolling upgrade');
    }
  }
  return { kind: 'blocked', reason: 'rolling upgrade: no pod can be restarted safely yet' };
};

/** How many pods the StatefulSet should have in the situations that are not plain scaling. */
import type { View } from './view.js';
import { highestMemberOrdinal } from './view.js';

/** The StatefulSet size that brings back the pod of every member (and of every volume, blind). */
export function coverage(v: View): number {
  let n = highestMemberOrdinal(v) + 1;
  if (v.group0 === null) for (const p of v.observed.pvcs) n = Math.max(n, p.ordinal + 1);
  return Math.max(n, 1);
}

/** While founding: one pod, or enough to bring back the volumes of an earlier cluster. */
export function bootstrapReplicas(v: View): number {
  return Math.max(1, ...leftoverOrdinals(v).map((o) => o + 1));
}

/** Ordinals other than 0 that hold a volume or a pod: traces of an earlier cluster. */
export function leftoverOrdinals(v: View): number[] {
  const s = new Set<number>();
  for (const p of v.observed.pvcs) if (p.ordinal >= 1) s.add(p.ordinal);
  for (const p of v.observed.pods) if (p.ordinal >= 1) s.add(p.ordinal);
  return [...s].sort((a, b) => a - b);
}

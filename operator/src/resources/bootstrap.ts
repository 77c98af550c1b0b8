/**
 * THE BOOTSTRAP RULE. A new cluster is founded exactly once, by ordinal 0 as a single voter; a
 * pod that lost its volume later must never found a second cluster beside the first.
 *
 * Why it is hard: every pod of a StatefulSet shares one template, so "ordinal 0 bootstraps" cannot
 * be written into the template without also telling a pod 0 that comes back with an empty volume
 * a year later to start a new, empty cluster. That pod would then accept writes that the real
 * cluster never sees, and the real cluster's members would be joined by nobody: split brain with
 * silent data loss.
 *
 * The design, in three parts:
 *
 * 1. The operator remembers whether it founded the cluster (status `bootstrapped`, false until the
 *    operator has seen a leader of group 0; see plan/bootstrap.ts). While it is false the
 *    StatefulSet has exactly one replica, so nobody else can have joined what pod 0 founded.
 * 2. The permission to found is data, not template: the owned ConfigMap carries the key
 *    `bootstrap-member: <name>-0` only while the operator has not bootstrapped, and only when no
 *    volume of another ordinal exists (volumes of an earlier incarnation of the resource are
 *    adopted instead: their members resume and elect a leader themselves). Every pod reads the key
 *    into LEVIATHAN_BOOTSTRAP_MEMBER (an optional configMapKeyRef: absent key, absent variable).
 *    Once a leader is seen the operator removes the key, and no pod started afterwards can found
 *    anything. The ConfigMap is owned by the resource: a recreated resource starts unbootstrapped,
 *    which part 2's adoption of leftover volumes makes safe.
 * 3. The engine decides with the one fact only the pod knows, whether its data directory is empty:
 *    `--bootstrap-member <name>` (env LEVIATHAN_BOOTSTRAP_MEMBER) means "if my --name equals <name>
 *    AND my data directory holds no Raft state (no raft.db, or one with an identity but no
 *    configuration, entry or snapshot in any group: a join that never completed), found a new
 *    cluster as its single voter; otherwise join through --join/--join-dns while not a member, or
 *    resume". It combines with --join-dns and --learner (a founder is a voter; --learner applies to
 *    joining only), and an empty value means unset. A pod 0 with Raft state resumes even while the
 *    key is present. (An identity-only directory must count as empty: otherwise a one-member
 *    cluster whose volume was wiped, and whose resource was then created again, could never be
 *    founded again; the property test found that case.)
 *
 * Remaining window, accepted: if pod 0 founds the cluster and loses its volume before the operator
 * has seen its leader, it founds again. Nothing is lost that was not already lost: no other member
 * existed (part 1), and the first founding's only copy of its data is the volume that is gone.
 */
import type { V1EnvVar } from '@kubernetes/client-node';
import { BOOTSTRAP_MEMBER_KEY } from './constants.js';
import { configMapName } from './names.js';
import type { Workload } from './workload.js';

/** The engine's environment variable for --bootstrap-member. */
export const BOOTSTRAP_MEMBER_ENV = 'LEVIATHAN_BOOTSTRAP_MEMBER';

/** LEVIATHAN_BOOTSTRAP_MEMBER from the ConfigMap key, absent when the key is. */
export function bootstrapMemberEnv(w: Workload): V1EnvVar {
  return { name: BOOTSTRAP_MEMBER_ENV, valueFrom: { configMapKeyRef: { name: configMapName(w.name), key: BOOTSTRAP_MEMBER_KEY, optional: true } } };
}

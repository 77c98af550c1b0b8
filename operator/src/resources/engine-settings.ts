/**
 * How the engine in each pod is configured: environment variables only (every engine flag has
 * one, engine/src/server/config.ts). Flags win over the environment, so container args remain free
 * for user overrides should the CRDs grow a field for them.
 */
import type { V1EnvVar } from '@kubernetes/client-node';
import { bootstrapMemberEnv } from './bootstrap.js';
import type { OperatorConfig } from './config.js';
import { DATA_DIR, GRPC_PORT, HTTP_PORT } from './constants.js';
import { peerServiceName } from './names.js';
import type { Workload } from './workload.js';

/**
 * How long the engine waits on SIGTERM for leadership to move away. A transfer catches the target
 * up and then needs about one election; five election timeouts leave room for a slow catch-up.
 */
export function shutdownHandoverMs(w: Workload): number {
  return Math.min(120_000, Math.max(3_000, 5 * w.raft.electionTimeoutMs));
}

/**
 * Longer than the handover, so that the kubelet's SIGKILL never cuts a hand-over short, plus time
 * to stop the servers and close (checkpoint) the SQLite files.
 */
export function terminationGracePeriodSeconds(w: Workload): number {
  return Math.ceil(shutdownHandoverMs(w) / 1000) + 15;
}

/** `<pod>.<peer service>.<namespace>.svc:7400`, with `$(POD_NAME)` expanded by the kubelet. */
export function advertiseAddress(w: Workload): string {
  return `$(POD_NAME).${peerServiceName(w.name)}.${w.namespace}.svc:${GRPC_PORT}`;
}

/** The headless Service's fully qualified name: it resolves to every pod, ready or not. */
export function joinDns(w: Workload, cfg: OperatorConfig): string {
  return `${peerServiceName(w.name)}.${w.namespace}.svc.${cfg.clusterDomain}:${GRPC_PORT}`;
}

const env = (name: string, value: string | number): V1EnvVar => ({ name, value: String(value) });
const field = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

export function engineEnv(w: Workload, cfg: OperatorConfig): V1EnvVar[] {
  return [
    // First: later values refer to them as $(POD_NAME), which only works for earlier entries.
    field('POD_NAME', 'metadata.name'),
    field('POD_NAMESPACE', 'metadata.namespace'),
    field('LEVIATHAN_NAME', 'metadata.name'),
    env('LEVIATHAN_ADVERTISE', advertiseAddress(w)),
    env('LEVIATHAN_LISTEN', `0.0.0.0:${GRPC_PORT}`),
    env('LEVIATHAN_HTTP_LISTEN', `0.0.0.0:${HTTP_PORT}`),
    env('LEVIATHAN_DATA_DIR', DATA_DIR),
    env('LEVIATHAN_STATE_MACHINE', w.stateMachine),
    // An empty data directory joins through the headless Service, as a learner: the operator
    // promotes it once it has caught up (plan/), so a new pod never weakens the quorum.
    env('LEVIATHAN_JOIN_DNS', joinDns(w, cfg)),
    env('LEVIATHAN_LEARNER', 'true'),
    bootstrapMemberEnv(w),
    env('LEVIATHAN_HEARTBEAT_MS', w.raft.heartbeatMs),
    env('LEVIATHAN_ELECTION_TIMEOUT_MS', w.raft.electionTimeoutMs),
    ...(w.raft.snapshotEntries === null ? [] : [env('LEVIATHAN_SNAPSHOT_ENTRIES', w.raft.snapshotEntries)]),
    env('LEVIATHAN_SHUTDOWN_HANDOVER_MS', shutdownHandoverMs(w)),
    // SQLite puts temporary files (large sorts, VACUUM) in a temp directory; the root filesystem
    // is read-only, /tmp is an emptyDir.
    env('SQLITE_TMPDIR', '/tmp'),
  ];
}

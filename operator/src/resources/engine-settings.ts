/**
 * How the engine in each pod is configured: environment variables only (every engine flag has
 * one, engine/src/server/config.ts). Flags win over the environment, so container args remain free
 * for user overrides should the CRDs grow a field for them.
 *
 * The user's spec.env comes after the operator's variables. Names the operator sets, or that would
 * undo what it relies on (identity, addresses, data directory, joining and bootstrap, and the
 * variables spec fields govern), are reserved: the CRDs refuse them (a CEL rule holding the same
 * list, checked by test/crd-sync.test.ts) and the builder drops them should one get through.
 * Every other variable passes through, e.g. LEVIATHAN_LOG_LEVEL or LEVIATHAN_REQUEST_TIMEOUT_MS.
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

/**
 * Variables spec.env must not set. Every name engineEnv() sets for either kind, plus the engine's
 * other identity and founding flags (--join, --bootstrap, --groups).
 */
export const RESERVED_ENV_NAMES: readonly string[] = [
  'POD_NAME',
  'POD_NAMESPACE',
  'SQLITE_TMPDIR',
  'LEVIATHAN_NAME',
  'LEVIATHAN_ADVERTISE',
  'LEVIATHAN_LISTEN',
  'LEVIATHAN_HTTP_LISTEN',
  'LEVIATHAN_DATA_DIR',
  'LEVIATHAN_STATE_MACHINE',
  'LEVIATHAN_GROUPS',
  'LEVIATHAN_PARTITION_HOSTING',
  'LEVIATHAN_JOIN',
  'LEVIATHAN_JOIN_DNS',
  'LEVIATHAN_LEARNER',
  'LEVIATHAN_BOOTSTRAP',
  'LEVIATHAN_BOOTSTRAP_MEMBER',
  'LEVIATHAN_HEARTBEAT_MS',
  'LEVIATHAN_ELECTION_TIMEOUT_MS',
  'LEVIATHAN_SNAPSHOT_ENTRIES',
  'LEVIATHAN_SHUTDOWN_HANDOVER_MS',
];
const RESERVED = new Set(RESERVED_ENV_NAMES);

/** The engine's environment variable for --partition-hosting (topic nodes). */
export const PARTITION_HOSTING_ENV = 'LEVIATHAN_PARTITION_HOSTING';

const env = (name: string, value: string | number): V1EnvVar => ({ name, value: String(value) });
const field = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** The operator's variables, then the user's (spec.env) minus reserved names. */
export function engineEnv(w: Workload, cfg: OperatorConfig): V1EnvVar[] {
  return [...operatorEnv(w, cfg), ...w.env.filter((e) => !RESERVED.has(e.name)).map((e) => ({ ...e }))];
}

function operatorEnv(w: Workload, cfg: OperatorConfig): V1EnvVar[] {
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
    // Topics: every pod hosts every partition (the CRD promises a voting replica of each on every
    // pod); a pod joins the partitions it was not placed on as a learner, promoted by the operator.
    ...(w.stateMachine === 'topic' ? [env(PARTITION_HOSTING_ENV, 'all')] : []),
    // An empty data directory joins through the headless Service, as a learner: the operator
    // promotes it once it has caught up (plan/), so a new pod never weakens the quorum.
    env('LEVIATHAN_JOIN_DNS', joinDns(w, cfg)),
    env('LEVIATHAN_LEARNER', 'true'),
    bootstrapMemberEnv(w),
    env('LEVIATHAN_HEARTBEAT_MS', w.raft.heartbeatMs),
    env('LEVIATHAN_ELECTION_TIMEOUT_MS', w.raft.electionTimeoutMs),
    env('LEVIATHAN_SNAPSHOT_ENTRIES', w.raft.snapshotEntries),
    env('LEVIATHAN_SHUTDOWN_HANDOVER_MS', shutdownHandoverMs(w)),
    // SQLite puts temporary files (large sorts, VACUUM) in a temp directory; the root filesystem
    // is read-only, /tmp is an emptyDir.
    env('SQLITE_TMPDIR', '/tmp'),
  ];
}

/**
 * Helpers of the operator e2e tests: the resources' status, the pods' own Raft view, the operator
 * pod, and client load run from a toolbox pod inside the cluster (so that clients reach pods by
 * their cluster DNS names, as users' applications do, on any cluster).
 */
import { readFileSync } from 'node:fs';
import { OPERATOR_NAMESPACE } from './global-setup.js';
import { apply, execIn, getJson, kubectl, kubectlRaw, waitFor } from './kubectl.js';

export const ENGINE_IMAGE = process.env.ENGINE_IMAGE ?? 'leviathan/engine:dev';
export const ENGINE_IMAGE_NEXT = process.env.ENGINE_IMAGE_NEXT ?? `${ENGINE_IMAGE}-next`;

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface ResourceStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  leader?: string;
  bootstrapped?: boolean;
  pendingStep?: { kind: string };
  members?: { name: string; id: string; role: string; healthy: boolean; lag?: number }[];
  partitions?: { id: number; leader?: string; messages?: number }[];
  conditions?: Condition[];
}

export interface Resource {
  metadata: { name: string; generation: number; uid: string };
  spec: Record<string, unknown>;
  status?: ResourceStatus;
}

export type Kind = 'leviathancluster' | 'disheaptopic';

export const getResource = (ns: string, kind: Kind, name: string): Promise<Resource> => getJson<Resource>(['-n', ns, 'get', kind, name]);

export function condition(r: Resource, type: string): Condition | undefined {
  return r.status?.conditions?.find((c) => c.type === type);
}

function summary(r: Resource): string {
  const c = (t: string) => {
    const x = condition(r, t);
    return x ? `${t}=${x.status}(${x.reason}: ${x.message})` : `${t}=?`;
  };
  return `gen ${r.metadata.generation}, observed ${r.status?.observedGeneration ?? '-'}, ready ${r.status?.readyReplicas ?? 0}/${r.status?.replicas ?? 0}, pending ${r.status?.pendingStep?.kind ?? '-'}; ${c('Ready')}; ${c('Progressing')}`;
}

/** Waits until the resource is Ready with `replicas` healthy voters and nothing left to do. */
export async function waitConverged(ns: string, kind: Kind, name: string, replicas: number, timeoutMs = 300_000): Promise<Resource> {
  let last = '';
  return waitFor(
    `${kind}/${name} Ready with ${replicas} members and converged`,
    async () => {
      const r = await getResource(ns, kind, name);
      last = summary(r);
      const ready = condition(r, 'Ready');
      const progressing = condition(r, 'Progressing');
      const ok =
        r.status?.observedGeneration === r.metadata.generation &&
        ready?.status === 'True' &&
        progressing?.status === 'False' &&
        r.status?.readyReplicas === replicas &&
        (r.status?.members?.length ?? r.status?.replicas) === replicas;
      return ok ? r : undefined;
    },
    { timeoutMs, intervalMs: 2_000, describe: () => last },
  );
}

/** Pod names of the resource that exist now (any phase). */
export async function podNames(ns: string, name: string): Promise<string[]> {
  const pods = await getJson<{ items: { metadata: { name: string } }[] }>(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${name}`]);
  return pods.items.map((p) => p.metadata.name).sort();
}

export async function pvcNames(ns: string, name: string): Promise<string[]> {
  const pvcs = await getJson<{ items: { metadata: { name: string } }[] }>(['-n', ns, 'get', 'pvc']);
  return pvcs.items.map((p) => p.metadata.name).filter((n) => n.startsWith(`data-${name}-`)).sort();
}

export interface RaftStatus {
  node: { name: string; memberId: string };
  groups: { groupId: number; role: string; leader: string | null; members: { id: string; role: string }[] }[];
}

/** A pod's own view of Raft (its /raft/status, read inside the pod). */
export async function raftStatus(ns: string, pod: string): Promise<RaftStatus> {
  const out = await execIn(ns, pod, ['node', '-e', 'fetch("http://127.0.0.1:7401/raft/status").then(r=>r.text()).then(t=>process.stdout.write(t))']);
  return JSON.parse(out) as RaftStatus;
}

export const memberPod = (memberId: string): string => memberId.slice(0, memberId.lastIndexOf('@'));

// ----- the operator ---------------------------------------------------------------------------

export async function operatorPods(): Promise<string[]> {
  const pods = await getJson<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>(['-n', OPERATOR_NAMESPACE, 'get', 'pods', '-l', 'app.kubernetes.io/name=leviathan-operator']);
  return pods.items.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);
}

/** SIGKILL-like: the operator pod is deleted with no grace; its Deployment starts another. */
export async function killOperator(): Promise<string[]> {
  const pods = await operatorPods();
  for (const p of pods) await kubectl(['-n', OPERATOR_NAMESPACE, 'delete', 'pod', p, '--grace-period=0', '--force', '--wait=false']);
  return pods;
}

/** Events the operator recorded about an object, oldest first. */
export async function eventReasons(ns: string, name: string): Promise<string[]> {
  const ev = await getJson<{ items: { reason: string; involvedObject: { name: string }; source?: { component?: string } }[] }>(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp']);
  return ev.items.filter((e) => e.involvedObject.name === name && e.source?.component === 'leviathan-operator').map((e) => e.reason);
}

// ----- client load from a toolbox pod ---------------------------------------------------------

const fixture = (f: string): string => readFileSync(new URL(`../fixtures/${f}`, import.meta.url), 'utf8');

/** A pod of the engine image that runs nothing but keeps the load scripts at /load. */
export async function startToolbox(ns: string): Promise<void> {
  const indent = (s: string) =>
    s
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n');
  await apply(
    `apiVersion: v1
kind: ConfigMap
metadata: {name: load}
data:
  sql-load.mjs: |
${indent(fixture('sql-load.mjs'))}
  topic-load.mjs: |
${indent(fixture('topic-load.mjs'))}
---
apiVersion: v1
kind: Pod
metadata: {name: toolbox}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000}
  containers:
    - name: toolbox
      image: ${ENGINE_IMAGE}
      imagePullPolicy: IfNotPresent
      command: ["/usr/local/bin/tini", "--", "node", "-e", "setInterval(() => {}, 1 << 30)"]
      securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
      volumeMounts: [{name: load, mountPath: /load}]
      resources: {requests: {cpu: 20m, memory: 64Mi}}
  volumes: [{name: load, configMap: {name: load}}]
`,
    ns,
  );
  await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/toolbox', '--timeout=120s'], { timeoutMs: 130_000 });
}

export interface SqlLoadResult {
  acked: number;
  uncertain: number;
  missing: number[];
  missingCount: number;
  rows: number;
  maxGapMs: number;
  gaps: { from: string; ms: number }[];
  errors: Record<string, number>;
}

export interface TopicLoadResult {
  acked: number;
  delivered: number;
  uncertain: number;
  lost: string[];
  lostCount: number;
  maxGapMs: number;
  errors: Record<string, number>;
}

let runs = 0;

async function runLoad<T>(ns: string, args: string[], durationMs: number): Promise<T> {
  const res = await kubectlRaw(['-n', ns, 'exec', 'toolbox', '--', 'node', ...args], { timeoutMs: durationMs + 360_000 });
  const line = res.stdout.trim().split('\n').pop() ?? '';
  if (res.code !== 0 || !line.startsWith('{')) throw new Error(`load ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()} ${res.stdout.trim()}`);
  const out = JSON.parse(line) as T;
  console.log(`load ${args[0]}: ${line}`);
  return out;
}

/** Inserts rows through the client Service for durationMs, then checks every acknowledged one. */
export function sqlLoad(ns: string, name: string, durationMs: number): Promise<SqlLoadResult> {
  return runLoad(ns, ['/load/sql-load.mjs', `${name}.${ns}.svc:7400`, String(durationMs), String(++runs)], durationMs);
}

/** Enqueues and consumes through the client Service for durationMs, then drains and checks. */
export function topicLoad(ns: string, name: string, durationMs: number): Promise<TopicLoadResult> {
  return runLoad(ns, ['/load/topic-load.mjs', `${name}.${ns}.svc:7400`, name, String(durationMs), String(++runs)], durationMs);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

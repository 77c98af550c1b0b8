/**
 * The engine image on Kubernetes without the operator: a plain StatefulSet behind a headless
 * Service forms a three-member Raft cluster through DNS discovery, replicates a write, survives
 * the deletion of its leader pod (a new leader is elected), and the deleted pod comes back with
 * the same identity (name@incarnation) because its volume kept it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apply, execIn, getJson, kubectl, waitFor } from '../lib/kubectl.js';
import { useNamespace } from '../lib/namespace.js';

const ns = useNamespace('engine-sts');
const IMAGE = process.env.ENGINE_IMAGE ?? 'leviathan/engine:dev';
const REPLICAS = 3;
const startScript = readFileSync(new URL('../fixtures/engine-start.mjs', import.meta.url), 'utf8');

interface RaftStatus {
  node: { name: string; incarnation: string; memberId: string; address: string };
  groups: { groupId: number; role: string; term: number; leader: string | null; commit: number; members: { id: string; role: string }[] }[];
}

function manifests(namespace: string): string {
  const indented = startScript
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  return `apiVersion: v1
kind: ConfigMap
metadata: {name: engine-start}
data:
  engine-start.mjs: |
${indented}
---
apiVersion: v1
kind: Service
metadata: {name: engine}
spec:
  clusterIP: None
  # Peers must find each other before they are ready: readiness needs a leader.
  publishNotReadyAddresses: true
  selector: {app: engine}
  ports:
    - {name: grpc, port: 7400}
    - {name: http, port: 7401}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: engine}
spec:
  serviceName: engine
  replicas: ${REPLICAS}
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: engine}}
  template:
    metadata: {labels: {app: engine}}
    spec:
      terminationGracePeriodSeconds: 30
      securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000}
      containers:
        - name: engine
          image: ${IMAGE}
          imagePullPolicy: IfNotPresent
          command: ["/usr/local/bin/tini", "--", "/bin/sh", "-c"]
          args:
            - |
              set -eu
              mode=$(node /etc/engine-start/engine-start.mjs)
              exec node /app/engine/dist/src/server/main.js --name "$POD_NAME" \\
                --advertise "$POD_NAME.engine.$POD_NAMESPACE.svc.cluster.local:7400" $mode
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
            - {name: JOIN_DNS, value: "engine.${namespace}.svc.cluster.local:7400"}
            - {name: REPLICAS, value: "${REPLICAS}"}
            - {name: LEVIATHAN_DATA_DIR, value: /var/lib/leviathan}
          ports:
            - {name: grpc, containerPort: 7400}
            - {name: http, containerPort: 7401}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 1
            failureThreshold: 2
          livenessProbe:
            httpGet: {path: /livez, port: http}
            periodSeconds: 5
            failureThreshold: 6
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: data, mountPath: /var/lib/leviathan}
            - {name: start, mountPath: /etc/engine-start, readOnly: true}
            - {name: tmp, mountPath: /tmp}
          resources:
            requests: {cpu: 50m, memory: 96Mi}
            limits: {memory: 384Mi}
      volumes:
        - name: start
          configMap: {name: engine-start}
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 256Mi}}
`;
}

/** A pod's own view of Raft, read inside the pod (works on any cluster, kind included). */
async function raftStatus(namespace: string, pod: string): Promise<RaftStatus> {
  const out = await execIn(namespace, pod, ['node', '-e', 'fetch("http://127.0.0.1:7401/raft/status").then(r=>r.text()).then(t=>process.stdout.write(t))']);
  return JSON.parse(out) as RaftStatus;
}

/** HTTP API of the engine (rqlite-shaped), called inside a pod. */
async function sql(namespace: string, pod: string, path: string, body?: unknown): Promise<unknown> {
  const script = body === undefined
    ? `fetch(${JSON.stringify(`http://127.0.0.1:7401${path}`)}).then(r=>r.text()).then(t=>process.stdout.write(t))`
    : `fetch(${JSON.stringify(`http://127.0.0.1:7401${path}`)},{method:"POST",headers:{"content-type":"application/json"},body:${JSON.stringify(JSON.stringify(body))}}).then(r=>r.text()).then(t=>process.stdout.write(t))`;
  return JSON.parse(await execIn(namespace, pod, ['node', '-e', script]));
}

const pods = Array.from({ length: REPLICAS }, (_, i) => `engine-${i}`);

describe('engine StatefulSet', () => {
  it('forms a 3-member Raft cluster through DNS, elects a new leader when the leader pod is deleted, and the pod rejoins with the same identity', async () => {
    const namespace = ns();
    await apply(manifests(namespace), namespace);

    // All three pods ready: each has a leader in its group and is a member of it.
    await kubectl(['-n', namespace, 'rollout', 'status', 'statefulset/engine', '--timeout=240s'], { timeoutMs: 260_000 });

    const formed = await waitFor(
      'one leader and three voters seen alike by every pod',
      async () => {
        const all = await Promise.all(pods.map((p) => raftStatus(namespace, p)));
        const g = all.map((s) => s.groups[0]!);
        const leader = g[0]!.leader;
        const voters = (x: RaftStatus['groups'][number]): string[] => x.members.filter((m) => m.role === 'voter').map((m) => m.id).sort();
        if (leader === null || !g.every((x) => x.leader === leader && voters(x).length === REPLICAS && voters(x).join() === voters(g[0]!).join())) return undefined;
        return { all, leader, voters: voters(g[0]!) };
      },
      { timeoutMs: 60_000 },
    );
    const ids = Object.fromEntries(formed.all.map((s) => [s.node.name, s.node.memberId]));
    expect(formed.voters).toEqual(pods.map((p) => ids[p]).sort());
    for (const s of formed.all) expect(s.node.memberId).toMatch(new RegExp(`^${s.node.name}@`));
    console.log(`formed: leader ${formed.leader}, voters ${formed.voters.join(', ')}`);

    // A replicated write, through a follower (forwarded to the leader).
    const leaderPod = formed.leader.slice(0, formed.leader.indexOf('@'));
    const follower = pods.find((p) => p !== leaderPod)!;
    await sql(namespace, follower, '/db/execute', [['CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'], ['INSERT INTO t (v) VALUES (?)', 'before failover']]);

    // Delete the leader pod: SIGTERM hands leadership over, the others elect a new leader.
    const term0 = formed.all.find((s) => s.node.name === leaderPod)!.groups[0]!.term;
    await kubectl(['-n', namespace, 'delete', 'pod', leaderPod, '--wait=false']);
    const survivors = pods.filter((p) => p !== leaderPod);
    const newLeader = await waitFor(
      'a new leader among the surviving pods',
      async () => {
        const st = await Promise.all(survivors.map((p) => raftStatus(namespace, p)));
        const l = st[0]!.groups[0]!.leader;
        return l !== null && l !== formed.leader && st.every((s) => s.groups[0]!.leader === l && s.groups[0]!.term > term0) ? l : undefined;
      },
      { timeoutMs: 60_000 },
    );
    console.log(`deleted ${leaderPod}; new leader ${newLeader}`);
    expect(survivors.map((p) => ids[p])).toContain(newLeader);

    // The pod comes back on its volume: same member id, still a voter, no replacement member.
    await waitFor(
      `${leaderPod} recreated and ready`,
      async () => {
        const pod = await getJson<{ metadata: { uid: string }; status: { conditions?: { type: string; status: string }[] } }>(['-n', namespace, 'get', 'pod', leaderPod]);
        return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs: 180_000 },
    );
    const back = await waitFor(
      `${leaderPod} back in the configuration with its identity`,
      async () => {
        const st = await raftStatus(namespace, leaderPod);
        const g = st.groups[0]!;
        return g.leader !== null && g.members.length === REPLICAS ? st : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(back.node.memberId).toBe(formed.leader);
    expect(back.groups[0]!.members.map((m) => m.id).sort()).toEqual(formed.voters);
    expect(back.groups[0]!.members.every((m) => m.role === 'voter')).toBe(true);

    // It holds the write made before the failover (a local read on the returned pod).
    const rows = await waitFor(
      'the write replicated to the returned pod',
      async () => {
        const res = (await sql(namespace, leaderPod, '/db/query?level=none&q=' + encodeURIComponent('SELECT v FROM t'))) as { results?: { values?: unknown[][] }[] };
        const values = res.results?.[0]?.values;
        return values && values.length > 0 ? values : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(rows).toEqual([['before failover']]);
  });
  it('a pod that lost its volume joins the running cluster as a new incarnation instead of founding a second one', async () => {
    const namespace = ns();
    await apply(manifests(namespace), namespace);
    await kubectl(['-n', namespace, 'rollout', 'status', 'statefulset/engine', '--timeout=240s'], { timeoutMs: 260_000 });
    const before = await waitFor(
      'three voters',
      async () => {
        const st = await raftStatus(namespace, 'engine-1');
        const g = st.groups[0]!;
        return g.leader !== null && g.members.filter((m) => m.role === 'voter').length === REPLICAS ? st : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const oldIds = before.groups[0]!.members.map((m) => m.id).sort();
    const old0 = oldIds.find((id) => id.startsWith('engine-0@'))!;
    await sql(namespace, 'engine-1', '/db/execute', [['CREATE TABLE t (v TEXT)'], ['INSERT INTO t (v) VALUES (?)', 'kept by the others']]);

    // Lose engine-0's volume: the claim goes (it waits for the pod), then the pod; the
    // StatefulSet recreates both, the new claim empty.
    await kubectl(['-n', namespace, 'delete', 'pvc', 'data-engine-0', '--wait=false']);
    await kubectl(['-n', namespace, 'delete', 'pod', 'engine-0', '--wait=false']);

    const after = await waitFor(
      'engine-0 back as a new incarnation, in the same cluster',
      async () => {
        const st = await raftStatus(namespace, 'engine-0');
        if (st.node.memberId === old0) return undefined;
        const g = st.groups[0]!;
        const ids = g.members.map((m) => m.id).sort();
        return g.leader !== null && ids.includes(st.node.memberId) && !ids.includes(old0) && ids.length === REPLICAS ? st : undefined;
      },
      { timeoutMs: 180_000 },
    );
    console.log(`engine-0 was ${old0}, is now ${after.node.memberId}`);
    // One cluster: the pods that kept their volumes agree with it.
    for (const p of ['engine-1', 'engine-2']) {
      const st = await raftStatus(namespace, p);
      expect(st.groups[0]!.members.map((m) => m.id).sort()).toEqual(after.groups[0]!.members.map((m) => m.id).sort());
      expect(st.groups[0]!.leader).toBe(after.groups[0]!.leader);
    }
    const rows = await waitFor(
      'the data replicated to the new incarnation',
      async () => {
        const res = (await sql(namespace, 'engine-0', '/db/query?level=none&q=' + encodeURIComponent('SELECT v FROM t'))) as { results?: { values?: unknown[][] }[] };
        const values = res.results?.[0]?.values;
        return values && values.length > 0 ? values : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(rows).toEqual([['kept by the others']]);
  });
});

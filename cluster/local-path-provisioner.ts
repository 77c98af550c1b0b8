/**
 * A local-path volume provisioner for the single-node test cluster (test infrastructure, not
 * product code), in the manner of rancher's local-path-provisioner: a PersistentVolumeClaim of a
 * StorageClass whose provisioner is `leviathan.dev/local-path` gets a directory on this machine
 * and a hostPath PersistentVolume bound to it; when a released volume's policy is Delete, the
 * directory and the volume go away.
 *
 * It runs on the host beside the kubelet (started and stopped by cluster/up.sh and
 * cluster/down.sh) and polls the API server once a second: simple, and enough for tests.
 *
 *   node --import tsx cluster/local-path-provisioner.ts --server URL --ca F --cert F --key F --dir D --node N
 */
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const PROVISIONER = 'leviathan.dev/local-path';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    dir: { type: 'string' },
    node: { type: 'string' },
    'interval-ms': { type: 'string', default: '1000' },
  },
});
for (const k of ['server', 'ca', 'cert', 'key', 'dir', 'node'] as const) {
  if (!args[k]) {
    console.error(`local-path-provisioner: --${k} is required`);
    process.exit(2);
  }
}
const server = new URL(args.server!);
const tls = { ca: readFileSync(args.ca!), cert: readFileSync(args.cert!), key: readFileSync(args.key!) };
const baseDir = args.dir!;
const nodeName = args.node!;

interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}
interface Pvc {
  metadata: Meta;
  spec: { storageClassName?: string; volumeName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } }; volumeMode?: string };
  status?: { phase?: string };
}
interface Pv {
  metadata: Meta;
  spec: { hostPath?: { path: string }; persistentVolumeReclaimPolicy?: string };
  status?: { phase?: string };
}
interface StorageClass {
  metadata: Meta;
  provisioner: string;
  reclaimPolicy?: string;
  volumeBindingMode?: string;
}

function log(msg: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));
}

function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: server.hostname,
        port: server.port,
        method,
        path,
        ...tls,
        headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : {}) as T });
          } catch {
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function list<T>(path: string): Promise<T[]> {
  const res = await api<{ items?: T[] }>('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return res.body.items ?? [];
}

async function ourClasses(): Promise<{ byName: Map<string, StorageClass>; defaultName: string | null }> {
  const classes = await list<StorageClass>('/apis/storage.k8s.io/v1/storageclasses');
  const byName = new Map<string, StorageClass>();
  let defaultName: string | null = null;
  for (const c of classes) {
    if (c.provisioner !== PROVISIONER) continue;
    byName.set(c.metadata.name, c);
    if (c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true') defaultName = c.metadata.name;
  }
  return { byName, defaultName };
}

async function provision(pvc: Pvc, sc: StorageClass): Promise<void> {
  const ns = pvc.metadata.namespace!;
  const pvName = `pvc-${pvc.metadata.uid}`;
  const path = join(baseDir, `${ns}_${pvc.metadata.name}_${pvName}`);
  mkdirSync(path, { recursive: true, mode: 0o777 });
  // World-writable, as local-path-provisioner does: pods run as any uid and hostPath volumes
  // ignore fsGroup.
  chmodSync(path, 0o777);
  const pv = {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
    spec: {
      capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
      volumeMode: pvc.spec.volumeMode ?? 'Filesystem',
      persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
      storageClassName: sc.metadata.name,
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: pvc.metadata.name, uid: pvc.metadata.uid },
      hostPath: { path, type: 'Directory' },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName] }] }] } },
    },
  };
  const res = await api('POST', '/api/v1/persistentvolumes', pv);
  if (res.status === 201) log('provisioned', { pvc: `${ns}/${pvc.metadata.name}`, pv: pvName, path });
  else if (res.status !== 409) throw new Error(`creating ${pvName}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
}

async function reclaim(pv: Pv): Promise<void> {
  const path = pv.spec.hostPath?.path;
  if (path && path.startsWith(baseDir + '/')) rmSync(path, { recursive: true, force: true });
  const res = await api('DELETE', `/api/v1/persistentvolumes/${pv.metadata.name}`);
  if (res.status === 200 || res.status === 202 || res.status === 404) log('deleted', { pv: pv.metadata.name, path });
  else throw new Error(`deleting ${pv.metadata.name}: ${res.status}`);
}

async function pass(): Promise<void> {
  const { byName, defaultName } = await ourClasses();
  if (byName.size === 0) return;
  for (const pvc of await list<Pvc>('/api/v1/persistentvolumeclaims')) {
    if (pvc.status?.phase !== 'Pending' || pvc.spec.volumeName || pvc.metadata.deletionTimestamp) continue;
    const sc = byName.get(pvc.spec.storageClassName ?? defaultName ?? '');
    if (!sc) continue;
    // WaitForFirstConsumer: the scheduler picks the node first (there is only one).
    if (sc.volumeBindingMode === 'WaitForFirstConsumer' && !pvc.metadata.annotations?.['volume.kubernetes.io/selected-node']) continue;
    await provision(pvc, sc);
  }
  for (const pv of await list<Pv>('/api/v1/persistentvolumes')) {
    if (pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] !== PROVISIONER) continue;
    if (pv.status?.phase === 'Released' && pv.spec.persistentVolumeReclaimPolicy === 'Delete') await reclaim(pv);
  }
}

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => (stopping = true));
log('started', { provisioner: PROVISIONER, dir: baseDir, node: nodeName });
const interval = Number(args['interval-ms']);
while (!stopping) {
  try {
    await pass();
  } catch (err) {
    log('pass failed; retrying', { err: (err as Error).message });
  }
  await new Promise((r) => setTimeout(r, interval));
}
log('stopped');

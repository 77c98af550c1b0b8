/**
 * The CRDs in crds/ are the contract (a colleague owns them): these tests fail when they and the
 * operator's types drift apart, e.g. when a field is added that the builders should now honour,
 * or when status would carry a field the API server prunes.
 */
import { readFileSync } from 'node:fs';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/api/index.js';
import { clusterStatus, conditions, topicStatus } from '../src/plan/index.js';
import { desired, healthy, partition, withPartitions, edit, BOOTSTRAPPED } from './plan/fixtures.js';

/**
 * As client-node's loadYaml returns it: its model classes rename `default` and `enum` to `_default`
 * and `_enum`, except under `items`, which it leaves raw.
 */
interface Schema {
  readonly type?: string;
  readonly _default?: unknown;
  readonly _enum?: readonly unknown[];
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
}

interface Crd {
  readonly spec: { readonly versions: readonly { readonly schema: { readonly openAPIV3Schema: Schema } }[] };
}

function schemaOf(file: string): Schema {
  const crd = loadYaml<Crd>(readFileSync(new URL(`../../crds/${file}`, import.meta.url), 'utf8'));
  const s = crd.spec.versions[0]?.schema.openAPIV3Schema;
  if (!s) throw new Error(`${file}: no schema`);
  return s;
}

/** Every property path under a schema ("storage.size", "members[].lag"). */
function paths(s: Schema | undefined, prefix = ''): string[] {
  if (s === undefined) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const p = `${prefix}${k}`;
    out.push(p);
    out.push(...paths(v, `${p}.`));
    if (v.items) out.push(...paths(v.items, `${p}[].`));
  }
  return out.sort();
}

function at(s: Schema, path: string): Schema {
  let cur: Schema | undefined = s;
  for (const k of path.split('.')) cur = cur?.properties?.[k];
  if (cur === undefined) throw new Error(`no ${path}`);
  return cur;
}

const cluster = schemaOf('leviathan.dev_leviathanclusters.yaml');
const topic = schemaOf('leviathan.dev_disheaptopics.yaml');

/** The spec fields api/types.ts mirrors; a new CRD field fails here until the operator knows it. */
const CLUSTER_SPEC = ['replicas', 'image', 'imagePullPolicy', 'storage', 'storage.size', 'storage.storageClassName', 'raft', 'raft.heartbeatMs', 'raft.electionTimeoutMs', 'raft.snapshotEntries', 'resources', 'resources.requests', 'resources.limits', 'service', 'service.type'];
const TOPIC_SPEC = ['partitions', 'replicas', 'image', 'imagePullPolicy', 'leaseDuration', 'maxDeliveries', 'deadLetterTopic', 'dedupWindow', 'retention', 'retention.maxAge', 'retention.maxMessages', 'retention.maxBytes', 'storage', 'storage.size', 'storage.storageClassName', 'raft', 'raft.heartbeatMs', 'raft.electionTimeoutMs', 'resources', 'resources.requests', 'resources.limits'];

describe('crds/ and the operator agree', () => {
  it('on the spec fields', () => {
    expect(paths(at(cluster, 'spec'))).toEqual([...CLUSTER_SPEC].sort());
    expect(paths(at(topic, 'spec'))).toEqual([...TOPIC_SPEC].sort());
  });

  it('on the defaults', () => {
    const d = (s: Schema, p: string): unknown => at(s, `spec.${p}`)._default;
    expect(d(cluster, 'replicas')).toBe(DEFAULTS.replicas);
    expect(d(cluster, 'imagePullPolicy')).toBe(DEFAULTS.imagePullPolicy);
    expect(d(cluster, 'storage.size')).toBe(DEFAULTS.storageSize);
    expect(d(cluster, 'raft.heartbeatMs')).toBe(DEFAULTS.heartbeatMs);
    expect(d(cluster, 'raft.electionTimeoutMs')).toBe(DEFAULTS.electionTimeoutMs);
    expect(d(cluster, 'raft.snapshotEntries')).toBe(DEFAULTS.snapshotEntries);
    expect(d(cluster, 'service.type')).toBe(DEFAULTS.serviceType);
    expect(d(topic, 'partitions')).toBe(DEFAULTS.partitions);
    expect(d(topic, 'leaseDuration')).toBe(DEFAULTS.leaseDuration);
    expect(d(topic, 'maxDeliveries')).toBe(DEFAULTS.maxDeliveries);
    expect(d(topic, 'dedupWindow')).toBe(DEFAULTS.dedupWindow);
    expect(d(topic, 'retention.maxAge')).toBe(DEFAULTS.retentionMaxAge);
  });

  it('on the enums', () => {
    expect(at(cluster, 'spec.imagePullPolicy')._enum).toEqual(['Always', 'IfNotPresent', 'Never']);
    expect(at(cluster, 'spec.service.type')._enum).toEqual(['ClusterIP', 'NodePort', 'LoadBalancer']);
    expect(at(cluster, 'status.members').items?.properties?.role?.enum).toEqual(['Leader', 'Follower', 'Learner', 'Candidate', 'Unknown']);
  });

  it('status carries only fields the CRD declares (anything else would be pruned)', () => {
    const ctx = { generation: 4, selector: 'a=b' };
    const obs = edit(healthy(3), withPartitions(partition(0, [0, 1, 2], 0)));
    const statusPaths = new Set(paths(at(cluster, 'status')));
    const written = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => {
        const p = `${prefix}${k}`;
        if (Array.isArray(v)) return [p, ...v.flatMap((x: unknown) => (typeof x === 'object' && x !== null ? written(x, `${p}[].`) : []))];
        return typeof v === 'object' && v !== null ? [p, ...written(v as object, `${p}.`)] : [p];
      });
    const conds = conditions({ desired: desired(), observed: obs, memory: BOOTSTRAPPED, decision: { kind: 'idle', reason: 'ok' }, generation: 4, previous: [], now: '2026-01-01T00:00:00Z' });
    for (const p of written({ ...clusterStatus(desired(), obs, ctx), conditions: conds })) expect(statusPaths, p).toContain(p);
    const topicPaths = new Set(paths(at(topic, 'status')));
    for (const p of written({ ...topicStatus(desired(), obs, ctx), conditions: conds })) expect(topicPaths, p).toContain(p);
  });
});

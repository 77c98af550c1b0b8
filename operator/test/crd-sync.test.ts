/**
 * The CRDs in crds/ are the contract (a colleague owns them): these tests fail when they and the
 * operator's types drift apart, e.g. when a field is added that the builders should now honour,
 * or when status would carry a field the API server prunes.
 */
import { readFileSync } from 'node:fs';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, MAX_NAME_LENGTH } from '../src/api/index.js';
import { clusterStatus, conditions, planMemoryStatus, topicStatus } from '../src/plan/index.js';
import { RESERVED_ENV_NAMES } from '../src/resources/index.js';
import { desired, healthy, partition, withPartitions, edit, BOOTSTRAPPED } from './plan/fixtures.js';

interface Validation {
  readonly rule: string;
  readonly message?: string;
}

/**
 * As client-node's loadYaml returns it: its model classes rename `default`, `enum` and the
 * `x-kubernetes-*` keys (to `_default`, `_enum`, `x_kubernetes_*`), except under `items`, which it
 * leaves raw.
 */
interface Schema {
  readonly type?: string;
  readonly _default?: unknown;
  readonly _enum?: readonly unknown[];
  readonly enum?: readonly unknown[];
  readonly nullable?: boolean;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly x_kubernetes_validations?: readonly Validation[];
  readonly 'x-kubernetes-validations'?: readonly Validation[];
  readonly x_kubernetes_preserve_unknown_fields?: boolean;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
}

const rules = (s: Schema | undefined): readonly Validation[] => s?.x_kubernetes_validations ?? s?.['x-kubernetes-validations'] ?? [];
const preserves = (s: Schema | undefined): boolean => (s?.x_kubernetes_preserve_unknown_fields ?? s?.['x-kubernetes-preserve-unknown-fields']) === true;

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

/** The fields both kinds share (api/types.ts WorkloadSpec). */
const WORKLOAD_SPEC = [
  'affinity',
  'tolerations',
  'nodeSelector',
  'topologySpreadConstraints',
  'priorityClassName',
  'podAnnotations',
  'podLabels',
  'env',
  'env[].name',
  'env[].value',
  'env[].valueFrom',
  'persistentVolumeClaimRetentionPolicy',
  'persistentVolumeClaimRetentionPolicy.whenDeleted',
  'persistentVolumeClaimRetentionPolicy.whenScaled',
  'updateStrategy',
  'updateStrategy.type',
];
/** The core/v1 types the CRDs keep as the API server stores them, rather than inlining them. */
const PRESERVED = ['affinity', 'tolerations[]', 'topologySpreadConstraints[]', 'env[].valueFrom'];

/** The spec fields api/types.ts mirrors; a new CRD field fails here until the operator knows it. */
const CLUSTER_SPEC = [
  ...['replicas', 'image', 'imagePullPolicy', 'storage', 'storage.size', 'storage.storageClassName', 'raft', 'raft.heartbeatMs', 'raft.electionTimeoutMs', 'raft.snapshotEntries'],
  ...['resources', 'resources.requests', 'resources.limits', 'service', 'service.type', ...WORKLOAD_SPEC],
];
const TOPIC_SPEC = [
  ...['partitions', 'replicas', 'mode', 'image', 'imagePullPolicy', 'leaseDuration', 'maxDeliveries', 'deadLetterTopic', 'dedupWindow', 'retention', 'retention.maxAge', 'retention.maxMessages'],
  ...['retention.maxBytes', 'storage', 'storage.size', 'storage.storageClassName', 'raft', 'raft.heartbeatMs', 'raft.electionTimeoutMs', 'raft.snapshotEntries', 'resources'],
  ...['resources.requests', 'resources.limits', 'service', 'service.type', ...WORKLOAD_SPEC],
];

/** The schema at a path of paths() ("env[].valueFrom"). */
function atPath(s: Schema, path: string): Schema | undefined {
  let cur: Schema | undefined = s;
  for (const k of path.split('.')) {
    const arr = k.endsWith('[]');
    cur = cur?.properties?.[arr ? k.slice(0, -2) : k];
    if (arr) cur = cur?.items;
  }
  return cur;
}

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
    expect(d(topic, 'mode')).toBe(DEFAULTS.mode);
    expect(d(topic, 'raft.snapshotEntries')).toBe(DEFAULTS.snapshotEntries);
    expect(d(topic, 'service.type')).toBe(DEFAULTS.serviceType);
    for (const s of [cluster, topic]) {
      expect(d(s, 'persistentVolumeClaimRetentionPolicy.whenDeleted')).toBe(DEFAULTS.volumeRetention);
      expect(d(s, 'persistentVolumeClaimRetentionPolicy.whenScaled')).toBe(DEFAULTS.volumeRetention);
      expect(d(s, 'updateStrategy.type')).toBe(DEFAULTS.updateStrategy);
      // The objects default to {} so that their fields' defaults apply.
      for (const o of ['persistentVolumeClaimRetentionPolicy', 'updateStrategy']) expect(d(s, o), o).toEqual({});
    }
  });

  it('on the enums', () => {
    expect(at(cluster, 'spec.imagePullPolicy')._enum).toEqual(['Always', 'IfNotPresent', 'Never']);
    expect(at(cluster, 'spec.service.type')._enum).toEqual(['ClusterIP', 'NodePort', 'LoadBalancer']);
    expect(at(cluster, 'status.members').items?.properties?.role?.enum).toEqual(['Leader', 'Follower', 'Learner', 'Candidate', 'Unknown']);
    expect(at(topic, 'spec.service.type')._enum).toEqual(['ClusterIP', 'NodePort', 'LoadBalancer']);
    expect(at(topic, 'spec.mode')._enum).toEqual(['MIN', 'MAX']);
    for (const s of [cluster, topic]) {
      expect(at(s, 'spec.persistentVolumeClaimRetentionPolicy.whenDeleted')._enum).toEqual(['Retain', 'Delete']);
      expect(at(s, 'spec.persistentVolumeClaimRetentionPolicy.whenScaled')._enum).toEqual(['Retain', 'Delete']);
      expect(at(s, 'spec.updateStrategy.type')._enum).toEqual(['RollingUpdate', 'OnDelete']);
    }
  });

  it('keep the big core/v1 types as stored (preserve-unknown-fields), documented', () => {
    for (const s of [cluster, topic]) {
      for (const p of PRESERVED) {
        const f = atPath(at(s, 'spec'), p);
        expect(preserves(f), p).toBe(true);
      }
      for (const p of WORKLOAD_SPEC.filter((x) => !x.includes('.') && !x.includes('['))) expect((at(s, `spec.${p}`) as { description?: string }).description, p).toBeTruthy();
    }
  });

  it('refuse the env names the operator reserves, and only those', () => {
    for (const s of [cluster, topic]) {
      const rule = rules(at(s, 'spec.env').items).find((r) => r.rule.includes('self.name in'))?.rule ?? '';
      const names = [...rule.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
      expect(names).toEqual([...RESERVED_ENV_NAMES]);
    }
  });

  it('limit names at the root: at most MAX_NAME_LENGTH characters, a lowercase letter first', () => {
    for (const s of [cluster, topic]) {
      const root = rules(s).map((r) => r.rule);
      expect(root).toContain(`self.metadata.name.size() <= ${MAX_NAME_LENGTH}`);
      expect(root).toContain("self.metadata.name.matches('^[a-z]')");
    }
  });

  it('keep the planner\'s memory in status: bootstrapped, and a nullable opaque pendingStep', () => {
    for (const s of [cluster, topic]) {
      expect(at(s, 'status.bootstrapped').type).toBe('boolean');
      const p = at(s, 'status.pendingStep');
      expect(p).toMatchObject({ type: 'object', nullable: true });
      expect(preserves(p)).toBe(true);
    }
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
    // pendingStep is opaque to the schema: its own fields are not declared, and need not be.
    const memory = planMemoryStatus({ bootstrapped: true, pendingStep: null });
    for (const p of written({ ...clusterStatus(desired(), obs, ctx), conditions: conds, ...memory })) expect(statusPaths, p).toContain(p);
    const topicPaths = new Set(paths(at(topic, 'status')));
    for (const p of written({ ...topicStatus(desired(), obs, ctx), conditions: conds, ...memory })) expect(topicPaths, p).toContain(p);
  });
});

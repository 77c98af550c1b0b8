import type { V1Container, V1EnvVar, V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { LeviathanResource } from '../../src/api/index.js';
import { statefulSet, workloadOf } from '../../src/resources/index.js';
import { CONFIG, cluster, topic } from './fixtures.js';

const sts = (r: LeviathanResource = cluster(), replicas = 3): V1StatefulSet => statefulSet(workloadOf(r), CONFIG, { replicas });
const container = (s: V1StatefulSet): V1Container => {
  const c = s.spec?.template.spec?.containers[0];
  if (!c) throw new Error('no container');
  return c;
};
const env = (s: V1StatefulSet): V1EnvVar[] => container(s).env ?? [];
const envValue = (s: V1StatefulSet, name: string): string | undefined => env(s).find((e) => e.name === name)?.value;

describe('StatefulSet', () => {
  it('runs as uid 1000, non-root, read-only root filesystem, no privileges, volume group-owned', () => {
    const s = sts();
    expect(s.spec?.template.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(s).securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    // Writable places: the data volume and an emptyDir /tmp (SQLite's temp files).
    expect(container(s).volumeMounts).toEqual([
      { name: 'data', mountPath: '/var/lib/leviathan' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(s.spec?.template.spec?.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }]);
  });

  it('probes: liveness /livez, readiness /readyz, a generous startup probe, all on the http port', () => {
    const c = container(sts());
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/livez', port: 'http' });
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(c.startupProbe?.httpGet).toMatchObject({ path: '/livez', port: 'http' });
    const startupBudget = (c.startupProbe?.failureThreshold ?? 0) * (c.startupProbe?.periodSeconds ?? 0);
    expect(startupBudget).toBeGreaterThanOrEqual(300);
    expect(c.ports).toEqual([
      { name: 'grpc', containerPort: 7400, protocol: 'TCP' },
      { name: 'http', containerPort: 7401, protocol: 'TCP' },
    ]);
  });

  it.each([100, 1000, 5000, 60_000])('gives more grace than the leadership hand-over (election timeout %i ms)', (electionTimeoutMs) => {
    const s = sts(cluster({ raft: { heartbeatMs: 10, electionTimeoutMs } }));
    const handoverMs = Number(envValue(s, 'LEVIATHAN_SHUTDOWN_HANDOVER_MS'));
    expect(handoverMs).toBeGreaterThanOrEqual(3000);
    expect((s.spec?.template.spec?.terminationGracePeriodSeconds ?? 0) * 1000).toBeGreaterThan(handoverMs + 10_000);
  });

  it('Parallel pods, OnDelete updates, the peer Service as its service, the planner\'s replicas', () => {
    const s = sts(cluster({ replicas: 5 }), 2);
    expect(s.spec).toMatchObject({ replicas: 2, podManagementPolicy: 'Parallel', updateStrategy: { type: 'OnDelete' }, serviceName: 'people-peers' });
    expect(s.spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Retain' });
    // whenDeleted from the spec; whenScaled stays Retain (the operator deletes scaled-away volumes itself).
    const del = sts(cluster({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' } }));
    expect(del.spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Delete' });
    // OnDelete whatever the spec's updateStrategy: the planner rolls pods, or nobody does.
    expect(sts(cluster({ updateStrategy: { type: 'OnDelete' } })).spec?.updateStrategy).toEqual({ type: 'OnDelete' });
    expect(sts(topic({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete' } })).spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Delete' });
  });

  it('claims a volume per pod from the spec\'s storage class and size', () => {
    const [claim] = sts(cluster({ storage: { size: '20Gi', storageClassName: 'fast' } })).spec?.volumeClaimTemplates ?? [];
    expect(claim?.metadata?.name).toBe('data');
    expect(claim?.spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } });
    const [dflt] = sts().spec?.volumeClaimTemplates ?? [];
    expect(dflt?.spec?.storageClassName).toBeUndefined();
    expect(dflt?.spec?.resources?.requests?.storage).toBe('1Gi');
  });

  it('configures the engine by environment: identity, addresses, learner joins through the headless Service', () => {
    const s = sts();
    const names = env(s).map((e) => e.name);
    expect(env(s).find((e) => e.name === 'LEVIATHAN_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(envValue(s, 'LEVIATHAN_ADVERTISE')).toBe('$(POD_NAME).people-peers.prod.svc:7400');
    // $(POD_NAME) expands only when POD_NAME comes earlier in the list.
    expect(names.indexOf('POD_NAME')).toBeLessThan(names.indexOf('LEVIATHAN_ADVERTISE'));
    expect(envValue(s, 'LEVIATHAN_JOIN_DNS')).toBe('people-peers.prod.svc.cluster.local:7400');
    expect(envValue(s, 'LEVIATHAN_LEARNER')).toBe('true');
    expect(envValue(s, 'LEVIATHAN_DATA_DIR')).toBe('/var/lib/leviathan');
    expect(envValue(s, 'LEVIATHAN_STATE_MACHINE')).toBe('sql');
    expect(envValue(s, 'LEVIATHAN_HEARTBEAT_MS')).toBe('100');
    expect(envValue(s, 'LEVIATHAN_ELECTION_TIMEOUT_MS')).toBe('1000');
    expect(envValue(s, 'LEVIATHAN_SNAPSHOT_ENTRIES')).toBe('10000');
    expect(names).not.toContain('LEVIATHAN_BOOTSTRAP');
    // Container args stay free: the image's entrypoint runs the engine.
    expect(container(s).args).toBeUndefined();
    expect(container(s).command).toBeUndefined();
  });

  it('reads the bootstrap permission from the ConfigMap, absent when the key is', () => {
    const e = env(sts()).find((x) => x.name === 'LEVIATHAN_BOOTSTRAP_MEMBER');
    expect(e).toEqual({ name: 'LEVIATHAN_BOOTSTRAP_MEMBER', valueFrom: { configMapKeyRef: { name: 'people-config', key: 'bootstrap-member', optional: true } } });
  });

  it('a DisheapTopic runs topic nodes hosting every partition, with its own snapshot interval', () => {
    const s = statefulSet(workloadOf(topic()), CONFIG, { replicas: 3 });
    expect(envValue(s, 'LEVIATHAN_STATE_MACHINE')).toBe('topic');
    expect(envValue(s, 'LEVIATHAN_PARTITION_HOSTING')).toBe('all');
    expect(envValue(s, 'LEVIATHAN_SNAPSHOT_ENTRIES')).toBe('10000');
    expect(envValue(sts(topic({ raft: { snapshotEntries: 500 } })), 'LEVIATHAN_SNAPSHOT_ENTRIES')).toBe('500');
    expect(envValue(s, 'LEVIATHAN_JOIN_DNS')).toBe('jobs-peers.prod.svc.cluster.local:7400');
    // A database hosts its one group; the flag is for topic nodes only.
    expect(env(sts()).map((e) => e.name)).not.toContain('LEVIATHAN_PARTITION_HOSTING');
  });

  it('applies the user\'s image, pull policy and resources; the operator\'s image by default', () => {
    expect(container(sts()).image).toBe(CONFIG.engineImage);
    expect(container(sts()).imagePullPolicy).toBe('IfNotPresent');
    expect(container(sts()).resources).toBeUndefined();
    const c = container(sts(cluster({ image: 'mine:2', imagePullPolicy: 'Always', resources: { requests: { cpu: '250m', memory: 1073741824 }, limits: { memory: '2Gi' } } })));
    expect(c.image).toBe('mine:2');
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.resources).toEqual({ requests: { cpu: '250m', memory: '1073741824' }, limits: { memory: '2Gi' } });
  });

  it('keeps Kubernetes out of the engine\'s way: no service links, no API token, spread over nodes', () => {
    const spec = sts().spec?.template.spec;
    expect(spec?.enableServiceLinks).toBe(false);
    expect(spec?.automountServiceAccountToken).toBe(false);
    const term = spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
    expect(term?.topologyKey).toBe('kubernetes.io/hostname');
    expect(term?.labelSelector?.matchLabels).toEqual(sts().spec?.selector.matchLabels);
  });
});

/** Labels, the selector, owner references and names: what ties owned objects to their resource. */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clientService, configMap, peerService, podDisruptionBudget, selectorString, statefulSet, workloadOf } from '../../src/resources/index.js';
import type { Workload } from '../../src/resources/index.js';
import { CONFIG, cluster, topic } from './fixtures.js';

function owned(w: Workload): { kind: string; meta: V1ObjectMeta | undefined }[] {
  return [
    { kind: 'StatefulSet', meta: statefulSet(w, CONFIG, { replicas: 3 }).metadata },
    { kind: 'Service/peers', meta: peerService(w).metadata },
    { kind: 'Service/client', meta: clientService(w).metadata },
    { kind: 'PodDisruptionBudget', meta: podDisruptionBudget(w, { maxUnavailable: 1 }).metadata },
    { kind: 'ConfigMap', meta: configMap(w, { bootstrapMember: null }).metadata },
  ];
}

describe('ownership', () => {
  it('every owned object names the resource as its controller, in the resource\'s namespace', () => {
    for (const { kind, meta } of owned(workloadOf(cluster()))) {
      expect(meta?.namespace, kind).toBe('prod');
      expect(meta?.ownerReferences, kind).toEqual([{ apiVersion: 'leviathan.dev/v1alpha1', kind: 'LeviathanCluster', name: 'people', uid: 'uid-people', controller: true, blockOwnerDeletion: true }]);
      expect(meta?.labels, kind).toEqual({
        'app.kubernetes.io/name': 'leviathan',
        'app.kubernetes.io/instance': 'people',
        'app.kubernetes.io/component': 'database',
        'app.kubernetes.io/managed-by': 'leviathan-operator',
        'app.kubernetes.io/part-of': 'leviathan',
      });
    }
    expect(owned(workloadOf(topic())).every(({ meta }) => meta?.ownerReferences?.[0]?.kind === 'DisheapTopic')).toBe(true);
  });

  it('names: StatefulSet and client Service after the resource, then -peers and -config', () => {
    expect(owned(workloadOf(cluster())).map(({ meta }) => meta?.name)).toEqual(['people', 'people-peers', 'people', 'people', 'people-config']);
  });

  it('the selector never changes with the spec, and Services, PDB and pods agree on it', () => {
    const a = workloadOf(cluster());
    const b = workloadOf(cluster({ replicas: 7, image: 'other:9', resources: { limits: { cpu: '4' } }, storage: { size: '99Gi' }, raft: { heartbeatMs: 50, electionTimeoutMs: 500 } }));
    const sel = statefulSet(a, CONFIG, { replicas: 3 }).spec?.selector.matchLabels;
    expect(statefulSet(b, { ...CONFIG, engineImage: 'x:1' }, { replicas: 1 }).spec?.selector.matchLabels).toEqual(sel);
    expect(peerService(a).spec?.selector).toEqual(sel);
    expect(clientService(a).spec?.selector).toEqual(sel);
    expect(podDisruptionBudget(a, { maxUnavailable: 0 }).spec?.selector?.matchLabels).toEqual(sel);
    const podLabels = statefulSet(a, CONFIG, { replicas: 3 }).spec?.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(sel ?? {})) expect(podLabels[k]).toBe(v);
    expect(selectorString(a)).toBe('app.kubernetes.io/name=leviathan,app.kubernetes.io/instance=people,app.kubernetes.io/component=database');
  });

  it('a topic and a database of the same name never select each other\'s pods', () => {
    const db = statefulSet(workloadOf(cluster({}, 'same')), CONFIG, { replicas: 1 }).spec?.selector.matchLabels;
    const tp = statefulSet(workloadOf(topic({}, 'same')), CONFIG, { replicas: 1 }).spec?.selector.matchLabels;
    expect(db).not.toEqual(tp);
  });

  it('refuses a resource that was never stored (no uid to own anything by)', () => {
    expect(() => workloadOf({ ...cluster(), metadata: { name: 'x', namespace: 'y' } })).toThrow(/uid/);
  });
});

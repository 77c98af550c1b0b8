/** The spec's pod fields: scheduling, labels and annotations, extra env; each rolls the pods. */
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { LeviathanResource } from '../../src/api/index.js';
import { RESERVED_ENV_NAMES, TEMPLATE_HASH_ANNOTATION, engineEnv, podTemplate, selectorLabels, workloadOf } from '../../src/resources/index.js';
import { CONFIG, cluster, topic } from './fixtures.js';

const tpl = (r: LeviathanResource): V1PodTemplateSpec => podTemplate(workloadOf(r), CONFIG);
const hash = (r: LeviathanResource): string | undefined => tpl(r).metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION];

const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }] } } };

describe('pod template: the spec\'s pod fields', () => {
  it('leaves unset fields out, so a resource that uses none keeps its template', () => {
    const spec = tpl(cluster()).spec;
    for (const k of ['tolerations', 'nodeSelector', 'topologySpreadConstraints', 'priorityClassName']) expect(spec, k).not.toHaveProperty(k);
    expect(hash(cluster({ tolerations: [], nodeSelector: {}, env: [], podLabels: {}, podAnnotations: {}, priorityClassName: '' }))).toBe(hash(cluster()));
  });

  it('spec.affinity replaces the default anti-affinity as a whole', () => {
    expect(tpl(cluster()).spec?.affinity?.podAntiAffinity).toBeDefined();
    expect(tpl(cluster({ affinity })).spec?.affinity).toEqual(affinity);
    expect(tpl(topic({ affinity })).spec?.affinity).toEqual(affinity);
  });

  it('carries tolerations, nodeSelector and priorityClassName; both kinds', () => {
    const tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }];
    for (const r of [cluster({ tolerations, nodeSelector: { pool: 'db' }, priorityClassName: 'high' }), topic({ tolerations, nodeSelector: { pool: 'db' }, priorityClassName: 'high' })]) {
      expect(tpl(r).spec).toMatchObject({ tolerations, nodeSelector: { pool: 'db' }, priorityClassName: 'high' });
    }
  });

  it('gives a topology spread constraint without a labelSelector the pods\' selector', () => {
    const w = workloadOf(cluster());
    const own = { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { a: 'b' } } };
    const bare = { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' };
    expect(tpl(cluster({ topologySpreadConstraints: [own, bare] })).spec?.topologySpreadConstraints).toEqual([own, { ...bare, labelSelector: { matchLabels: selectorLabels(w) } }]);
  });

  it('adds the spec\'s labels and annotations; the operator\'s labels and the hash win', () => {
    const t = tpl(cluster({ podLabels: { team: 'core', 'app.kubernetes.io/instance': 'other' }, podAnnotations: { 'prometheus.io/scrape': 'true', [TEMPLATE_HASH_ANNOTATION]: 'mine' } }));
    expect(t.metadata?.labels).toMatchObject({ team: 'core', ...selectorLabels(workloadOf(cluster())) });
    expect(t.metadata?.annotations?.['prometheus.io/scrape']).toBe('true');
    expect(t.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION]).not.toBe('mine');
  });

  it('appends spec.env after the operator\'s variables, without reserved names', () => {
    const w = workloadOf(
      cluster({
        env: [
          { name: 'LEVIATHAN_LOG_LEVEL', value: 'debug' },
          { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { name: 'LEVIATHAN_BOOTSTRAP', value: 'true' },
          { name: 'LEVIATHAN_JOIN_DNS', value: 'elsewhere:7400' },
        ],
      }),
    );
    const env = engineEnv(w, CONFIG);
    expect(env.slice(-2)).toEqual([
      { name: 'LEVIATHAN_LOG_LEVEL', value: 'debug' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
    expect(env.filter((e) => e.name === 'LEVIATHAN_JOIN_DNS')).toEqual([{ name: 'LEVIATHAN_JOIN_DNS', value: 'people-peers.prod.svc.cluster.local:7400' }]);
    expect(env.map((e) => e.name)).not.toContain('LEVIATHAN_BOOTSTRAP');
  });

  it('reserves every variable the operator sets, for either kind', () => {
    for (const r of [cluster(), topic()]) for (const e of engineEnv(workloadOf(r), CONFIG)) expect(RESERVED_ENV_NAMES).toContain(e.name);
  });

  it.each<[string, LeviathanResource]>([
    ['affinity', cluster({ affinity })],
    ['tolerations', cluster({ tolerations: [{ operator: 'Exists' }] })],
    ['nodeSelector', cluster({ nodeSelector: { pool: 'db' } })],
    ['topologySpreadConstraints', cluster({ topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }] })],
    ['priorityClassName', cluster({ priorityClassName: 'high' })],
    ['podLabels', cluster({ podLabels: { team: 'core' } })],
    ['podAnnotations', cluster({ podAnnotations: { a: 'b' } })],
    ['env', cluster({ env: [{ name: 'LEVIATHAN_LOG_LEVEL', value: 'debug' }] })],
  ])('a change of %s changes the template hash (a rollout)', (_field, r) => {
    expect(hash(r)).not.toBe(hash(cluster()));
  });

  it('retention and update strategy are not part of the template: changing them rolls nothing', () => {
    expect(hash(cluster({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' }, updateStrategy: { type: 'OnDelete' } }))).toBe(hash(cluster()));
  });

  it('the topic\'s client Service type comes from spec.service', () => {
    expect(workloadOf(topic({ service: { type: 'LoadBalancer' } })).serviceType).toBe('LoadBalancer');
    expect(workloadOf(topic()).serviceType).toBe('ClusterIP');
  });
});

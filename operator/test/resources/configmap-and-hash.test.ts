import { describe, expect, it } from 'vitest';
import { TEMPLATE_HASH_ANNOTATION, configMap, desiredTemplateHash, podTemplate, statefulSet, templateHash, workloadOf } from '../../src/resources/index.js';
import { CONFIG, cluster } from './fixtures.js';

describe('ConfigMap', () => {
  it('carries bootstrap-member only while the planner grants it', () => {
    const w = workloadOf(cluster());
    expect(configMap(w, { bootstrapMember: 'people-0' }).data).toEqual({ 'bootstrap-member': 'people-0' });
    // Applied without the key, server-side apply removes it: the permission is revoked.
    expect(configMap(w, { bootstrapMember: null }).data).toEqual({});
  });
});

describe('template hash', () => {
  const hashOf = (spec: Parameters<typeof cluster>[0], cfg = CONFIG): string => desiredTemplateHash(workloadOf(cluster(spec)), cfg);

  it('is stored on the pod template (so every pod carries it) and on the StatefulSet', () => {
    const s = statefulSet(workloadOf(cluster()), CONFIG, { replicas: 3 });
    const h = s.spec?.template.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION];
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(s.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION]).toBe(h);
    const t = s.spec?.template;
    if (t === undefined) throw new Error('no template');
    expect(templateHash(t)).toBe(h);
  });

  it('changes with what the pods run: image, resources, Raft timing, the operator\'s default image', () => {
    const base = hashOf({});
    expect(hashOf({ image: 'other:2' })).not.toBe(base);
    expect(hashOf({ resources: { limits: { memory: '1Gi' } } })).not.toBe(base);
    expect(hashOf({ raft: { heartbeatMs: 100, electionTimeoutMs: 2000 } })).not.toBe(base);
    expect(hashOf({}, { ...CONFIG, engineImage: 'newer:2' })).not.toBe(base);
  });

  it('does not change with what needs no restart: replicas, storage size, the bootstrap permission', () => {
    const base = hashOf({});
    expect(hashOf({ replicas: 7 })).toBe(base);
    expect(hashOf({ storage: { size: '50Gi' } })).toBe(base);
    // The permission lives in the ConfigMap, not the template.
    expect(JSON.stringify(podTemplate(workloadOf(cluster()), CONFIG))).not.toContain('people-0');
  });

  it('depends on content, not on the order of keys', () => {
    const t = podTemplate(workloadOf(cluster()), CONFIG);
    const reordered = JSON.parse(JSON.stringify({ spec: t.spec, metadata: t.metadata })) as typeof t;
    expect(templateHash(reordered)).toBe(templateHash(t));
  });
});

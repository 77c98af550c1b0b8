import { describe, expect, it } from 'vitest';
import { podDisruptionBudget, workloadOf } from '../../src/resources/index.js';
import { cluster } from './fixtures.js';

describe('PodDisruptionBudget builder', () => {
  it('takes the planner\'s maxUnavailable and selects the pods', () => {
    const p = podDisruptionBudget(workloadOf(cluster()), { maxUnavailable: 2 });
    expect(p.apiVersion).toBe('policy/v1');
    expect(p.spec).toMatchObject({ maxUnavailable: 2, unhealthyPodEvictionPolicy: 'IfHealthyBudget', selector: { matchLabels: { 'app.kubernetes.io/instance': 'people' } } });
    expect(podDisruptionBudget(workloadOf(cluster()), { maxUnavailable: 0 }).spec?.maxUnavailable).toBe(0);
    expect(() => podDisruptionBudget(workloadOf(cluster()), { maxUnavailable: -1 })).toThrow();
  });
});

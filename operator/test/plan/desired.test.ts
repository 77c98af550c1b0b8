/** desiredFor() and the planner's memory as status holds it. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LAG, desiredFor, planMemoryOf, planMemoryStatus, stepOf } from '../../src/plan/index.js';
import type { Step } from '../../src/plan/index.js';
import { desiredTemplateHash, workloadOf } from '../../src/resources/index.js';
import { CONFIG, cluster, topic } from '../resources/fixtures.js';

describe('desiredFor', () => {
  it('builds Desired from the spec with the CRD defaults', () => {
    const r = cluster();
    expect(desiredFor(r, CONFIG)).toEqual({
      name: 'people',
      replicas: 3,
      templateHash: desiredTemplateHash(workloadOf(r), CONFIG),
      volumeRetention: 'Retain',
      updateStrategy: 'RollingUpdate',
      maxLag: DEFAULT_MAX_LAG,
    });
    expect(DEFAULT_MAX_LAG).toBe(1000);
  });

  it('takes volumeRetention from whenScaled (not whenDeleted) and the update strategy, for both kinds', () => {
    const spec = { replicas: 5, persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Delete' }, updateStrategy: { type: 'OnDelete' } } as const;
    for (const r of [cluster(spec), topic(spec)]) expect(desiredFor(r, CONFIG)).toMatchObject({ replicas: 5, volumeRetention: 'Delete', updateStrategy: 'OnDelete' });
    expect(desiredFor(cluster({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete' } }), CONFIG).volumeRetention).toBe('Retain');
  });

  it('changes templateHash with the template (image, env) and with the operator\'s image, not with retention or strategy', () => {
    const base = desiredFor(cluster(), CONFIG).templateHash;
    expect(desiredFor(cluster({ image: 'mine:2' }), CONFIG).templateHash).not.toBe(base);
    expect(desiredFor(cluster({ env: [{ name: 'LEVIATHAN_LOG_LEVEL', value: 'debug' }] }), CONFIG).templateHash).not.toBe(base);
    expect(desiredFor(cluster(), { ...CONFIG, engineImage: 'other:1' }).templateHash).not.toBe(base);
    expect(desiredFor(cluster({ updateStrategy: { type: 'OnDelete' }, persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' } }), CONFIG).templateHash).toBe(base);
  });

  it('needs a stored object', () => {
    expect(() => desiredFor({ ...cluster(), metadata: { name: 'x' } }, CONFIG)).toThrow(/namespace or uid/);
  });
});

describe('plan memory in status', () => {
  const steps: Step[] = [
    { kind: 'scale-statefulset', replicas: 2, reason: 'r' },
    { kind: 'mark-bootstrapped', reason: 'r' },
    { kind: 'add-learner', groupId: 0, memberId: 'db-1@a', podName: 'db-1', reason: 'r' },
    { kind: 'promote', groupId: 101, memberId: 'db-1@a', reason: 'r' },
    { kind: 'remove-member', groupId: 0, memberId: 'db-1@a', reason: 'r' },
    { kind: 'transfer-leadership', groupId: 0, from: 'db-0@a', to: 'db-1@b', reason: 'r' },
    { kind: 'restart-pod', podName: 'db-1', podUid: 'u', reason: 'r' },
    { kind: 'delete-pvc', pvcName: 'data-db-3', ordinal: 3, reason: 'r' },
  ];

  it.each(steps.map((s) => [s.kind, s] as const))('round-trips a %s step', (_kind, step) => {
    const status = planMemoryStatus({ bootstrapped: true, pendingStep: step });
    expect(planMemoryOf(JSON.parse(JSON.stringify(status)) as typeof status)).toEqual({ bootstrapped: true, pendingStep: step });
  });

  it('reads an absent or malformed memory as none', () => {
    expect(planMemoryOf(undefined)).toEqual({ bootstrapped: false, pendingStep: null });
    expect(planMemoryOf({ pendingStep: null })).toEqual({ bootstrapped: false, pendingStep: null });
    expect(stepOf({ kind: 'reboot-everything', reason: 'r' })).toBeNull();
    expect(stepOf({ kind: 'restart-pod', podName: 'db-1', reason: 'r' })).toBeNull();
    expect(stepOf({ kind: 'scale-statefulset', replicas: '2', reason: 'r' })).toBeNull();
    expect(stepOf({ kind: 'promote', groupId: 0, memberId: 'x' })).toBeNull();
    expect(stepOf(['promote'])).toBeNull();
    expect(stepOf({ kind: 'toString', reason: 'r' })).toBeNull();
  });

  it('writes no step as null', () => {
    expect(planMemoryStatus({ bootstrapped: false, pendingStep: null })).toEqual({ bootstrapped: false, pendingStep: null });
  });
});

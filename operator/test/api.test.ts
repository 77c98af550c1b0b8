import { describe, expect, it } from 'vitest';
import { clusterSpecWithDefaults, parseDurationMs, topicSpecWithDefaults, validateResourceName } from '../src/api/index.js';

describe('api', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['250ms', 250],
    ['168h', 604_800_000],
    ['1500us', 2],
  ])('parses the duration %s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', '30', 's', '-1s', '1d', '1 s'])('refuses the duration "%s"', (text) => expect(() => parseDurationMs(text)).toThrow(/not a duration/));

  it('checks names the owned objects can carry', () => {
    expect(validateResourceName('people')).toBeNull();
    expect(validateResourceName('a'.repeat(52))).toBeNull();
    expect(validateResourceName('a'.repeat(53))).toMatch(/at most 52/);
    expect(validateResourceName('1db')).toMatch(/letter/);
  });

  it('fills in the CRD defaults', () => {
    expect(clusterSpecWithDefaults({})).toEqual({
      replicas: 3,
      image: null,
      imagePullPolicy: 'IfNotPresent',
      storage: { size: '1Gi', storageClassName: null },
      raft: { heartbeatMs: 100, electionTimeoutMs: 1000, snapshotEntries: 10_000 },
      resources: null,
      service: { type: 'ClusterIP' },
      affinity: null,
      tolerations: [],
      nodeSelector: {},
      topologySpreadConstraints: [],
      priorityClassName: null,
      podAnnotations: {},
      podLabels: {},
      env: [],
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      updateStrategy: { type: 'RollingUpdate' },
    });
    expect(topicSpecWithDefaults({ image: '' })).toMatchObject({
      partitions: 1,
      mode: 'MIN',
      image: null,
      leaseDuration: '30s',
      maxDeliveries: 5,
      dedupWindow: '1h',
      retention: { maxAge: '168h', maxMessages: null, maxBytes: null },
      raft: { heartbeatMs: 100, electionTimeoutMs: 1000, snapshotEntries: 10_000 },
      service: { type: 'ClusterIP' },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      updateStrategy: { type: 'RollingUpdate' },
    });
    expect(topicSpecWithDefaults({ persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' }, priorityClassName: '' })).toMatchObject({
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Delete' },
      priorityClassName: null,
    });
  });
});

import { describe, expect, it } from 'vitest';
import { desiredHeapConfig } from '../../src/resources/index.js';
import { topic } from './fixtures.js';

describe('desiredHeapConfig', () => {
  it('maps the example topic to MakeHeap and UpdateHeapConfig fields', () => {
    const c = desiredHeapConfig(topic({ partitions: 4, replicas: 3, leaseDuration: '30s', maxDeliveries: 5, deadLetterTopic: 'jobs-dead', retention: { maxAge: '24h', maxBytes: '256Mi' } }));
    expect(c.make).toEqual({
      topic: 'jobs',
      mode: 'MIN',
      partitions: 4,
      replicationFactor: 3,
      topKBound: 0,
      retentionTimeMs: 86_400_000,
      visibilityTimeoutDefaultMs: 30_000,
      maxRetriesDefault: 4,
      maxPayloadBytes: 0,
      compressionEnabled: false,
      dlqPolicy: { enabled: true, retentionTimeMs: 0 },
    });
    expect(c.update).toEqual({ topic: 'jobs', retentionTimeMs: 86_400_000, visibilityTimeoutDefaultMs: 30_000, maxRetriesDefault: 4, dlqPolicy: { enabled: true, retentionTimeMs: 0 } });
    expect(c.partitions).toBe(4);
    expect(c.unsupported.map((u) => u.field)).toEqual(['spec.deadLetterTopic', 'spec.retention.maxBytes']);
  });

  it('flags a deduplication window only when it differs from the engine\'s hour', () => {
    expect(desiredHeapConfig(topic({})).unsupported).toEqual([]);
    expect(desiredHeapConfig(topic({ dedupWindow: '60m' })).unsupported).toEqual([]);
    expect(desiredHeapConfig(topic({ dedupWindow: '5m' })).unsupported.map((u) => u.field)).toEqual(['spec.dedupWindow']);
  });

  it('uses the CRD defaults, and counts retries, not deliveries (one delivery = zero retries)', () => {
    const c = desiredHeapConfig(topic({ maxDeliveries: 1 }));
    expect(c.update.maxRetriesDefault).toBe(0);
    expect(c.make).toMatchObject({ partitions: 1, replicationFactor: 3, retentionTimeMs: 168 * 3_600_000, visibilityTimeoutDefaultMs: 30_000, dlqPolicy: { enabled: false } });
  });

  it('creates the heap in the spec\'s mode, MIN by default', () => {
    expect(desiredHeapConfig(topic()).make.mode).toBe('MIN');
    expect(desiredHeapConfig(topic({ mode: 'MAX' })).make.mode).toBe('MAX');
  });
});

/**
 * What a DisheapTopic's spec asks of the topic itself, as the fields of the Disheap API's MakeHeap
 * and UpdateHeapConfig (proto/disheap/v1/disheap.proto). The controller applies them through that
 * API; this module only maps. Durations are in milliseconds (the controller converts them to
 * google.protobuf.Duration).
 *
 * Mapping notes:
 * - topic name = the resource's name; replication factor = spec.replicas (the CRD promises a
 *   voting replica of every partition on each pod), so MakeHeap can only succeed once the catalog
 *   has that many members.
 * - maxDeliveries counts deliveries, the engine's max_retries_default counts retries after the
 *   first: retries = deliveries - 1. MakeHeap reads 0 as "the default (3)", so a topic that wants
 *   0 retries gets it from UpdateHeapConfig, where the field is optional: `update` always sets
 *   every mutable field, and the controller applies it after MakeHeap and on every change.
 * - mode: spec.mode (MIN, the lowest priority value pops first, by default, as in Disheap and its
 *   CLI); immutable in the CRD, and in MakeHeap only (UpdateHeapConfig cannot change it).
 * - what the engine cannot apply is listed in `unsupported`, for a status message, never dropped
 *   silently.
 */
import { parseDurationMs, topicSpecWithDefaults } from '../api/index.js';
import type { DisheapTopic } from '../api/index.js';

export interface DlqPolicyFields {
  readonly enabled: boolean;
  /** 0 keeps dead letters forever. */
  readonly retentionTimeMs: number;
}

/** MakeHeapReq. */
export interface MakeHeapFields {
  readonly topic: string;
  readonly mode: 'MIN' | 'MAX';
  readonly partitions: number;
  readonly replicationFactor: number;
  /** 0: the engine's default (64). */
  readonly topKBound: number;
  readonly retentionTimeMs: number;
  readonly visibilityTimeoutDefaultMs: number;
  readonly maxRetriesDefault: number;
  /** 0: the engine's limit. */
  readonly maxPayloadBytes: number;
  readonly compressionEnabled: boolean;
  readonly dlqPolicy: DlqPolicyFields;
}

/** UpdateHeapConfigReq with every field the spec governs set. */
export interface UpdateHeapConfigFields {
  readonly topic: string;
  readonly retentionTimeMs: number;
  readonly visibilityTimeoutDefaultMs: number;
  readonly maxRetriesDefault: number;
  readonly dlqPolicy: DlqPolicyFields;
}

export interface UnsupportedSetting {
  /** The spec field, as a path. */
  readonly field: string;
  readonly reason: string;
}

export interface DesiredHeapConfig {
  readonly make: MakeHeapFields;
  readonly update: UpdateHeapConfigFields;
  /** Partitions wanted; more than the topic has are added online through the catalog. */
  readonly partitions: number;
  readonly unsupported: readonly UnsupportedSetting[];
}

/** How long the engine remembers a producer triple (engine/src/topic/partition-state.ts). */
const ENGINE_DEDUP_WINDOW_MS = 3_600_000;

export function desiredHeapConfig(topic: DisheapTopic): DesiredHeapConfig {
  const name = topic.metadata.name;
  if (!name) throw new Error('DisheapTopic without metadata.name');
  const s = topicSpecWithDefaults(topic.spec);
  const dlqPolicy: DlqPolicyFields = { enabled: s.deadLetterTopic !== null, retentionTimeMs: 0 };
  const update: UpdateHeapConfigFields = {
    topic: name,
    retentionTimeMs: parseDurationMs(s.retention.maxAge),
    visibilityTimeoutDefaultMs: parseDurationMs(s.leaseDuration),
    maxRetriesDefault: s.maxDeliveries - 1,
    dlqPolicy,
  };
  const unsupported: UnsupportedSetting[] = [];
  // The engine deduplicates producer triples for a fixed hour; only another window is unsupported.
  if (parseDurationMs(s.dedupWindow) !== ENGINE_DEDUP_WINDOW_MS) {
    unsupported.push({ field: 'spec.dedupWindow', reason: `no engine API sets a topic's deduplication window; the engine's (1h) applies, not ${s.dedupWindow}` });
  }
  if (s.deadLetterTopic !== null) {
    unsupported.push({
      field: 'spec.deadLetterTopic',
      reason: `the engine keeps dead letters in this topic's own dead-letter queue; it cannot forward them to "${s.deadLetterTopic}", which runs on other pods`,
    });
  }
  if (s.retention.maxMessages !== null) unsupported.push({ field: 'spec.retention.maxMessages', reason: 'no engine API sets a partition\'s record limit' });
  if (s.retention.maxBytes !== null) unsupported.push({ field: 'spec.retention.maxBytes', reason: 'the engine has no retention by bytes' });
  return {
    make: {
      topic: name,
      mode: s.mode,
      partitions: s.partitions,
      replicationFactor: s.replicas,
      topKBound: 0,
      retentionTimeMs: update.retentionTimeMs,
      visibilityTimeoutDefaultMs: update.visibilityTimeoutDefaultMs,
      maxRetriesDefault: update.maxRetriesDefault,
      maxPayloadBytes: 0,
      compressionEnabled: false,
      dlqPolicy,
    },
    update,
    partitions: s.partitions,
    unsupported,
  };
}

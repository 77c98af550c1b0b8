/**
 * Prometheus metrics of the topic partitions this node leads (read at scrape time from the
 * partition states, so they cost nothing between scrapes). Only leaders report, so summing a
 * metric over all nodes counts every partition once.
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { PartitionStats } from './partition-state.js';
import type { TopicRuntime } from './topic-runtime.js';

export function registerTopicMetrics(registry: Registry, runtime: TopicRuntime): void {
  const registers = [registry];
  new Gauge({
    name: 'leviathan_topic_messages',
    help: 'Messages in a partition this node leads, by state (ready, leased, delayed, staged, dlq)',
    labelNames: ['topic', 'partition', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const { topic, partition, stats } of runtime.ledPartitions()) {
        const labels = { topic, partition: String(partition) };
        this.set({ ...labels, state: 'ready' }, stats.ready);
        this.set({ ...labels, state: 'leased' }, stats.leased);
        this.set({ ...labels, state: 'delayed' }, stats.delayed);
        this.set({ ...labels, state: 'staged' }, stats.staged);
        this.set({ ...labels, state: 'dlq' }, stats.dlq);
      }
    },
  });
  new Gauge({
    name: 'leviathan_topic_oldest_message_age_seconds',
    help: 'Age of the oldest live message in a partition this node leads',
    labelNames: ['topic', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const { topic, partition, stats } of runtime.ledPartitions()) {
        if (stats.oldestAgeMs !== null) this.set({ topic, partition: String(partition) }, stats.oldestAgeMs / 1000);
      }
    },
  });
  const events: Array<[string, keyof PartitionStats]> = [
    ['enqueued', 'enqueuedTotal'],
    ['delivered', 'poppedTotal'],
    ['redelivered', 'retriedTotal'],
    ['acked', 'ackedTotal'],
    ['nacked', 'nackedTotal'],
    ['lease_expired', 'expiredTotal'],
    ['dead_lettered', 'deadLetteredTotal'],
    ['dropped', 'droppedTotal'],
  ];
  new Counter({
    name: 'leviathan_topic_events_total',
    help: 'What happened to messages in a partition this node leads (the partition counts since it was created; it restarts where leadership moves)',
    labelNames: ['topic', 'partition', 'event'] as const,
    registers,
    collect() {
      this.reset();
      for (const { topic, partition, stats } of runtime.ledPartitions()) {
        for (const [event, key] of events) this.inc({ topic, partition: String(partition), event }, Number(stats[key] ?? 0));
      }
    },
  });
}

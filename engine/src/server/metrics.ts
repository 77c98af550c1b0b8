/**
 * Prometheus metrics of one engine process. Counters and histograms are updated as things
 * happen; gauges that describe Raft state (term, indices, lag) are read from the node host when
 * Prometheus scrapes, so they are never stale and cost nothing between scrapes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HostMetrics, NodeHost } from '../node/index.js';
import { groupView } from '../node/index.js';

export interface EngineMetrics {
  readonly registry: Registry;
  readonly host: HostMetrics;
  readonly grpcRequests: Counter<'service' | 'method' | 'code'>;
  readonly grpcDuration: Histogram<'service' | 'method'>;
  /** Start reading Raft gauges from this host. */
  attach(host: NodeHost): void;
}

export function createMetrics(): EngineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let host: NodeHost | null = null;
  const r = [registry];

  const grpcRequests = new Counter({ name: 'leviathan_grpc_requests_total', help: 'gRPC requests served, by service, method and status code', labelNames: ['service', 'method', 'code'] as const, registers: r });
  const grpcDuration = new Histogram({
    name: 'leviathan_grpc_request_duration_seconds',
    help: 'gRPC request latency',
    labelNames: ['service', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: r,
  });
  const leaderChanges = new Counter({ name: 'leviathan_raft_leader_changes_total', help: 'Leader changes seen by this member', labelNames: ['group'] as const, registers: r });
  const snapshots = new Counter({ name: 'leviathan_raft_snapshots_total', help: 'Snapshots taken (created) or received from a leader (installed)', labelNames: ['group', 'kind'] as const, registers: r });
  const applied = new Counter({ name: 'leviathan_raft_applied_entries_total', help: 'Log entries applied to the state machine', labelNames: ['group'] as const, registers: r });
  const persistSeconds = new Histogram({
    name: 'leviathan_storage_persist_duration_seconds',
    help: 'Time to make one batch of Raft writes durable (one SQLite transaction and fsync)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: r,
  });
  const persistedEntries = new Counter({ name: 'leviathan_storage_persisted_entries_total', help: 'Log entries made durable', registers: r });
  const foreign = new Counter({ name: 'leviathan_transport_foreign_messages_total', help: 'Messages dropped because they were addressed to another member id (e.g. an earlier incarnation)', registers: r });
  const sent = new Counter({ name: 'leviathan_transport_sent_messages_total', help: 'Raft messages written to peer streams', labelNames: ['peer'] as const, registers: r });
  const sentBytes = new Counter({ name: 'leviathan_transport_sent_bytes_total', help: 'Approximate bytes of Raft messages written to peer streams', labelNames: ['peer'] as const, registers: r });
  const dropped = new Counter({ name: 'leviathan_transport_dropped_messages_total', help: 'Raft messages dropped before sending (Raft resends what matters)', labelNames: ['peer', 'reason'] as const, registers: r });
  const received = new Counter({ name: 'leviathan_transport_received_messages_total', help: 'Raft messages received from peers', registers: r });
  const reconnects = new Counter({ name: 'leviathan_transport_reconnects_total', help: 'Peer streams that failed and were reopened', labelNames: ['peer'] as const, registers: r });

  const views = () => (host === null ? [] : [...host.groups.values()].map((g) => groupView(g, (id) => host?.resolve(id))));
  const groupGauge = (name: string, help: string, pick: (v: ReturnType<typeof views>[number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['group'] as const,
      registers: r,
      collect() {
        this.reset();
        for (const v of views()) this.set({ group: String(v.groupId) }, pick(v));
      },
    });
  };
  groupGauge('leviathan_raft_term', 'Current Raft term', (v) => v.term);
  groupGauge('leviathan_raft_commit_index', 'Highest log index known to be committed', (v) => v.commit);
  groupGauge('leviathan_raft_applied_index', 'Highest log index applied to the state machine', (v) => v.applied);
  groupGauge('leviathan_raft_last_index', 'Index of the last entry in the local log', (v) => v.lastIndex);
  groupGauge('leviathan_raft_snapshot_index', 'Index of the latest local snapshot', (v) => v.snapshotIndex);
  groupGauge('leviathan_raft_is_leader', '1 if this member leads the group', (v) => (v.role === 'leader' ? 1 : 0));
  groupGauge('leviathan_raft_has_leader', '1 if this member knows a leader of the group', (v) => (v.leader === null ? 0 : 1));
  groupGauge('leviathan_raft_recovery_fence', 'Non-zero while votes are withheld after a truncated log tail', (v) => v.recoveryFence);
  new Gauge({
    name: 'leviathan_raft_member_lag_entries',
    help: 'Leader only: how many entries each member is behind the leader',
    labelNames: ['group', 'member'] as const,
    registers: r,
    collect() {
      this.reset();
      for (const v of views()) {
        for (const m of v.members) if (m.lag !== null) this.set({ group: String(v.groupId), member: m.id }, m.lag);
      }
    },
  });

  return {
    registry,
    grpcRequests,
    grpcDuration,
    attach(h) {
      host = h;
    },
    host: {
      persisted(seconds, _groups, entries) {
        persistSeconds.observe(seconds);
        persistedEntries.inc(entries);
      },
      leaderChanged: (g) => leaderChanges.inc({ group: String(g) }),
      snapshot: (g, kind) => snapshots.inc({ group: String(g), kind }),
      foreignMessage: () => foreign.inc(),
      applied: (g, n) => applied.inc({ group: String(g) }, n),
      transport: {
        sent(peer, messages, bytes) {
          sent.inc({ peer }, messages);
          sentBytes.inc({ peer }, bytes);
        },
        dropped: (peer, reason, messages) => dropped.inc({ peer, reason }, messages),
        received: (messages) => received.inc(messages),
        reconnect: (peer) => reconnects.inc({ peer }),
      },
    },
  };
}

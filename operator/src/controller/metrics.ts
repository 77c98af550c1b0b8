/**
 * The operator's own Prometheus metrics (prom-client, served on --metrics-listen /metrics).
 * Names follow Prometheus conventions: a `leviathan_operator_` prefix, `_total` counters, base
 * units (seconds).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InformerStats } from '../kube/index.js';

export interface OperatorMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<'kind' | 'result'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly reconcileDuration: Histogram<'kind'>;
  readonly decisions: Counter<'kind' | 'decision'>;
  readonly steps: Counter<'kind' | 'step'>;
  readonly queueDepth: Gauge;
  readonly isLeader: Gauge;
  /** Lists, watches, relists and errors of each informer, read at scrape time. */
  readonly informers: Counter<'informer' | 'event'>;
  /** Where `informers` reads from; the controller sets it once its informers exist. */
  informerSource: () => readonly { readonly name: string; readonly stats: InformerStats }[];
}

export function operatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m: OperatorMetrics = {
    registry,
    reconciles: new Counter({ name: 'leviathan_operator_reconciles_total', help: 'Reconciles by resource kind and result (success, error)', labelNames: ['kind', 'result'], registers: [registry] }),
    reconcileErrors: new Counter({ name: 'leviathan_operator_reconcile_errors_total', help: 'Reconciles that failed and were retried with backoff', labelNames: ['kind'], registers: [registry] }),
    reconcileDuration: new Histogram({
      name: 'leviathan_operator_reconcile_duration_seconds',
      help: 'Time of one reconcile, engine calls included',
      labelNames: ['kind'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    decisions: new Counter({ name: 'leviathan_operator_decisions_total', help: 'Planner decisions by kind (a step, wait, degraded, idle)', labelNames: ['kind', 'decision'], registers: [registry] }),
    steps: new Counter({ name: 'leviathan_operator_steps_total', help: 'Mutating steps taken (membership changes, scaling, restarts, volume deletions)', labelNames: ['kind', 'step'], registers: [registry] }),
    queueDepth: new Gauge({ name: 'leviathan_operator_workqueue_depth', help: 'Resources waiting in the work queue', registers: [registry] }),
    isLeader: new Gauge({ name: 'leviathan_operator_leader', help: '1 while this replica holds the leader election lease', registers: [registry] }),
    informers: new Counter({
      name: 'leviathan_operator_informer_events_total',
      help: 'Per informer: full lists, watches opened, relists after 410 Gone or a quiet watch (watchdog), errors',
      labelNames: ['informer', 'event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { name, stats } of m.informerSource()) {
          this.inc({ informer: name, event: 'list' }, stats.lists);
          this.inc({ informer: name, event: 'watch' }, stats.watches);
          this.inc({ informer: name, event: 'gone_relist' }, stats.goneRelists);
          this.inc({ informer: name, event: 'watchdog_relist' }, stats.watchdogRelists);
          this.inc({ informer: name, event: 'error' }, stats.errors);
        }
      },
    }),
    informerSource: () => [],
  };
  return m;
}

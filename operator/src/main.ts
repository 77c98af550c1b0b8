#!/usr/bin/env node
/**
 * leviathan-operator: reconciles LeviathanCluster and DisheapTopic resources.
 *
 * Flags match the Helm chart (charts/leviathan-operator/templates/deployment.yaml). With leader
 * election on (the default), only the replica holding the Lease reconciles; the others keep warm
 * and take over when it goes. A replica that loses the Lease exits: its in-memory state may be
 * stale, and a restart is the simplest way to be sure it is not.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { Controller } from './controller/controller.js';
import { EngineClients } from './controller/engine-client.js';
import { operatorMetrics } from './controller/metrics.js';
import { parseFlags } from './flags.js';
import type { OperatorFlags } from './flags.js';
import { EventRecorder, LeaderElector, kubeClient } from './kube/index.js';
import { DEFAULT_OPERATOR_CONFIG } from './resources/index.js';

function serve(addr: string, handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i) || '0.0.0.0';
  const port = Number(addr.slice(i + 1));
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function main(): Promise<void> {
  let flags: OperatorFlags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    const code = (err as { exitCode?: number; code?: string }).code;
    process.exit(code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2);
  }
  const log = pino({ level: flags.logLevel, base: { name: 'leviathan-operator' } });
  const identity = process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const client = kubeClient(kc);
  const metrics = operatorMetrics();
  const engines = new EngineClients();
  const events = new EventRecorder(client, { component: 'leviathan-operator', host: identity, log });
  const controller = new Controller({
    client,
    engines,
    events,
    log,
    cfg: { ...DEFAULT_OPERATOR_CONFIG, engineImage: flags.engineImage, clusterDomain: flags.clusterDomain },
    metrics,
    namespaces: flags.watchNamespaces,
    workers: flags.workers,
  });

  let leading = !flags.leaderElect;
  const servers = await Promise.all([
    serve(flags.metricsListen, (req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end('not found\n');
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
    }),
    serve(flags.probeListen, (req, res) => {
      if (req.url === '/healthz') return void res.writeHead(200).end('ok\n');
      // A standby is ready (to take over); the leader once its caches have synced.
      if (req.url === '/readyz') {
        const ok = !leading || controller.isReady();
        return void res.writeHead(ok ? 200 : 503).end(ok ? 'ok\n' : 'caches not synced\n');
      }
      res.writeHead(404).end('not found\n');
    }),
  ]);
  log.info({ identity, metrics: flags.metricsListen, probes: flags.probeListen, leaderElect: flags.leaderElect, engineImage: flags.engineImage }, 'leviathan-operator starting');

  let elector: LeaderElector | null = null;
  let stopping = false;
  const shutdown = async (code: number, why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping');
    const force = setTimeout(() => process.exit(code), 20_000);
    force.unref();
    await controller.stop().catch((err: Error) => log.warn({ err: err.message }, 'controller stop failed'));
    // Releasing the Lease lets a standby take over at once instead of after the lease expires.
    await elector?.stop().catch((err: Error) => log.warn({ err: err.message }, 'lease release failed'));
    for (const s of servers) s.close();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => void shutdown(0, 'SIGINT'));

  const lead = (): void => {
    leading = true;
    metrics.isLeader.set(1);
    controller.start().catch((err: Error) => {
      log.error({ err: err.message }, 'controller failed to start');
      void shutdown(1, 'controller failed to start');
    });
  };
  if (!flags.leaderElect) {
    lead();
    return;
  }
  elector = new LeaderElector(client, {
    namespace: flags.leaderElectionNamespace,
    name: flags.leaderElectionId,
    identity,
    log,
    onStartedLeading: () => {
      log.info({ lease: `${flags.leaderElectionNamespace}/${flags.leaderElectionId}` }, 'acquired the lease: reconciling');
      lead();
    },
    onStoppedLeading: () => {
      metrics.isLeader.set(0);
      if (!stopping) {
        log.error('lost the lease: exiting so that a fresh replica takes over');
        void shutdown(1, 'lost the lease');
      }
    },
  });
  log.info({ lease: `${flags.leaderElectionNamespace}/${flags.leaderElectionId}` }, 'waiting for the leader election lease');
  void elector.run();
}

await main();

/**
 * One engine process, assembled: the durable store, the node host, the gRPC server (peer
 * transport, admin, key-value, health), the HTTP server, and the start-up path (bootstrap a new
 * cluster, join an existing one, or resume from the data directory).
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { promises as dns } from 'node:dns';
import { join as joinPath } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { AdminServiceClient, AdminServiceService } from '../gen/leviathan/admin/v1/admin.js';
import { KvServiceService } from '../gen/leviathan/kv/v1/kv.js';
import { DatabaseServiceService } from '../gen/leviathan/sql/v1/sql.js';
import { SqlDatabase } from '../sql/database.js';
import { databaseService } from '../sql/database-service.js';
import { sqlHttpHandler } from '../sql/http-api.js';
import { SqlStateMachine } from '../sql/sql-state-machine.js';
import { RaftTransportServiceService } from '../gen/leviathan/raft/v1/raft.js';
import { KvStateMachine } from '../kv/kv-state-machine.js';
import { DisheapService } from '../gen/disheap/v1/disheap.js';
import { TopicExtensionsServiceService } from '../gen/leviathan/topic/v1/topic.js';
import { TopicGroupServiceService } from '../gen/leviathan/topic/v1/group.js';
import { disheapService, topicExtensionsService } from '../topic/disheap-service.js';
import { TopicApi } from '../topic/topic-api.js';
import { topicHttpHandler } from '../topic/http-gateway.js';
import { CATALOG_GROUP } from '../topic/catalog-state.js';
import { TopicRuntime } from '../topic/topic-runtime.js';
import { registerTopicMetrics } from '../topic/topic-metrics.js';
import { NodeHost } from '../node/index.js';
import { isMember } from '../raft/index.js';
import { LogStore, memberId } from '../storage/index.js';
import type { Identity } from '../storage/index.js';
import { PEER_SERVER_OPTIONS } from '../transport/peer-transport.js';
import { adminService } from './admin-service.js';
import type { EngineConfig } from './config.js';
import { ConfigError } from './config.js';
import { readiness, startHttp } from './http.js';
import { kvService } from './kv-service.js';
import { createMetrics } from './metrics.js';
import type { EngineMetrics } from './metrics.js';

export const ENGINE_VERSION = '0.1.0';
const KV_SERVICE = 'leviathan.kv.v1.KvService';
const SQL_SERVICE = 'leviathan.sql.v1.DatabaseService';
const DISHEAP_SERVICE = 'disheap.v1.Disheap';

export interface Engine {
  readonly config: EngineConfig;
  readonly identity: Identity;
  readonly host: NodeHost;
  readonly metrics: EngineMetrics;
  /** The gRPC port actually bound (useful with --listen host:0). */
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Hands leadership away, stops serving, closes the store. */
  shutdown(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i).replace(/^\[|\]$/g, ''), Number(hp.slice(i + 1))];
}

/** Where to send join requests: the static list, then whatever the DNS name resolves to now. */
async function joinTargets(config: EngineConfig): Promise<string[]> {
  const targets = [...config.join];
  if (config.joinDns !== null) {
    const [name, port] = splitHostPort(config.joinDns);
    try {
      for (const a of await dns.lookup(name, { all: true })) targets.push(a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`);
    } catch {
      // Not resolvable yet (a headless Service publishes pods as they appear): try again later.
    }
  }
  return targets.filter((t) => t !== config.advertise);
}

/** Whether the store holds any Raft state: a configuration, an entry or a snapshot in some group. */
function hasRaftState(store: LogStore): boolean {
  return store.groupIds().some((id) => {
    const g = store.group(id);
    const { config, index } = g.snapshot().meta;
    return index > 0 || g.lastIndex() > 0 || config.voters.length > 0 || config.learners.length > 0;
  });
}

export async function startEngine(config: EngineConfig, logger: Logger): Promise<Engine> {
  const dbFile = joinPath(config.dataDir, 'raft.db');
  const named = config.bootstrapMember !== null && config.bootstrapMember === config.name;
  if (!existsSync(dbFile) && !config.bootstrap && !named && config.join.length === 0 && config.joinDns === null) {
    // Checked before creating anything, so a mistaken start leaves the directory as it was.
    throw new ConfigError(`the data directory ${config.dataDir} is empty: pass --bootstrap to start a new cluster, or --join/--join-dns to join an existing one`);
  }
  mkdirSync(config.dataDir, { recursive: true });
  const store = LogStore.open(dbFile);
  let closed = false;
  try {
    for (const t of store.recoveredTails()) {
      logger.warn({ group: t.groupId, truncatedFrom: t.truncatedFrom, lostThrough: t.lostThrough }, 'truncated a corrupt, uncommitted log tail; will not vote until caught up past it');
    }
    // --bootstrap-member: found only from a directory without Raft state (new, or a join that
    // never completed); a member that ever held a configuration resumes or rejoins instead.
    const founding = config.bootstrap || (named && !hasRaftState(store));
    if (named && !founding) logger.info({ member: config.name }, 'named by --bootstrap-member, but the data directory holds Raft state: resuming, not founding');
    if (founding && store.identity() !== null && !hasRaftState(store)) {
      // An identity from a join that never completed: start its groups over as the founder.
      for (const g of store.groupIds()) store.deleteGroup(g);
    }
    const fresh = store.identity() === null || store.groupIds().length === 0;
    if (fresh && !founding && config.join.length === 0 && config.joinDns === null) {
      throw new ConfigError(`the data directory ${config.dataDir} is empty: pass --bootstrap to start a new cluster, or --join/--join-dns to join an existing one`);
    }
    const identity = store.identity() ?? store.initIdentity(config.name);
    if (identity.name !== config.name) {
      throw new ConfigError(`the data directory ${config.dataDir} belongs to member "${identity.name}", not "${config.name}"`);
    }
    const selfId = memberId(identity);
    if (fresh) {
      for (let g = 0; g < config.groups; g++) store.createGroup(g, founding ? { voters: [selfId], learners: [] } : { voters: [], learners: [] });
      logger.info({ member: selfId, groups: config.groups, mode: founding ? 'bootstrap' : 'join' }, 'initialised a new data directory');
    } else {
      logger.info({ member: selfId, groups: store.groupIds().length }, 'resuming from the data directory');
    }

    const metrics = createMetrics();
    const tickMs = config.heartbeatMs;
    const topics =
      config.stateMachine === 'topic'
        ? new TopicRuntime({
            selfId,
            logger,
            requestTimeoutMs: config.requestTimeoutMs,
            txnTimeoutMs: config.txnTimeoutMs,
            partitionHosting: config.partitionHosting,
            leaderBalanceDelayMs: config.leaderBalanceDelayMs,
            // A partition this node created empty (placed there under an earlier incarnation, or
            // in `all` mode not placed there): join it through its leader, like group 0. In `all`
            // mode as a learner, which the operator promotes once it has caught up; otherwise as a
            // voter, replacing the earlier incarnation.
            join: async (groupId) => {
              const targets = [...(host.groups.get(0)?.status().config.voters ?? [])].filter((id) => id !== selfId).map((id) => host.resolve(id)).filter((a): a is string => a !== undefined);
              let last: unknown = new Error('no other topic node known');
              for (const target of targets) {
                try {
                  await requestJoin(target, { groupId, memberId: selfId, address: config.advertise, learnerOnly: config.partitionHosting === 'all' });
                  logger.info({ group: groupId, via: target }, 'joined a partition');
                  return;
                } catch (err) {
                  last = err;
                }
              }
              throw last;
            },
          })
        : null;
    const host = new NodeHost({
      store,
      selfId,
      advertise: config.advertise,
      tickMs,
      electionTicks: Math.max(3, Math.round(config.electionTimeoutMs / tickMs)),
      snapshotEntries: config.snapshotEntries,
      logger,
      stateMachine: (groupId) =>
        topics !== null
          ? topics.stateMachineFor(groupId, store.groupMeta(groupId))
          : config.stateMachine === 'sql'
            ? new SqlStateMachine({ file: joinPath(config.dataDir, `sql-group-${groupId}.sqlite`), logger })
            : new KvStateMachine(),
      metrics: metrics.host,
      // Fail-stop: the process exits and its supervisor (kubelet, make dev) restarts it from disk.
      onFatal: () => process.exit(1),
    });
    metrics.attach(host);
    if (topics !== null) {
      topics.attach(host);
      registerTopicMetrics(metrics.registry, topics);
    }

    // A member with no configuration in some group never finished joining it. On topic nodes
    // only the catalog: the topic runtime joins partitions itself, and only ones that hold no
    // Raft state (a partition this node was removed from must stay left, even after a restart).
    const needsJoin = (): number[] =>
      [...host.groups.values()].filter((g) => (topics === null || g.id === CATALOG_GROUP) && !isMember(g.status().config, selfId)).map((g) => g.id);
    let joining = needsJoin().length > 0 && (config.join.length > 0 || config.joinDns !== null);

    const server = new grpc.Server(PEER_SERVER_OPTIONS);
    // The client-facing service of this node's kind is SERVING once the node is ready.
    const clientService = config.stateMachine === 'sql' ? SQL_SERVICE : config.stateMachine === 'topic' ? DISHEAP_SERVICE : KV_SERVICE;
    const health = new HealthImplementation({ '': 'SERVING', [clientService]: 'NOT_SERVING' });
    health.addToServer(server);
    server.addService(RaftTransportServiceService, host.transport.service());
    const node = { name: identity.name, incarnation: identity.incarnation, address: config.advertise, version: ENGINE_VERSION };
    const requestTimeoutMs = config.requestTimeoutMs;
    server.addService(AdminServiceService, adminService({ host, node, metrics, logger, requestTimeoutMs, joinTimeoutMs: Math.max(requestTimeoutMs, 120_000) }));
    const database = new SqlDatabase({ host, groupId: 0, requestTimeoutMs, self: config.advertise });
    // One TopicApi for the gRPC services and the HTTP gateway.
    const topicApi = topics === null ? null : new TopicApi(topics, requestTimeoutMs);
    if (config.stateMachine === 'sql') server.addService(DatabaseServiceService, databaseService({ database, metrics, logger, requestTimeoutMs }));
    else if (topics !== null && topicApi !== null) {
      const api = topicApi;
      server.addService(DisheapService, disheapService({ api, metrics, logger }));
      server.addService(TopicExtensionsServiceService, topicExtensionsService({ api, metrics, logger }));
      server.addService(TopicGroupServiceService, topics.groupService());
    } else server.addService(KvServiceService, kvService({ host, metrics, logger, requestTimeoutMs }));
    const grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(config.listen, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    host.start();
    topics?.start();
    const notReady = (): string | null => (joining ? 'joining the cluster' : null);
    const extraRoutes =
      config.stateMachine === 'sql'
        ? sqlHttpHandler(database, { host, groupId: 0, requestTimeoutMs, logger, node: { ...node, address: config.advertise } })
        : topicApi !== null
          ? topicHttpHandler(topicApi, { logger })
          : undefined;
    const http: HttpServer = await startHttp(config.httpListen, { host, metrics, logger, node: { ...node, address: config.advertise }, notReadyReason: notReady, extraRoutes });
    const httpAddress = http.address();
    const httpPort = typeof httpAddress === 'object' && httpAddress !== null ? httpAddress.port : 0;
    logger.info({ member: selfId, grpc: `${config.listen.slice(0, config.listen.lastIndexOf(':'))}:${grpcPort}`, http: httpPort, advertise: config.advertise }, 'engine started');

    // Housekeeping once a second: a leader records its own address in its groups' address
    // books (a bootstrapped member's first act), and readiness is mirrored into gRPC health.
    const housekeeping = setInterval(() => {
      for (const g of host.groups.values()) {
        if (g.isLeader() && g.addresses.get(selfId) !== config.advertise) {
          g.registerAddress(selfId, config.advertise, requestTimeoutMs).catch((err: Error) => logger.debug({ group: g.id, err: err.message }, 'address registration failed; will retry'));
        }
      }
      health.setStatus(clientService, readiness(host, notReady()).ready ? 'SERVING' : 'NOT_SERVING');
    }, 1_000);

    if (joining) {
      void (async () => {
        let backoff = 250;
        while (!closed) {
          const missing = needsJoin();
          if (missing.length === 0) break;
          const targets = await joinTargets(config);
          let progressed = false;
          for (const groupId of missing) {
            for (const target of targets) {
              try {
                const res = await requestJoin(target, { groupId, memberId: selfId, address: config.advertise, learnerOnly: config.learner });
                logger.info({ group: groupId, via: target, leader: res.leaderId, replaced: res.replaced }, 'joined the group');
                progressed = true;
                break;
              } catch (err) {
                logger.info({ group: groupId, via: target, err: (err as Error).message }, 'join attempt failed; trying the next member');
              }
            }
          }
          if (!progressed) {
            if (targets.length === 0) logger.warn({ join: config.join, joinDns: config.joinDns }, 'no member to join yet');
            await sleep(backoff);
            backoff = Math.min(5_000, backoff * 2);
          }
        }
        joining = false;
      })();
    }

    return {
      config,
      identity,
      host,
      metrics,
      grpcPort,
      httpPort,
      async shutdown() {
        if (closed) return;
        closed = true;
        clearInterval(housekeeping);
        topics?.stop();
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(clientService, 'NOT_SERVING');
        await host.shutdown(config.shutdownHandoverMs);
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2_000);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        database.close();
        for (const g of host.groups.values()) if (g.stateMachine instanceof SqlStateMachine) g.stateMachine.close();
        store.close();
        logger.info({ member: selfId }, 'engine stopped');
      },
    };
  } catch (err) {
    if (!closed) store.close();
    throw err;
  }
}

function requestJoin(target: string, req: { groupId: number; memberId: string; address: string; learnerOnly: boolean }) {
  const client = new AdminServiceClient(target, grpc.credentials.createInsecure());
  return new Promise<{ leaderId: string; replaced: string[] }>((resolve, reject) => {
    client.join(req, new grpc.Metadata(), { deadline: Date.now() + 150_000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

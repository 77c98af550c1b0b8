/**
 * `make dev`: a local cluster of engine processes on loopback, data under a local folder: the SQL
 * database's nodes (node-*) and, beside them, a 3-replica topic cluster (topic-*, `--state-machine
 * topic`) with a demo topic.
 *
 * The first run bootstraps node-0 (and topic-0) and joins the others through it; later runs
 * restart every node from its data directory (pass --fresh to start over). Once the topic nodes
 * are up it creates the topic `demo` (3 partitions, replication 3) unless it exists. It prints the
 * endpoints, then each node's notable log lines as they happen, and on Ctrl-C stops every node
 * with SIGTERM (leaders hand over first) and waits for them to exit.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { TopicClient, TopicClientError } from '../src/topic/client.js';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const MAIN = join(REPO, 'engine/src/server/main.ts');

function int(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}]`);
    return n;
  };
}

const program = new Command('dev-cluster')
  .description('Run a local Leviathan engine cluster of real processes on loopback (make dev): SQL nodes, and topic nodes with a demo topic.')
  .addOption(new Option('--nodes <n>', 'number of SQL nodes').default(3).argParser(int(1, 7)))
  .addOption(new Option('--data-dir <dir>', 'where the nodes keep their data').default('.leviathan-dev'))
  .addOption(new Option('--base-port <port>', 'node i listens on gRPC base+10i and HTTP base+10i+1').default(7400).argParser(int(1024, 65000)))
  .addOption(new Option('--topic-nodes <n>', 'number of topic nodes (0: none)').default(3).argParser(int(0, 7)))
  .addOption(new Option('--topic-base-port <port>', 'topic node i listens on gRPC base+10i and HTTP base+10i+1').default(7500).argParser(int(1024, 65000)))
  .addOption(new Option('--fresh', 'delete the data directory first and start a new cluster').default(false))
  .addOption(new Option('--duration-s <s>', 'stop by itself after this many seconds (0: run until Ctrl-C)').default(0).argParser(int(0, 86_400)))
  .addOption(new Option('--verbose', 'print every log line of every node').default(false))
  .showHelpAfterError();

interface Options {
  nodes: number;
  dataDir: string;
  basePort: number;
  topicNodes: number;
  topicBasePort: number;
  fresh: boolean;
  durationS: number;
  verbose: boolean;
}

/** Log messages worth showing in the dev console (the rest is there with --verbose). */
const NOTABLE = /leader changed|leader lost|joined the group|joined a partition|engine started|engine stopped|initialised|resuming|snapshot|handed leadership|removing an earlier|truncated|stopping|error|fatal/i;

function main(): void {
  const o = program.parse().opts<Options>();
  const dataDir = resolve(o.dataDir);
  if (o.fresh) rmSync(dataDir, { recursive: true, force: true });
  const started = Date.now();
  const ts = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
  const nodes = Array.from({ length: o.nodes }, (_, i) => ({
    name: `node-${i}`,
    grpc: `127.0.0.1:${o.basePort + 10 * i}`,
    http: `127.0.0.1:${o.basePort + 10 * i + 1}`,
    dir: join(dataDir, `node-${i}`),
    flags: [] as string[],
  }));
  const topicNodes = Array.from({ length: o.topicNodes }, (_, i) => ({
    name: `topic-${i}`,
    grpc: `127.0.0.1:${o.topicBasePort + 10 * i}`,
    http: `127.0.0.1:${o.topicBasePort + 10 * i + 1}`,
    dir: join(dataDir, `topic-${i}`),
    flags: ['--state-machine', 'topic'],
  }));
  type DevNode = (typeof nodes)[number];
  const first = nodes[0] as DevNode;
  const hasData = (n: DevNode): boolean => existsSync(join(n.dir, 'raft.db'));
  const resume = nodes.some(hasData);
  const topicResume = topicNodes.some(hasData);

  const topicPart = o.topicNodes > 0 ? ` and ${o.topicNodes} topic node${o.topicNodes === 1 ? '' : 's'}` : '';
  console.log(`Leviathan dev cluster: ${o.nodes} engine processes${topicPart}, data in ${dataDir}${resume || topicResume ? ' (resuming)' : ''}\n`);
  console.log('  node     gRPC (SQL, admin, health)  HTTP (SQL, /raft/status, /metrics, /readyz)');
  for (const n of nodes) console.log(`  ${n.name}   ${n.grpc.padEnd(25)}  http://${n.http}/raft/status`);
  const endpoints = nodes.map((n) => n.grpc).join(',');
  console.log(`\nSQL shell:  npx tsx engine/src/cli/leviathan.ts --endpoints ${endpoints}`);
  console.log(`HTTP:       curl -s -XPOST 'http://${first.http}/db/execute' -H 'content-type: application/json' -d '["CREATE TABLE t (v TEXT)"]'`);
  console.log(`Members:    npx tsx engine/src/cli/main.ts --endpoints ${endpoints} status`);
  const topicEndpoints = topicNodes.map((n) => n.grpc).join(',');
  if (topicNodes.length > 0) {
    const t0 = topicNodes[0] as DevNode;
    console.log('\n  node     gRPC (Disheap, topic extensions)  HTTP (/v1/topics, /raft/status, /metrics)');
    for (const n of topicNodes) console.log(`  ${n.name}  ${n.grpc.padEnd(32)}  http://${n.http}/v1/topics`);
    const cli = `npx tsx engine/src/cli/topic.ts${topicEndpoints === DEFAULT_TOPIC_ENDPOINTS ? '' : ` --endpoints ${topicEndpoints}`}`;
    console.log(`\nTopic "${DEMO_TOPIC}" (created once the topic nodes are up):`);
    console.log(`  ${cli} enqueue ${DEMO_TOPIC} 'hello' --priority 5`);
    console.log(`  ${cli} pop ${DEMO_TOPIC} --ack`);
    console.log(`  ${cli} stats ${DEMO_TOPIC}`);
    console.log(`  ${cli} tail ${DEMO_TOPIC}          (Ctrl-C stops)`);
    console.log(`  curl -s -XPOST 'http://${t0.http}/v1/topics/${DEMO_TOPIC}/messages' -H 'content-type: application/json' -d '{"payload":"hi","priority":"9223372036854775807"}'`);
  }
  console.log('Ctrl-C stops every node (leaders hand over first).\n');

  const procs: ChildProcess[] = [];
  const spawnNode = (n: DevNode, mode: string[]): void => {
    // A node with data resumes from it; a new one bootstraps (first node of a new cluster) or joins.
    const args = ['--import', 'tsx', MAIN, '--name', n.name, '--data-dir', n.dir, '--listen', n.grpc, '--advertise', n.grpc, '--http-listen', n.http, ...n.flags, ...(hasData(n) ? [] : mode)];
    const p = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    const show = (line: string): void => {
      let msg = line;
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        msg = String(j.msg);
        if (!o.verbose && !NOTABLE.test(msg)) return;
        const extra = Object.entries(j)
          .filter(([k]) => !['level', 'time', 'name', 'msg', 'pid', 'hostname'].includes(k))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        msg = `${msg}${extra ? `  ${extra}` : ''}`;
      } catch {
        // Not JSON (a crash trace): show as is.
      }
      console.log(`${ts()}  ${n.name.padEnd(7)} ${msg}`);
    };
    createInterface({ input: p.stdout }).on('line', show);
    createInterface({ input: p.stderr }).on('line', show);
    p.on('exit', (code, signal) => {
      if (!stopping) console.log(`${ts()}  ${n.name.padEnd(7)} exited (${signal ?? `code ${String(code)}`})`);
    });
  };

  /** Starts a cluster: its first node bootstraps (or resumes), the others join through the rest. */
  const startCluster = (members: readonly DevNode[], resuming: boolean): void => {
    const head = members[0];
    if (head === undefined) return;
    spawnNode(head, resuming ? ['--join', members.slice(1).map((n) => n.grpc).join(',')] : ['--bootstrap']);
    // Joiners retry until a member answers, so they can start right away.
    for (const n of members.slice(1)) spawnNode(n, ['--join', members.filter((m) => m !== n).map((m) => m.grpc).join(',')]);
  };

  let stopping = false;
  startCluster(nodes, resume);
  startCluster(topicNodes, topicResume);
  if (topicNodes.length > 0) {
    void createDemoTopic(
      topicNodes.map((n) => n.grpc),
      Math.min(3, topicNodes.length),
      () => stopping,
      (line) => console.log(`${ts()}  ${'topics'.padEnd(7)} ${line}`),
    );
  }

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${ts()}  stopping every node (SIGTERM)...`);
    const alive = procs.filter((p) => p.exitCode === null && p.signalCode === null);
    let left = alive.length;
    if (left === 0) process.exit(0);
    for (const p of alive) {
      p.once('exit', () => {
        if (--left === 0) {
          console.log(`${ts()}  all nodes stopped; data kept in ${dataDir} (make dev ARGS=--fresh to start over)`);
          process.exit(0);
        }
      });
      p.kill('SIGTERM');
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (o.durationS > 0) setTimeout(stop, o.durationS * 1000);
}

const DEMO_TOPIC = 'demo';
const DEFAULT_TOPIC_ENDPOINTS = '127.0.0.1:7500,127.0.0.1:7510,127.0.0.1:7520';

/**
 * Creates the demo topic once the topic nodes can place it (every one a member of the catalog
 * group); an existing one is left as it is.
 */
async function createDemoTopic(endpoints: string[], replicationFactor: number, stopped: () => boolean, say: (line: string) => void): Promise<void> {
  const client = new TopicClient(endpoints, { timeoutMs: 10_000 });
  const deadline = Date.now() + 180_000;
  let lastReason = '';
  try {
    while (!stopped()) {
      try {
        await client.makeHeap(DEMO_TOPIC, { partitions: 3, replicationFactor, dlq: true });
        say(`created topic "${DEMO_TOPIC}": 3 partitions, replication factor ${replicationFactor}, dead-letter queue on`);
        return;
      } catch (err) {
        if (err instanceof TopicClientError && err.code === 'ALREADY_EXISTS') {
          say(`topic "${DEMO_TOPIC}" is there (from an earlier run)`);
          return;
        }
        // Not every topic node has joined yet (FAILED_PRECONDITION), no leader yet, or nodes still starting.
        lastReason = err instanceof Error ? err.message : String(err);
        if (Date.now() > deadline) {
          say(`could not create topic "${DEMO_TOPIC}": ${lastReason}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  } finally {
    client.close();
  }
}

main();

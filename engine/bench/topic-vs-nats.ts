/**
 * The topic benchmark: a Leviathan priority topic beside a NATS JetStream work-queue stream, both
 * 3 replicas on 3 nodes on loopback, 3 partitions (subjects), file storage, driven by the same
 * load generator (engine/bench/topic/queue-load.ts) in the same run, one system after the other:
 * enqueue, pop+ack and end-to-end, at 1 and 16 clients. The table gives both and the ratio
 * Leviathan ÷ NATS (above 1: Leviathan is faster; for latency, below 1 is better).
 *
 * NATS is Debian's nats-server (bench/peers/nats/install.sh finds or installs it); when it cannot
 * be had, the NATS half is skipped with the reason and Leviathan is still measured.
 *
 *   npx tsx engine/bench/topic-vs-nats.ts [--clients 1,16] [--seconds 4] [--window 64]
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EngineCluster } from '../test/integration/engine-cluster.js';
import { LeviathanQueues } from './topic/leviathan-queue.js';
import { NatsCluster, findNatsServer } from './topic/nats-cluster.js';
import { NatsQueues } from './topic/nats-queue.js';
import { PAYLOAD_BYTES, runCell } from './topic/queue-load.js';
import type { CellResult, QueueSystem, WorkloadKind } from './topic/queue-load.js';

const WORKLOADS: WorkloadKind[] = ['enqueue', 'pop+ack', 'end-to-end'];
const PARTITIONS = 3;

const program = new Command('topic-vs-nats')
  .description('Leviathan topics and NATS JetStream work queues side by side under the same load.')
  .addOption(new Option('--clients <list>', 'concurrency levels (producers and/or consumers)').default('1,16'))
  .addOption(new Option('--seconds <s>', 'measured seconds per cell').default('4'))
  .addOption(new Option('--warmup <s>', 'unmeasured seconds before each cell').default('1'))
  .addOption(new Option('--window <n>', 'messages each consumer may hold unacked (PopStream credits, NATS pull batch)').default('64'))
  .addOption(new Option('--systems <list>', 'which systems to run').default('nats,leviathan'))
  .addOption(new Option('--workloads <list>', 'which workloads to run').default(WORKLOADS.join(',')))
  .addOption(new Option('--keep', 'keep the Leviathan nodes\' data dirs and logs (under --dir)'))
  .addOption(new Option('--no-plain-ack', "skip NATS pop+ack with fire-and-forget ack() (shown below the table)"))
  .addOption(new Option('--dir <dir>', 'where both clusters keep their data (wiped first)').default('.bench-data/topic'));


type Runs = Map<string, CellResult>;
const key = (w: WorkloadKind, clients: number): string => `${w}/${clients}`;

interface Settings {
  workloads: WorkloadKind[];
  levels: number[];
  seconds: number;
  warmup: number;
  window: number;
}

function describe(name: string, r: CellResult): string {
  const notes = [
    r.errors > 0 ? `${r.errors} errors (${r.firstError ?? ''})` : '',
    r.drainedAfter !== undefined ? `backlog empty after ${r.drainedAfter.toFixed(2)} s of the window` : '',
  ].filter((s) => s !== '');
  return `  ${name}: ${r.kind}, ${r.clients} client(s): ${Math.round(r.opsPerSec)} msgs/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, server CPU ${Math.round(r.serverCpuUsPerOp)} us/msg${notes.length > 0 ? `, ${notes.join(', ')}` : ''}`;
}

/**
 * Every workload at every level. pop+ack's backlog is sized from the fastest rate this system
 * has shown so far (`hint`, its enqueue cells, earlier pop+ack cells): three times what that rate
 * takes in warm-up plus window, within [10000, 30000]. A consumer faster than that ends its
 * window early, when the backlog is empty (queue-load.ts).
 */
async function measure(system: QueueSystem, s: Settings, workloads = s.workloads, hint = 0): Promise<Runs> {
  const runs: Runs = new Map();
  for (const kind of workloads) {
    for (const clients of s.levels) {
      let prefill: number | undefined;
      if (kind === 'pop+ack') {
        const rate = Math.max(hint, ...[...runs.values()].filter((r) => r.kind !== 'end-to-end').map((r) => r.opsPerSec));
        prefill = Math.min(30_000, Math.max(10_000, Math.ceil(3 * rate * (s.warmup + s.seconds))));
      }
      const r = await runCell(system, { kind, clients, seconds: s.seconds, warmupSeconds: s.warmup, window: s.window, ...(prefill === undefined ? {} : { prefill }) });
      console.log(describe(system.name, r) + (prefill === undefined ? '' : ` (backlog ${prefill})`));
      runs.set(key(kind, clients), r);
    }
  }
  return runs;
}

async function main(): Promise<void> {
  const o = program.parse().opts<{ clients: string; seconds: string; warmup: string; window: string; systems: string; workloads: string; keep?: boolean; plainAck: boolean; dir: string }>();
  const workloads = o.workloads.split(',') as WorkloadKind[];
  for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}; choose among ${WORKLOADS.join(', ')}`);
  const systems = o.systems.split(',');
  const s: Settings = { workloads, levels: o.clients.split(',').map(Number), seconds: Number(o.seconds), warmup: Number(o.warmup), window: Number(o.window) };
  const dir = resolve(o.dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const loadBefore = loadavg()[0] as number;

  let natsRuns: Runs | null = null;
  let plainRuns: Runs | null = null;
  let natsInfo = '';
  let natsSkipped = '';
  let bin: string | null = null;
  if (!systems.includes('nats')) natsSkipped = 'not asked for (--systems)';
  else {
    try {
      bin = findNatsServer();
    } catch (err) {
      natsSkipped = (err as Error).message;
      console.log(`NATS: skipped (${natsSkipped})`);
    }
  }
  if (bin !== null) {
    console.log('NATS: starting 3 JetStream nodes ...');
    const nats = await NatsCluster.start({ bin, dir: join(dir, 'nats') });
    natsInfo = `nats-server ${nats.version}, sync_interval ${nats.syncAlways ? 'always (fsync per write)' : 'default (2 min: no fsync per write; "always" is not supported by this version)'}`;
    console.log(`  ${natsInfo}`);
    try {
      natsRuns = await measure(new NatsQueues(nats.servers, () => nats.pids, 'ackAck', PARTITIONS), s);
      if (o.plainAck && workloads.includes('pop+ack')) plainRuns = await measure(new NatsQueues(nats.servers, () => nats.pids, 'ack', PARTITIONS), s, ['pop+ack'], Math.max(0, ...[...natsRuns.values()].map((r) => r.opsPerSec)));
    } finally {
      await nats.stop();
    }
  }

  let levRuns: Runs | null = null;
  if (systems.includes('leviathan')) {
    console.log('Leviathan: starting 3 engine processes (--state-machine topic) ...');
    const lev = await EngineCluster.start({ size: 3, stateMachine: 'topic', proxies: false, heartbeatMs: 100, electionTimeoutMs: 1000, snapshotEntries: 100_000, baseDir: dir });
    try {
      levRuns = await measure(new LeviathanQueues(
        lev.nodes.map((n) => n.address),
        () => lev.nodes.map((n) => n.proc?.pid ?? 0).filter((p) => p > 0),
        PARTITIONS,
      ), s);
    } finally {
      await lev.close(o.keep === true);
      if (o.keep === true) console.log(`  Leviathan data and logs kept in ${lev.dir}`);
    }
  }
  const loadAfter = loadavg()[0] as number;

  console.log(
    `\nTopic, 3 nodes on loopback, ${PARTITIONS} partitions x 3 replicas, file storage, ${PAYLOAD_BYTES}-byte messages, ${s.window} unacked per consumer; ` +
      `${natsRuns === null ? `NATS skipped: ${natsSkipped}` : natsInfo}; ${s.seconds} s per cell; load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}`,
  );
  const header = ['workload', 'clients', 'Leviathan msgs/s', 'NATS msgs/s', 'ratio', 'Leviathan p50/p99 ms', 'NATS p50/p99 ms', 'p50 ratio', 'server CPU us/msg L/N', 'CPU ratio'];
  const rows: string[][] = [];
  const ms = (r: CellResult): string => `${r.p50Ms.toFixed(2)}/${r.p99Ms.toFixed(2)}`;
  for (const w of workloads) {
    for (const c of s.levels) {
      const l = levRuns?.get(key(w, c));
      const n = natsRuns?.get(key(w, c));
      const errors = (l?.errors ?? 0) + (n?.errors ?? 0);
      const flags = [errors > 0 ? `errors: ${l?.errors ?? 0}/${n?.errors ?? 0}` : '', Math.min(l?.drainedAfter ?? Infinity, n?.drainedAfter ?? Infinity) < 1 ? 'backlog empty in < 1 s' : ''].filter((x) => x !== '');
      const both = l !== undefined && n !== undefined;
      rows.push([
        w + (flags.length > 0 ? ` (${flags.join(', ')})` : ''),
        String(c),
        l === undefined ? '-' : String(Math.round(l.opsPerSec)),
        n === undefined ? '-' : String(Math.round(n.opsPerSec)),
        both ? `${(l.opsPerSec / n.opsPerSec).toFixed(2)}x` : '-',
        l === undefined ? '-' : ms(l),
        n === undefined ? '-' : ms(n),
        both ? `${(l.p50Ms / n.p50Ms).toFixed(2)}x` : '-',
        `${l === undefined ? '-' : Math.round(l.serverCpuUsPerOp)}/${n === undefined ? '-' : Math.round(n.serverCpuUsPerOp)}`,
        both ? `${(l.serverCpuUsPerOp / n.serverCpuUsPerOp).toFixed(2)}x` : '-',
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('enqueue: latency to the acknowledged enqueue (Leviathan Enqueue RPC, NATS js.publish PubAck). pop+ack: receipt to confirmed ack (Leviathan Ack RPC, NATS ackAck).');
  console.log('end-to-end: producers and consumers at once, latency from enqueue call to receipt. server CPU: user+system time of all 3 server processes in the window, less their idle rate, ÷ messages');
  console.log('(for ratios that hold on a busy machine: throughput there follows the CPU share each process gets). Leviathan fsyncs every Raft append on each replica before it counts;');
  console.log(
    natsRuns !== null && natsInfo.includes('always (')
      ? 'NATS runs with sync_interval: always (fsync per write).'
      : 'NATS 2.9 cannot fsync per write: its acks mean "on a majority, in the OS page cache", so the durability differs in NATS\'s favour.',
  );
  if (plainRuns !== null) {
    const cells = s.levels.map((c) => {
      const r = plainRuns?.get(key('pop+ack', c)) as CellResult;
      return `${Math.round(r.opsPerSec)} msgs/s at ${c}`;
    });
    console.log(`NATS pop+ack with fire-and-forget ack() (no confirmation, not comparable): ${cells.join(', ')}.`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * Replicated writes on real processes: a 3-node engine cluster on loopback, fsync on (every
 * acknowledged write is on disk on a majority), N concurrent clients each with one write
 * outstanding, putting 128-byte values into the built-in key-value store through gRPC.
 *
 * Printed beside it: this machine's raw fdatasync rate on the same disk, the physical limit of
 * one unbatched durable write at a time. A Raft write needs an fsync on the leader and on a
 * follower, one after the other (the leader appends, then sends, then the follower appends), so
 * with one client the ceiling is roughly half the raw rate; with many clients, group commit
 * (one fsync for everything that arrived meanwhile) should take it past the raw rate.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { KvClient } from '../src/kv/kv-client.js';
import { EngineCluster } from '../test/integration/engine-cluster.js';
import { measureFdatasync } from './fsync-rate.js';

interface Row {
  clients: number;
  writes: number;
  seconds: number;
  p50: number;
  p99: number;
  fsyncs: number;
  entries: number;
}

const program = new Command('replicated-writes')
  .description('Replicated writes per second and latency on a 3-node engine cluster with fsync on.')
  .addOption(new Option('--clients <list>', 'concurrency levels').default('1,16,64'))
  .addOption(new Option('--seconds <s>', 'measured seconds per level').default('5'))
  .addOption(new Option('--dir <dir>', 'where the nodes keep their data (same disk as the fsync probe)').default('.bench-data'));

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

async function scrape(c: EngineCluster, leader: number): Promise<{ fsyncs: number; entries: number }> {
  const text = await c.node(leader).metrics();
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { fsyncs: num('leviathan_storage_persist_duration_seconds_count'), entries: num('leviathan_storage_persisted_entries_total') };
}

async function level(c: EngineCluster, clients: number, seconds: number): Promise<Row> {
  const channels = Array.from({ length: Math.min(clients, 8) }, () => c.client({ timeoutMs: 10_000 }));
  const value = 'x'.repeat(128);
  const latencies: number[] = [];
  let stop = false;
  let measuring = false;
  const leader = await c.waitLeader();
  const worker = async (w: number): Promise<void> => {
    const client = channels[w % channels.length] as KvClient;
    for (let n = 0; !stop; n++) {
      const t0 = performance.now();
      await client.put(`bench-${w}-${n % 1000}`, value);
      if (measuring) latencies.push(performance.now() - t0);
    }
  };
  const workers = Array.from({ length: clients }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 1_000)); // warm-up: connections, JIT, leader cache
  const before = await scrape(c, leader);
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const after = await scrape(c, leader);
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return { clients, writes: latencies.length, seconds: elapsed, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), fsyncs: after.fsyncs - before.fsyncs, entries: after.entries - before.entries };
}

async function main(): Promise<void> {
  const o = program.parse().opts<{ clients: string; seconds: string; dir: string }>();
  const levels = o.clients.split(',').map(Number);
  const seconds = Number(o.seconds);
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });

  console.log(`measuring raw fdatasync on ${dir} ...`);
  const fsync = await measureFdatasync(dir, { seconds: 3 });
  console.log('starting a 3-node cluster (fsync on, peers direct on loopback) ...');
  const cluster = await EngineCluster.start({ size: 3, heartbeatMs: 100, electionTimeoutMs: 1000, snapshotEntries: 50_000, proxies: false, baseDir: dir });
  const rows: Row[] = [];
  let rtt = NaN;
  try {
    // The floor under every write: one gRPC round trip to a node that answers from memory.
    const probe = cluster.client();
    const leaderAddress = cluster.node(await cluster.waitLeader()).address;
    const rtts: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      await probe.get('probe', { consistency: 'local', endpoint: leaderAddress });
      rtts.push(performance.now() - t0);
    }
    rtt = percentile(rtts.sort((a, b) => a - b), 0.5);
    for (const n of levels) {
      process.stdout.write(`  ${n} client(s) ... `);
      const r = await level(cluster, n, seconds);
      console.log(`${Math.round(r.writes / r.seconds)} writes/s`);
      rows.push(r);
    }
  } finally {
    await cluster.close();
  }

  console.log('\nReplicated writes, 3 nodes on loopback, fsync on (128-byte values)');
  console.log(`raw fdatasync on this disk: ${Math.round(fsync.opsPerSecond)} ops/s (p50 ${fsync.p50Ms.toFixed(3)} ms, p99 ${fsync.p99Ms.toFixed(3)} ms): one durable write at a time`);
  console.log(`gRPC round trip to a node answering from memory (local read), p50: ${rtt.toFixed(2)} ms; a replicated write needs about three of those plus two fsyncs\n`);
  const header = ['clients', 'writes/s', 'p50 ms', 'p99 ms', 'leader fsyncs/s', 'entries/fsync', 'writes/s ÷ raw fdatasync/s'];
  const table = rows.map((r) => [
    String(r.clients),
    String(Math.round(r.writes / r.seconds)),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    String(Math.round(r.fsyncs / r.seconds)),
    r.fsyncs === 0 ? '-' : (r.entries / r.fsyncs).toFixed(1),
    `${(r.writes / r.seconds / fsync.opsPerSecond).toFixed(3)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  console.log(line(header));
  for (const row of table) console.log(line(row));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

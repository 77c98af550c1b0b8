/**
 * Smoke run of the SQL benchmark's rqlite peer: builds (or finds) the pinned rqlited, starts a
 * 3-node cluster on loopback (fsync on, see rqlite-cluster.ts), runs every workload of
 * http-load.ts for a short while at a few concurrency levels, prints a table, and stops the
 * cluster. It proves the pieces work; the real comparison with Leviathan uses the same modules.
 *
 *   npx tsx engine/bench/sql/rqlite-smoke.ts [--clients 1,16] [--seconds 2] [--dir .bench-data/rqlite-smoke]
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { discoverLeader, runLoad } from './http-load.js';
import type { LoadResult, Workload } from './http-load.js';
import { RqliteCluster } from './rqlite-cluster.js';

const program = new Command('rqlite-smoke')
  .description('Runs each SQL workload briefly against a 3-node rqlite cluster.')
  .addOption(new Option('--clients <list>', 'concurrency levels').default('1,16'))
  .addOption(new Option('--seconds <s>', 'measured seconds per run').default('2'))
  .addOption(new Option('--dir <dir>', 'where the nodes keep their data (wiped first)').default('.bench-data/rqlite-smoke'));

const workloads: Workload[] = [
  { kind: 'insert' },
  { kind: 'batch', rows: 10 },
  { kind: 'read', level: 'weak', rows: 1000 },
  { kind: 'read', level: 'linearizable', rows: 1000 },
];

async function main(): Promise<void> {
  const o = program.parse().opts<{ clients: string; seconds: string; dir: string }>();
  const levels = o.clients.split(',').map(Number);
  const seconds = Number(o.seconds);
  const dir = resolve(o.dir);
  rmSync(dir, { recursive: true, force: true });

  const t0 = performance.now();
  const cluster = await RqliteCluster.start({ dir });
  console.log(`rqlite ${cluster.version}: 3 nodes up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${cluster.urls.join(', ')}), data in ${dir}`);
  const results: LoadResult[] = [];
  try {
    // The generator finds the leader itself, as it will for Leviathan; check it agrees with rqlite.
    const target = await discoverLeader(cluster.urls);
    const leader = await cluster.leaderUrl();
    if (target !== leader) throw new Error(`discovered ${target}, but rqlite says the leader is ${leader}`);
    for (const workload of workloads) {
      for (const clients of levels) {
        const r = await runLoad({ urls: cluster.urls, workload, clients, seconds });
        console.log(`  ${r.workload}, ${clients} client(s): ${Math.round(r.opsPerSec)} ops/s${r.errors > 0 ? `, ${r.errors} errors (${r.firstError ?? ''})` : ''}`);
        results.push(r);
      }
    }
  } finally {
    await cluster.stop();
  }

  console.log(`\nrqlite ${cluster.version}, 3 nodes on loopback, fsync on, HTTP/1.1 keep-alive to the leader, 128-byte values, ${seconds} s per run`);
  const header = ['workload', 'clients', 'ops/s', 'rows/s', 'p50 ms', 'p99 ms', 'errors'];
  const table = results.map((r) => [r.workload, String(r.clients), String(Math.round(r.opsPerSec)), String(Math.round(r.rowsPerSec)), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), String(r.errors)]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(line(header));
  for (const row of table) console.log(line(row));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * The SQL benchmark: Leviathan beside rqlite, both 3 nodes on loopback with fsync on, driven
 * by the same HTTP load generator (engine/bench/sql/http-load.ts) in the same run: single-row
 * inserts, 10-row transactions, and point reads at `weak` and `linearizable`, at 1, 16 and 64
 * clients. Each system's requests go straight to its leader. The table gives both and the ratio
 * Leviathan ÷ rqlite (above 1: Leviathan is faster; for latency, below 1 is better).
 *
 *   npx tsx engine/bench/sql-vs-rqlite.ts [--clients 1,16,64] [--seconds 4]
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EngineCluster } from '../test/integration/engine-cluster.js';
import { runLoad, workloadName } from './sql/http-load.js';
import type { LoadResult, Workload } from './sql/http-load.js';
import { RqliteCluster } from './sql/rqlite-cluster.js';

const program = new Command('sql-vs-rqlite')
  .description('Leviathan and rqlite side by side under the same HTTP load.')
  .addOption(new Option('--clients <list>', 'concurrency levels').default('1,16,64'))
  .addOption(new Option('--seconds <s>', 'measured seconds per run').default('4'))
  .addOption(new Option('--dir <dir>', 'where both clusters keep their data (wiped first)').default('.bench-data/sql'));

const WORKLOADS: Workload[] = [
  { kind: 'insert' },
  { kind: 'batch', rows: 10 },
  { kind: 'read', level: 'weak', rows: 1000 },
  { kind: 'read', level: 'linearizable', rows: 1000 },
];

type Runs = Map<string, LoadResult>;
const key = (w: Workload, clients: number): string => `${workloadName(w)}/${clients}`;

async function measure(name: string, urls: string[], target: string, levels: number[], seconds: number): Promise<Runs> {
  const runs: Runs = new Map();
  for (const workload of WORKLOADS) {
    for (const clients of levels) {
      const r = await runLoad({ urls, target, workload, clients, seconds });
      console.log(`  ${name}: ${r.workload}, ${clients} client(s): ${Math.round(r.rowsPerSec)} rows/s, p50 ${r.p50Ms.toFixed(2)} ms${r.errors > 0 ? `, ${r.errors} errors (${r.firstError ?? ''})` : ''}`);
      runs.set(key(workload, clients), r);
    }
  }
  return runs;
}

async function main(): Promise<void> {
  const o = program.parse().opts<{ clients: string; seconds: string; dir: string }>();
  const levels = o.clients.split(',').map(Number);
  const seconds = Number(o.seconds);
  const dir = resolve(o.dir);
  rmSync(dir, { recursive: true, force: true });

  console.log('rqlite: building (cached after the first time) and starting 3 nodes ...');
  const rq = await RqliteCluster.start({ dir: join(dir, 'rqlite') });
  let rqRuns: Runs;
  try {
    rqRuns = await measure('rqlite', rq.urls, await rq.leaderUrl(), levels, seconds);
  } finally {
    await rq.stop();
  }

  console.log('Leviathan: starting 3 engine processes ...');
  const lev = await EngineCluster.start({ size: 3, stateMachine: 'sql', proxies: false, heartbeatMs: 100, electionTimeoutMs: 1000, snapshotEntries: 100_000, baseDir: dir });
  let levRuns: Runs;
  try {
    const urls = lev.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`);
    const leader = await lev.waitLeader();
    levRuns = await measure('leviathan', urls, urls[leader] as string, levels, seconds);
  } finally {
    await lev.close();
  }

  console.log(`\nSQL over HTTP, 3 nodes on loopback, fsync on, 128-byte values; rqlite ${rq.version}; ${seconds} s per cell`);
  const header = ['workload', 'clients', 'Leviathan rows/s', 'rqlite rows/s', 'ratio', 'Leviathan p50/p99 ms', 'rqlite p50/p99 ms', 'p50 ratio'];
  const rows: string[][] = [];
  for (const w of WORKLOADS) {
    for (const c of levels) {
      const l = levRuns.get(key(w, c)) as LoadResult;
      const r = rqRuns.get(key(w, c)) as LoadResult;
      const errs = l.errors + r.errors > 0 ? ` (errors: ${l.errors}/${r.errors})` : '';
      rows.push([
        workloadName(w) + errs,
        String(c),
        String(Math.round(l.rowsPerSec)),
        String(Math.round(r.rowsPerSec)),
        `${(l.rowsPerSec / r.rowsPerSec).toFixed(2)}x`,
        `${l.p50Ms.toFixed(2)}/${l.p99Ms.toFixed(2)}`,
        `${r.p50Ms.toFixed(2)}/${r.p99Ms.toFixed(2)}`,
        `${(l.p50Ms / r.p50Ms).toFixed(2)}x`,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

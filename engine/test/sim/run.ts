/**
 * Runs the simulator over many seeds on every core (worker threads), with progress and a
 * summary; or replays one seed with its trace. `make sim SEEDS=N`, `make sim SEED=S`.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { RaftTestingKnobs } from '../../src/raft/index.js';
import { SCENARIOS, simulate } from './simulation.js';
import type { Scenario, SimResult, SimStats } from './simulation.js';

const HELP = `Usage: sim [options]

Runs the deterministic Raft simulator: every seed is a different schedule of faults, and every
failure is reproduced exactly by its seed.

Options:
  --seeds N        number of seeds to run (default 1000)
  --from S         first seed (default 1)
  --seed S         replay one seed and print its trace
  --trace-lines N  how many trailing trace lines to print when replaying (default 200)
  --jobs J         worker threads (default: available cores)
  --scenario X     force a fault mix: ${SCENARIOS.join(', ')} (default: drawn per seed)
  --knob K         run a deliberately broken core (testing knob, e.g. unsafeVoteWithoutLogCheck);
                   with --seed, replays that broken run
  -h, --help       show this help`;

interface WorkerJob {
  readonly seeds: number[];
  readonly scenario?: Scenario;
  readonly knob?: string;
}

type WorkerReport = { kind: 'result'; seed: number; ok: boolean; stats: SimStats; violation?: string } | { kind: 'done' };

function knobs(knob: string | undefined): RaftTestingKnobs {
  return knob ? ({ [knob]: true } as RaftTestingKnobs) : {};
}

function runWorker(job: WorkerJob): void {
  for (const seed of job.seeds) {
    const r: SimResult = simulate({ seed, scenario: job.scenario, knobs: knobs(job.knob) });
    const report: WorkerReport = { kind: 'result', seed, ok: r.ok, stats: r.stats, violation: r.violation?.message };
    parentPort?.postMessage(report);
  }
  parentPort?.postMessage({ kind: 'done' } satisfies WorkerReport);
}

function replay(seed: number, traceLines: number, scenario: Scenario | undefined, knob: string | undefined): number {
  const r = simulate({ seed, scenario, knobs: knobs(knob), trace: true });
  const lines = r.trace.slice(-traceLines);
  if (r.trace.length > lines.length) console.log(`... (${r.trace.length - lines.length} earlier trace lines)`);
  console.log(lines.join('\n'));
  console.log(JSON.stringify(r.stats));
  if (r.ok) {
    console.log(`seed ${seed}: ok`);
    return 0;
  }
  console.log(`seed ${seed}: ${r.violation?.message}`);
  return 1;
}

/**
 * A worker runs this same module. When it is TypeScript run through tsx, the worker must
 * register tsx's loader before importing it (workers do not inherit loader hooks).
 */
function workerBootstrap(): string {
  const self = JSON.stringify(import.meta.url);
  return import.meta.url.endsWith('.ts')
    ? `import('tsx/esm/api').then(({ register }) => { register(); return import(${self}); });`
    : `import(${self});`;
}

async function runMany(from: number, count: number, jobs: number, scenario: Scenario | undefined, knob: string | undefined): Promise<number> {
  const started = Date.now();
  const buckets: number[][] = Array.from({ length: jobs }, () => []);
  for (let i = 0; i < count; i++) buckets[i % jobs]?.push(from + i);
  const totals = new Map<string, number>();
  const failures: { seed: number; violation: string }[] = [];
  let finished = 0;
  let lastPrint = 0;
  const progress = (force = false): void => {
    const now = Date.now();
    if (!force && now - lastPrint < 2000) return;
    lastPrint = now;
    const rate = finished / Math.max(0.001, (now - started) / 1000);
    const eta = rate > 0 ? Math.round((count - finished) / rate) : 0;
    process.stderr.write(`\r  ${finished}/${count} seeds, ${failures.length} failed, ${rate.toFixed(0)} seeds/s, ~${eta}s left   `);
  };
  await Promise.all(
    buckets.map(
      (seeds) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(workerBootstrap(), { eval: true, workerData: { seeds, scenario, knob } satisfies WorkerJob });
          w.on('message', (m: WorkerReport) => {
            if (m.kind === 'done') {
              void w.terminate().then(() => resolve());
              return;
            }
            finished++;
            for (const [k, v] of Object.entries(m.stats)) if (typeof v === 'number') totals.set(k, (totals.get(k) ?? 0) + v);
            totals.set(`scenario ${m.stats.scenario}`, (totals.get(`scenario ${m.stats.scenario}`) ?? 0) + 1);
            if (!m.ok) failures.push({ seed: m.seed, violation: m.violation ?? 'unknown' });
            progress();
          });
          w.on('error', reject);
        }),
    ),
  );
  progress(true);
  process.stderr.write('\n');
  const secs = (Date.now() - started) / 1000;
  console.log(`\nseeds ${from}..${from + count - 1}: ${count - failures.length} passed, ${failures.length} failed in ${secs.toFixed(1)}s (${jobs} workers)`);
  console.log('what the runs exercised (totals):');
  for (const [k, v] of [...totals].sort()) console.log(`  ${k.padEnd(24)} ${v}`);
  failures.sort((a, b) => a.seed - b.seed);
  const extra = `${scenario ? ` SCENARIO=${scenario}` : ''}${knob ? ` KNOB=${knob}` : ''}`;
  for (const f of failures.slice(0, 20)) console.log(`\nFAILED seed ${f.seed}: ${f.violation}\n  replay: make sim SEED=${f.seed}${extra}`);
  return failures.length === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '1000' },
      from: { type: 'string', default: '1' },
      seed: { type: 'string' },
      'trace-lines': { type: 'string', default: '200' },
      jobs: { type: 'string' },
      scenario: { type: 'string' },
      knob: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  const scenario = values.scenario as Scenario | undefined;
  if (scenario !== undefined && !SCENARIOS.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  if (values.seed !== undefined) return replay(int('seed', values.seed, 0), int('trace-lines', values['trace-lines'], 0), scenario, values.knob);
  const jobs = values.jobs === undefined ? availableParallelism() : int('jobs', values.jobs, 1);
  return runMany(int('from', values.from, 0), int('seeds', values.seeds, 1), jobs, scenario, values.knob);
}

if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(2);
    },
  );
} else {
  runWorker(workerData as WorkerJob);
}

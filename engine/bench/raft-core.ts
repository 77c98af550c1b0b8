/**
 * Benchmark of the Raft core: a 3-member in-memory cluster in lockstep rounds (one round = one
 * tick), N proposers each with one proposal outstanding; committed entries per second of wall
 * time and p50/p99 commit latency in ticks. The same workload runs against etcd's raft package
 * (bench/peers/etcd-raft, see its main.go for the shared definition) in the same run, and the
 * table shows both side by side with ratios.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MemoryStorage, RawNode } from '../src/raft/index.js';
import type { Message } from '../src/raft/index.js';

interface Result {
  readonly impl: string;
  readonly proposers: number;
  readonly entries: number;
  readonly seconds: number;
  readonly entriesPerSec: number;
  readonly p50Ticks: number;
  readonly p99Ticks: number;
}

const PAYLOAD_BYTES = 128;
const IDS = ['1', '2', '3'];

class LockstepCluster {
  readonly nodes: RawNode[];
  readonly stores: MemoryStorage[];
  round = 0;
  private outbox: Message[] = [];
  private nextId = 1;
  /** Proposal id -> round proposed. */
  readonly inflight = new Map<number, number>();
  latencies: number[] = [];
  committed = 0;

  constructor() {
    const config = { voters: IDS, learners: [] };
    this.stores = IDS.map(() => new MemoryStorage(config));
    this.nodes = IDS.map(
      (id, i) =>
        new RawNode({
          id,
          storage: this.stores[i] as MemoryStorage,
          electionTicks: 10,
          heartbeatTicks: 1,
          maxMessageBytes: 1 << 20,
          maxInflightMessages: 256,
          preVote: true,
          checkQuorum: true,
          randomSeed: i + 1,
        }),
    );
  }

  get leader(): RawNode {
    return this.nodes[0] as RawNode;
  }

  step(proposers: number): void {
    this.round++;
    // 1. Idle proposers propose on the leader.
    while (this.inflight.size < proposers) {
      const data = new Uint8Array(PAYLOAD_BYTES);
      new DataView(data.buffer).setBigUint64(0, BigInt(this.nextId), true);
      this.leader.propose(data);
      this.inflight.set(this.nextId++, this.round);
    }
    // 2. Every node ticks.
    for (const n of this.nodes) n.tick(this.round);
    // 3. Last round's messages are delivered in the order they were produced.
    const inbox = this.outbox;
    this.outbox = [];
    for (const m of inbox) this.nodes[Number(m.to) - 1]?.step(m);
    // 4. Each node handles one Ready.
    this.nodes.forEach((n, i) => {
      if (!n.hasReady()) return;
      const rd = n.ready();
      const st = this.stores[i] as MemoryStorage;
      if (rd.snapshot) st.applySnapshot(rd.snapshot);
      st.append(rd.entries);
      if (rd.hardState) st.setHardState(rd.hardState);
      for (const m of rd.messages) this.outbox.push(m);
      if (i === 0) {
        for (const e of rd.committedEntries) {
          if (e.kind !== 'normal') continue;
          const id = Number(new DataView(e.data.buffer, e.data.byteOffset, 8).getBigUint64(0, true));
          const at = this.inflight.get(id);
          if (at === undefined) continue;
          this.inflight.delete(id);
          this.latencies.push(this.round - at);
          this.committed++;
        }
      }
      n.advance(rd);
    });
  }

  /** Elects node 1 and waits until it applied an entry of its term. */
  setup(): void {
    this.step(0);
    this.leader.campaign();
    for (let i = 0; i < 100; i++) {
      this.step(0);
      const st = this.leader.status();
      if (st.role === 'leader' && st.applied >= st.commit && st.commit > 0) return;
    }
    throw new Error('node 1 did not become leader');
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function measure(proposers: number, minSeconds: number, maxSeconds: number): Result {
  const c = new LockstepCluster();
  c.setup();
  while (c.committed < 1000) c.step(proposers);
  c.committed = 0;
  c.latencies = [];
  const target = proposers === 1 ? 20_000 : 100_000;
  const start = process.hrtime.bigint();
  let seconds = 0;
  for (;;) {
    c.step(proposers);
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if ((c.committed >= target && seconds >= minSeconds) || seconds >= maxSeconds) break;
  }
  const sorted = c.latencies.sort((a, b) => a - b);
  return {
    impl: 'leviathan',
    proposers,
    entries: c.committed,
    seconds,
    entriesPerSec: c.committed / seconds,
    p50Ticks: percentile(sorted, 50),
    p99Ticks: percentile(sorted, 99),
  };
}

function runPeer(proposers: number[], minSeconds: number, maxSeconds: number): Map<number, Result> | string {
  const here = dirname(fileURLToPath(import.meta.url));
  const build = join(here, '..', '..', 'bench', 'peers', 'etcd-raft', 'build.sh');
  if (!existsSync(build)) return 'peer harness missing';
  try {
    const bin = execFileSync('bash', [build], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
    const out = execFileSync(bin, ['-proposers', proposers.join(','), '-min-seconds', String(minSeconds), '-max-seconds', String(maxSeconds)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const results = new Map<number, Result>();
    for (const line of out.split('\n')) {
      if (line.trim() === '') continue;
      const r = JSON.parse(line) as Result & { version: string };
      results.set(r.proposers, { ...r, impl: `etcd-raft ${r.version}` });
    }
    return results;
  } catch (err) {
    return `peer unavailable: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      proposers: { type: 'string', default: '1,16,256' },
      'min-seconds': { type: 'string', default: '2' },
      'max-seconds': { type: 'string', default: '10' },
      'no-peer': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench-raft-core [--proposers 1,16,256] [--min-seconds 2] [--max-seconds 10] [--no-peer]');
    return;
  }
  const proposers = values.proposers.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--proposers: ${s} is not a positive integer`);
    return n;
  });
  const minSeconds = Number(values['min-seconds']);
  const maxSeconds = Number(values['max-seconds']);
  console.log('Raft core: 3 members in memory, lockstep rounds of one tick, 128-byte entries');
  const ours = new Map<number, Result>();
  for (const n of proposers) {
    process.stderr.write(`  measuring leviathan with ${n} proposers...\n`);
    ours.set(n, measure(n, minSeconds, maxSeconds));
  }
  process.stderr.write('  measuring etcd raft (same workload, Go)...\n');
  const peer = values['no-peer'] ? 'peer skipped (--no-peer)' : runPeer(proposers, minSeconds, maxSeconds);
  const peerName = typeof peer === 'string' ? 'etcd-raft' : ([...peer.values()][0]?.impl ?? 'etcd-raft');
  const rows: string[][] = [['proposers', 'leviathan entries/s', `${peerName} entries/s`, 'ratio', 'p50 ticks (ours/peer)', 'p99 ticks (ours/peer)']];
  for (const n of proposers) {
    const o = ours.get(n) as Result;
    const p = typeof peer === 'string' ? undefined : peer.get(n);
    rows.push([
      String(n),
      Math.round(o.entriesPerSec).toLocaleString('en-US'),
      p ? Math.round(p.entriesPerSec).toLocaleString('en-US') : '-',
      p ? `${(o.entriesPerSec / p.entriesPerSec).toFixed(2)}x` : '-',
      `${o.p50Ticks} / ${p ? p.p50Ticks : '-'}`,
      `${o.p99Ticks} / ${p ? p.p99Ticks : '-'}`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  for (const r of rows) console.log(r.map((cell, i) => cell.padStart(widths[i] as number)).join('  '));
  if (typeof peer === 'string') console.log(`(${peer})`);
  console.log('ratio > 1 means the Leviathan core commits more entries per second than the peer.');
}

main();

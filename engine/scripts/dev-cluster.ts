/**
 * `make dev`: a local Raft cluster in one process, in real time, in memory. It prints every
 * election and commit as they happen, proposes a write every so often, and (unless told not to)
 * crashes the leader now and then so that you can watch a new one being elected. Ctrl-C stops it
 * with a summary. The engine runtime (durable storage, gRPC, real processes) replaces this with
 * a cluster of engine processes.
 */
import { parseArgs } from 'node:util';
import { MemoryStorage, ProposalDroppedError, RawNode } from '../src/raft/index.js';
import type { Message, Ready } from '../src/raft/index.js';

const HELP = `Usage: make dev  (or: npx tsx engine/scripts/dev-cluster.ts [options])

Runs an in-memory Raft cluster in real time and prints elections and commits.

Options:
  --members N          cluster size (default 3, 1..7)
  --tick-ms MS         length of one Raft tick (default 100; election timeout is 10-20 ticks)
  --write-every-ms MS  how often a client writes (default 700)
  --crash-every-s S    crash the leader every S seconds and restart it 3 s later (default 8, 0 = never)
  --duration-s S       stop after S seconds (default: run until Ctrl-C)
  -h, --help           show this help`;

interface Member {
  readonly id: string;
  readonly storage: MemoryStorage;
  node: RawNode | null;
  applied: number;
}

function parse(): { members: number; tickMs: number; writeEveryMs: number; crashEveryS: number; durationS: number } | null {
  const { values } = parseArgs({
    options: {
      members: { type: 'string', default: '3' },
      'tick-ms': { type: 'string', default: '100' },
      'write-every-ms': { type: 'string', default: '700' },
      'crash-every-s': { type: 'string', default: '8' },
      'duration-s': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return null;
  }
  const num = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in [${min}, ${max}], got "${v}"`);
    return n;
  };
  return {
    members: num('members', values.members, 1, 7),
    tickMs: num('tick-ms', values['tick-ms'], 5, 10_000),
    writeEveryMs: num('write-every-ms', values['write-every-ms'], 10, 600_000),
    crashEveryS: num('crash-every-s', values['crash-every-s'], 0, 86_400),
    durationS: num('duration-s', values['duration-s'], 0, 86_400),
  };
}

function main(): void {
  const opts = parse();
  if (opts === null) return;
  const started = Date.now();
  const ids = Array.from({ length: opts.members }, (_, i) => `node-${i}`);
  const config = { voters: ids, learners: [] };
  const members = new Map<string, Member>(ids.map((id) => [id, { id, storage: new MemoryStorage(config), node: null, applied: 0 }]));
  const stats = { elections: 0, commits: 0, crashes: 0 };
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let writes = 0;
  const log = (line: string): void => console.log(`${((Date.now() - started) / 1000).toFixed(2).padStart(7)}s  ${line}`);

  const start = (m: Member): void => {
    // Seeded from the id and the clock: different per member and per restart.
    m.node = new RawNode({ id: m.id, storage: m.storage, randomSeed: (Date.now() ^ (ids.indexOf(m.id) * 0x9e3779b9)) >>> 0 });
    m.applied = m.storage.snapshot().meta.index;
  };
  for (const m of members.values()) start(m);

  const deliver = (msg: Message): void => {
    // A little network delay, so elections look like they do on a real network.
    setTimeout(() => {
      const to = members.get(msg.to);
      if (to?.node) {
        to.node.step(msg);
        drain(to);
      }
    }, 1 + Math.random() * 5);
  };

  const handle = (m: Member, node: RawNode, rd: Ready): void => {
    if (rd.softState?.role === 'leader') {
      stats.elections++;
      log(`${m.id} elected leader of term ${node.raft.term}`);
    }
    if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
    m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    for (const msg of rd.messages) deliver(msg);
    for (const e of rd.committedEntries) {
      m.applied = e.index;
      if (node.raft.role !== 'leader') continue;
      stats.commits++;
      const what = e.kind === 'normal' ? `"${decoder.decode(e.data)}"` : e.kind === 'noop' ? '(leader no-op)' : `config ${e.change.type} ${e.change.node}`;
      log(`  commit #${e.index} term ${e.term}: ${what}`);
    }
    node.advance(rd);
  };

  const drain = (m: Member): void => {
    while (m.node?.hasReady()) handle(m, m.node, m.node.ready());
  };

  const leader = (): Member | undefined => [...members.values()].find((m) => m.node?.raft.role === 'leader');

  const timers: NodeJS.Timeout[] = [];
  timers.push(
    setInterval(() => {
      for (const m of members.values()) {
        m.node?.tick(Date.now());
        drain(m);
      }
    }, opts.tickMs),
  );
  timers.push(
    setInterval(() => {
      const l = leader();
      if (!l?.node) return;
      try {
        l.node.observeClock(Date.now());
        l.node.propose(encoder.encode(`x=${++writes}`));
        drain(l);
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    }, opts.writeEveryMs),
  );
  if (opts.crashEveryS > 0) {
    timers.push(
      setInterval(() => {
        const l = leader();
        if (!l || opts.members === 1) return;
        stats.crashes++;
        log(`crashing leader ${l.id} (its storage survives; it restarts in 3 s)`);
        l.node = null;
        timers.push(
          setTimeout(() => {
            start(l);
            log(`${l.id} restarted from its storage`);
          }, 3000),
        );
      }, opts.crashEveryS * 1000),
    );
  }

  log(`started ${opts.members} members (${ids.join(', ')}), tick ${opts.tickMs} ms; Ctrl-C to stop`);
  const stop = (): void => {
    for (const t of timers) clearTimeout(t);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`\nstopped after ${secs}s: ${stats.elections} elections, ${stats.commits} commits, ${stats.crashes} leader crashes`);
    for (const m of members.values()) {
      const st = m.node?.status();
      console.log(`  ${m.id}: ${st ? `${st.role}, term ${st.term}, commit ${st.commit}, applied ${m.applied}` : 'down'}`);
    }
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (opts.durationS > 0) timers.push(setTimeout(stop, opts.durationS * 1000));
}

main();

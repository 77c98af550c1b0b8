/**
 * A 3-node rqlite cluster on loopback, as the peer in the SQL benchmark: built from its pinned
 * release by bench/peers/rqlite/build.sh, each node with its own data dir (and log file) under a
 * given directory. Node 1 starts alone and bootstraps a single-node cluster; once it leads, the
 * others start with `-join <node 1's Raft address>`. `start` returns when every node reports a
 * reachable leader (GET /readyz) and the leader lists all nodes as reachable voters (GET /nodes).
 *
 * Durability: rqlite has no fsync flag, and none is needed. Its Raft log is a bbolt file opened
 * without NoSync, so every append is fsynced on the leader and on each follower before it counts
 * toward commit; SQLite itself runs with synchronous=OFF because the log, not the database file,
 * is what recovery replays. So a write acknowledged by rqlite is on disk on a majority, as in
 * Leviathan. Flags used, all else at rqlite's defaults (election and heartbeat 1 s, snapshot
 * every 8192 entries or 4 MiB of SQLite WAL):
 *   -node-id <i> -http-addr 127.0.0.1:<port> -raft-addr 127.0.0.1:<port> [-join 127.0.0.1:<raft port of node 1>]
 *   -raft-log-level ERROR   (quieter log only)
 *   <data dir>
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RqliteClusterOptions {
  /** The rqlited binary; `buildRqlite()` when absent. */
  bin?: string;
  /** Parent directory for the nodes' data dirs (node-<i>/) and logs (node-<i>.log). */
  dir: string;
  /** Nodes in the cluster. Default 3. */
  size?: number;
  /** Extra flags for every node. */
  extraArgs?: string[];
  /** How long to wait for the cluster to form. Default 60 s. */
  timeoutMs?: number;
}

interface RqliteNode {
  id: number;
  httpUrl: string;
  raftAddr: string;
  proc: ChildProcess;
  exited: Promise<void>;
}

/** Builds (or finds in the cache) the pinned rqlited and returns its path. Build progress goes to stderr. */
export function buildRqlite(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = join(here, '..', '..', '..', 'bench', 'peers', 'rqlite', 'build.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const bin = out.trim().split('\n').pop() ?? '';
  if (bin === '') throw new Error(`${script} printed no binary path`);
  return bin;
}

/** The version string of an rqlited binary, e.g. "v8.36.0". */
export function rqliteVersion(bin: string): string {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8' }); // prints to stderr
  const out = `${r.stdout}${r.stderr}`;
  return /rqlited (\S+)/.exec(out)?.[1] ?? 'unknown';
}

export class RqliteCluster {
  private constructor(
    private readonly nodes: RqliteNode[],
    readonly version: string,
  ) {}

  /** Starts the cluster and waits until it has a leader and every node has joined. */
  static async start(o: RqliteClusterOptions): Promise<RqliteCluster> {
    const bin = o.bin ?? buildRqlite();
    const size = o.size ?? 3;
    const timeoutMs = o.timeoutMs ?? 60_000;
    mkdirSync(o.dir, { recursive: true });
    const cluster = new RqliteCluster([], rqliteVersion(bin));
    try {
      const ports = await freePorts(2 * size);
      for (let i = 1; i <= size; i++) {
        const httpPort = ports[2 * (i - 1)] as number;
        const raftPort = ports[2 * (i - 1) + 1] as number;
        const dataDir = join(o.dir, `node-${i}`);
        mkdirSync(dataDir, { recursive: true });
        const args = ['-node-id', String(i), '-http-addr', `127.0.0.1:${httpPort}`, '-raft-addr', `127.0.0.1:${raftPort}`, '-raft-log-level', 'ERROR'];
        if (i > 1) args.push('-join', (cluster.nodes[0] as RqliteNode).raftAddr);
        args.push(...(o.extraArgs ?? []), dataDir);
        const log = openSync(join(o.dir, `node-${i}.log`), 'a');
        const proc = spawn(bin, args, { stdio: ['ignore', log, log] });
        closeSync(log);
        proc.on('error', (err) => console.error(`rqlite node ${i}: ${err.message}`));
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        cluster.nodes.push({ id: i, httpUrl: `http://127.0.0.1:${httpPort}`, raftAddr: `127.0.0.1:${raftPort}`, proc, exited });
        // Node 1 bootstraps alone; it must lead before anyone can join it.
        if (i === 1) await cluster.waitReady([cluster.nodes[0] as RqliteNode], Date.now() + timeoutMs);
      }
      await cluster.waitReady(cluster.nodes, Date.now() + timeoutMs);
      await cluster.waitMembers(Date.now() + timeoutMs);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** HTTP base URLs of every node, node 1 first. */
  get urls(): string[] {
    return this.nodes.map((n) => n.httpUrl);
  }

  /** The leader's HTTP base URL, from the nodes' GET /nodes?ver=2; waits for one. */
  async leaderUrl(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const n of this.nodes) {
        const nodes = await getNodes(n.httpUrl);
        const leader = nodes?.find((m) => m.leader && m.reachable);
        if (leader?.api_addr) return leader.api_addr.replace(/\/+$/, '');
      }
      if (Date.now() > deadline) throw new Error('rqlite: no leader');
      await sleep(100);
    }
  }

  /** SIGTERM every node, then SIGKILL whatever is still running after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const running = this.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    for (const n of running) n.proc.kill('SIGTERM');
    await Promise.race([Promise.all(running.map((n) => n.exited)), sleep(graceMs)]);
    for (const n of running) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await Promise.all(running.map((n) => n.exited));
  }

  private async waitReady(nodes: RqliteNode[], deadline: number): Promise<void> {
    for (const n of nodes) {
      for (;;) {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) throw new Error(`rqlite node ${n.id} exited (${n.proc.exitCode ?? n.proc.signalCode}); see node-${n.id}.log`);
        try {
          const res = await fetch(`${n.httpUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
          await res.text();
          if (res.status === 200) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`rqlite node ${n.id} not ready`);
        await sleep(100);
      }
    }
  }

  private async waitMembers(deadline: number): Promise<void> {
    for (;;) {
      const leader = await this.leaderUrl(Math.max(0, deadline - Date.now()));
      const nodes = await getNodes(leader);
      if (nodes !== undefined && nodes.filter((m) => m.voter && m.reachable).length === this.nodes.length) return;
      if (Date.now() > deadline) throw new Error(`rqlite: cluster did not reach ${this.nodes.length} voters`);
      await sleep(100);
    }
  }
}

interface NodeInfo {
  id: string;
  api_addr?: string;
  voter: boolean;
  reachable: boolean;
  leader: boolean;
}

async function getNodes(base: string): Promise<NodeInfo[] | undefined> {
  try {
    const res = await fetch(`${base}/nodes?ver=2`, { signal: AbortSignal.timeout(2_000) });
    if (res.status !== 200) {
      await res.text();
      return undefined;
    }
    return ((await res.json()) as { nodes?: NodeInfo[] }).nodes;
  } catch {
    return undefined;
  }
}

/** Ports free right now on 127.0.0.1 (held open together, so they are distinct). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

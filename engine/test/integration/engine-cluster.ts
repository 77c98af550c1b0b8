/**
 * A cluster of real engine processes on loopback, for integration tests: every node is its own
 * `node` process (engine/src/server/main.ts through tsx) with its own data directory, killed
 * with SIGKILL or stopped with SIGTERM like in production.
 *
 * Peers reach each other through a FaultProxy per node (a node advertises its proxy's address),
 * so a test can cut a node off (`isolate`) or slow it down. Clients and the harness talk to the
 * nodes' real ports, so they still see an isolated node.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/kv/kv-client.js';
import type { GroupView } from '../../src/node/status.js';
import { FaultProxy } from './fault-proxy.js';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const MAIN = join(REPO, 'engine/src/server/main.ts');
/** Extra node flags for every engine process, e.g. LEVIATHAN_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile. */
const NODE_FLAGS = (process.env.LEVIATHAN_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');

export interface ClusterOptions {
  readonly size: number;
  readonly heartbeatMs?: number;
  readonly electionTimeoutMs?: number;
  readonly snapshotEntries?: number;
  readonly groups?: number;
  /** Extra flags for every node. */
  readonly flags?: readonly string[];
  /** What the nodes replicate (default kv, the test key-value store). */
  readonly stateMachine?: 'sql' | 'topic' | 'kv';
  /** Route peer traffic through the fault proxies (default true; benchmarks turn it off). */
  readonly proxies?: boolean;
  /** Parent of the cluster's temporary directory (default: the OS temp dir). */
  readonly baseDir?: string;
}

export interface NodeStatus {
  readonly node: { readonly name: string; readonly memberId: string; readonly incarnation: string };
  readonly groups: readonly GroupView[];
}

export class EngineNode {
  proc: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  readonly logFile: string;
  readonly dataDir: string;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly grpcPort: number,
    readonly httpPort: number,
    readonly proxy: FaultProxy,
    dir: string,
  ) {
    this.dataDir = join(dir, name);
    this.logFile = join(dir, `${name}.log`);
  }

  /** The real gRPC address (clients, the harness). */
  get address(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** The address peers use: through the fault proxy. */
  get advertise(): string {
    return this.proxy.address;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts the process; `env` adds variables (e.g. a test failpoint) to the inherited ones. */
  start(args: readonly string[], env: Record<string, string> = {}): void {
    if (this.proc !== null) throw new Error(`${this.name} is already running`);
    mkdirSync(this.dataDir, { recursive: true });
    const out = openSync(this.logFile, 'a');
    const proc = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', MAIN, ...args], { cwd: REPO, stdio: ['ignore', out, out], env: { ...process.env, ...env } });
    closeSync(out);
    this.proc = proc;
    this.exited = new Promise((res) => proc.once('exit', (code) => res(code)));
    void this.exited.then(() => {
      if (this.proc === proc) this.proc = null;
    });
  }

  /** kill -9: no handover, no flush. */
  async kill(): Promise<void> {
    if (this.proc === null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = null;
  }

  /** SIGTERM: the node hands leadership away and exits; resolves with its exit code. */
  async stop(): Promise<number | null> {
    if (this.proc === null) return null;
    this.proc.kill('SIGTERM');
    const code = await this.exited;
    this.proc = null;
    return code;
  }

  /** Resolves with the exit code once the process exits by itself (or after a timeout). */
  async waitExit(timeoutMs: number): Promise<number | null> {
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs));
    const r = await Promise.race([this.exited, timer]);
    if (r === 'timeout') throw new Error(`${this.name} did not exit within ${timeoutMs} ms`);
    return r;
  }

  wipe(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async status(): Promise<NodeStatus | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/raft/status`, { signal: AbortSignal.timeout(1_000) });
      return (await res.json()) as NodeStatus;
    } catch {
      return null;
    }
  }

  /** The node's view of group `groupId`, or null when it does not answer or host the group. */
  async group(groupId = 0): Promise<GroupView | null> {
    return (await this.status())?.groups.find((g) => g.groupId === groupId) ?? null;
  }

  async ready(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`, { signal: AbortSignal.timeout(1_000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(1_000) });
    return res.text();
  }
}

/** Ports this process handed out: a port is closed again before a node binds it, so the kernel may offer it twice. */
const handedOut = new Set<number>();

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = net.createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => res(p));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export class EngineCluster {
  readonly nodes: EngineNode[] = [];
  /** Clients made for the tests, closed with the cluster. */
  private readonly clients: Array<{ close(): void }> = [];

  private constructor(
    readonly dir: string,
    readonly options: ClusterOptions,
  ) {}

  /** Starts `size` nodes: node 0 bootstraps, the others join through it; waits until all vote. */
  static async start(options: ClusterOptions): Promise<EngineCluster> {
    const c = await EngineCluster.create(options);
    try {
      c.nodes[0]?.start(c.args(0, ['--bootstrap']));
      await c.waitLeader();
      for (let i = 1; i < options.size; i++) c.startJoiner(i);
      await c.waitVoters(options.size);
      return c;
    } catch (err) {
      // No process outlives a cluster that failed to form (the test never gets it to close);
      // the directory (with each node's log) stays for the report.
      await c.close(true).catch(() => undefined);
      throw err;
    }
  }

  /** Allocates ports, proxies and directories without starting anything. */
  static async create(options: ClusterOptions): Promise<EngineCluster> {
    const dir = mkdtempSync(join(options.baseDir ?? tmpdir(), 'leviathan-it-'));
    const c = new EngineCluster(dir, options);
    for (let i = 0; i < options.size; i++) await c.addNode();
    return c;
  }

  /** Adds a node (not started). */
  async addNode(): Promise<EngineNode> {
    const i = this.nodes.length;
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: grpcPort });
    const n = new EngineNode(i, `node-${i}`, grpcPort, httpPort, proxy, this.dir);
    this.nodes.push(n);
    return n;
  }

  args(i: number, extra: readonly string[] = []): string[] {
    const n = this.nodes[i] as EngineNode;
    const o = this.options;
    return [
      '--name', n.name,
      '--data-dir', n.dataDir,
      '--listen', n.address,
      '--advertise', o.proxies === false ? n.address : n.advertise,
      '--http-listen', `127.0.0.1:${n.httpPort}`,
      '--heartbeat-ms', String(o.heartbeatMs ?? 50),
      '--election-timeout-ms', String(o.electionTimeoutMs ?? 500),
      '--snapshot-entries', String(o.snapshotEntries ?? 10_000),
      '--groups', String(o.groups ?? 1),
      '--state-machine', o.stateMachine ?? 'kv',
      '--request-timeout-ms', '5000',
      '--shutdown-handover-ms', '2000',
      ...(o.flags ?? []),
      ...extra,
    ];
  }

  node(i: number): EngineNode {
    const n = this.nodes[i];
    if (n === undefined) throw new Error(`no node ${i}`);
    return n;
  }

  /** Starts (or restarts) node i from its data directory. */
  startNode(i: number, extra: readonly string[] = [], env: Record<string, string> = {}): void {
    this.node(i).start(this.args(i, extra), env);
  }

  /** Starts node i with an empty data directory, joining through every other node. */
  startJoiner(i: number, extra: readonly string[] = []): void {
    const others = this.nodes.filter((n) => n.index !== i).map((n) => n.address);
    this.node(i).start(this.args(i, ['--join', others.join(','), ...extra]));
  }

  async statuses(): Promise<Array<NodeStatus | null>> {
    return Promise.all(this.nodes.map((n) => (n.running ? n.status() : Promise.resolve(null))));
  }

  /** Index of the node that leads group `groupId` in the highest term any running node reports. */
  async leaderIndex(groupId = 0): Promise<number | null> {
    const sts = await this.statuses();
    let best: { i: number; term: number } | null = null;
    sts.forEach((s, i) => {
      const g = s?.groups.find((x) => x.groupId === groupId);
      if (g?.role === 'leader' && (best === null || g.term > best.term)) best = { i, term: g.term };
    });
    return (best as { i: number } | null)?.i ?? null;
  }

  async waitLeader(groupId = 0, timeoutMs = 20_000): Promise<number> {
    return waitFor(`a leader of group ${groupId}`, async () => this.leaderIndex(groupId), timeoutMs);
  }

  /** Waits until the leader reports `count` voters, all caught up. */
  async waitVoters(count: number, groupId = 0, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `${count} caught-up voters in group ${groupId}`,
      async () => {
        const l = await this.leaderIndex(groupId);
        if (l === null) return false;
        const g = await this.node(l).group(groupId);
        const voters = g?.members.filter((m) => m.role === 'voter') ?? [];
        return voters.length === count && voters.every((m) => m.lag === 0);
      },
      timeoutMs,
      100,
    );
  }

  /** Waits until the leader's configuration of the group is exactly `voters` (no learners), all caught up. */
  async waitVoterSet(
    voters: readonly string[],
    options: { groupId?: number; timeoutMs?: number } = {},
  ): Promise<{ leader: number; view: GroupView }> {
    const { groupId = 0, timeoutMs = 40_000 } = options;
    const want = [...voters].sort();
    return waitFor(
      `voters ${want.join(', ')} in group ${groupId}`,
      async () => {
        const l = await this.leaderIndex(groupId);
        if (l === null) return null;
        const view = await this.node(l).group(groupId);
        if (view === null || view.role !== 'leader') return null;
        const ids = view.members.map((m) => m.id).sort();
        const ok = view.members.every((m) => m.role === 'voter' && m.lag === 0) && JSON.stringify(ids) === JSON.stringify(want);
        return ok ? { leader: l, view } : null;
      },
      timeoutMs,
      100,
    );
  }

  /** Cuts node i off: nothing reaches it from its peers (its proxy drops every connection). */
  isolate(i: number): void {
    this.node(i).proxy.blackhole();
  }

  heal(i: number): void {
    this.node(i).proxy.pass();
  }

  client(options: { timeoutMs?: number; groupId?: number } = {}): KvClient {
    const c = new KvClient(this.nodes.map((n) => n.address), options);
    return this.adopt(c);
  }

  /** Closes `client` (one a test made itself, e.g. an admin client) with the cluster. */
  adopt<T extends { close(): void }>(client: T): T {
    this.clients.push(client);
    return client;
  }

  /** Every node's log, for a failing test's report. */
  logs(): string {
    return this.nodes.map((n) => `===== ${n.name} =====\n${n.log()}`).join('\n');
  }

  async close(keepDir = false): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all(this.nodes.map((n) => n.kill()));
    await Promise.all(this.nodes.map((n) => n.proxy.close()));
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

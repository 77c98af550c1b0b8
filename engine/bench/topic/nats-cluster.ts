/**
 * A 3-node NATS JetStream cluster on loopback, as the peer in the topic benchmark: the server is
 * Debian's nats-server package (found or installed by bench/peers/nats/install.sh), each node a
 * child process of ours with its own config file, JetStream store dir and log under a given
 * directory. `start` returns once every node answers /healthz and the JetStream meta group has a
 * leader (a client can read its account info). `stop` signals only the processes it started.
 *
 * Config of each node (all else at nats-server's defaults):
 *   server_name: n<i>
 *   listen: 127.0.0.1:<client port>      http: 127.0.0.1:<monitoring port>
 *   jetstream { store_dir: <dir>/n<i>/js  [sync_interval: always] }
 *   cluster { name: leviathan-bench, listen: 127.0.0.1:<route port>, routes: [every node's route port] }
 *
 * Durability: by NATS's own documentation, JetStream's file store leaves stream and consumer data
 * in the OS's buffers and forces it to disk only every `sync_interval` (2 minutes by default),
 * relying on replication instead: a publish is acknowledged once a majority has stored it, not
 * once it is on disk anywhere. Newer servers accept `sync_interval: always` (fsync on every
 * write); 2.9.10, Debian 12's package, rejects the field as unknown. `start` checks with `nats-server -t` and turns it on when the
 * server accepts it, and reports which it got in `syncAlways`: the benchmark's table says so.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';

export interface NatsClusterOptions {
  /** The nats-server binary; `findNatsServer()` when absent. */
  bin?: string;
  /** Parent directory for the nodes' configs, stores and logs. */
  dir: string;
  /** Nodes in the cluster. Default 3. */
  size?: number;
  /** Ask for `sync_interval: always` when the server supports it. Default true. */
  syncAlways?: boolean;
  /** How long to wait for the cluster to form. Default 60 s. */
  timeoutMs?: number;
}

interface NatsNode {
  name: string;
  clientPort: number;
  httpPort: number;
  proc: ChildProcess;
  exited: Promise<void>;
}

/**
 * Finds nats-server (installing Debian's package when missing and allowed) and returns its path.
 * Throws with the install script's explanation when it cannot; progress goes to stderr.
 */
export function findNatsServer(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = join(here, '..', '..', '..', 'bench', 'peers', 'nats', 'install.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`${script} failed: ${(r.stderr || '').trim().split('\n').pop() ?? ''}`);
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  if (bin === '') throw new Error(`${script} printed no binary path`);
  return bin;
}

/** The version of a nats-server binary, e.g. "2.9.10". */
export function natsVersion(bin: string): string {
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
  return /v?(\d+\.\d+\.\d+\S*)/.exec(out)?.[1] ?? 'unknown';
}

/** Whether this nats-server accepts `sync_interval: always` (2.10 and later). */
export function supportsSyncAlways(bin: string, dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'sync-probe.conf');
  writeFileSync(conf, `listen: 127.0.0.1:0\njetstream { store_dir: ${JSON.stringify(join(dir, 'sync-probe'))}, sync_interval: always }\n`);
  return spawnSync(bin, ['-t', '-c', conf], { encoding: 'utf8' }).status === 0;
}

export class NatsCluster {
  private constructor(
    private readonly nodes: NatsNode[],
    readonly version: string,
    readonly syncAlways: boolean,
  ) {}

  /** Starts the cluster and waits until every node is healthy and JetStream has a meta leader. */
  static async start(o: NatsClusterOptions): Promise<NatsCluster> {
    const bin = o.bin ?? findNatsServer();
    const size = o.size ?? 3;
    const timeoutMs = o.timeoutMs ?? 60_000;
    mkdirSync(o.dir, { recursive: true });
    const syncAlways = (o.syncAlways ?? true) && supportsSyncAlways(bin, o.dir);
    const cluster = new NatsCluster([], natsVersion(bin), syncAlways);
    try {
      const ports = await freePorts(3 * size);
      const routePort = (i: number): number => ports[3 * i + 2] as number;
      const routes = Array.from({ length: size }, (_, i) => `nats-route://127.0.0.1:${routePort(i)}`);
      for (let i = 0; i < size; i++) {
        const name = `n${i + 1}`;
        const clientPort = ports[3 * i] as number;
        const httpPort = ports[3 * i + 1] as number;
        const storeDir = join(o.dir, name, 'js');
        mkdirSync(storeDir, { recursive: true });
        const conf = join(o.dir, `${name}.conf`);
        writeFileSync(
          conf,
          [
            `server_name: ${name}`,
            `listen: 127.0.0.1:${clientPort}`,
            `http: 127.0.0.1:${httpPort}`,
            `jetstream {`,
            `  store_dir: ${JSON.stringify(storeDir)}`,
            ...(syncAlways ? ['  sync_interval: always'] : []),
            `}`,
            `cluster {`,
            `  name: leviathan-bench`,
            `  listen: 127.0.0.1:${routePort(i)}`,
            `  routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}]`,
            `}`,
            '',
          ].join('\n'),
        );
        const log = openSync(join(o.dir, `${name}.log`), 'a');
        const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', log, log] });
        closeSync(log);
        proc.on('error', (err) => console.error(`nats node ${name}: ${err.message}`));
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        cluster.nodes.push({ name, clientPort, httpPort, proc, exited });
      }
      const deadline = Date.now() + timeoutMs;
      await cluster.waitHealthy(deadline);
      await cluster.waitMetaLeader(deadline);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Client addresses (host:port) of every node, n1 first. */
  get servers(): string[] {
    return this.nodes.map((n) => `127.0.0.1:${n.clientPort}`);
  }

  /** Process ids of the running nodes (ours). */
  get pids(): number[] {
    return this.nodes.map((n) => n.proc.pid).filter((p): p is number => p !== undefined && p > 0);
  }

  /** SIGTERM every node we started, then SIGKILL whatever is still running after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const running = this.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    for (const n of running) n.proc.kill('SIGTERM');
    await Promise.race([Promise.all(running.map((n) => n.exited)), sleep(graceMs)]);
    for (const n of running) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await Promise.all(running.map((n) => n.exited));
  }

  private async waitHealthy(deadline: number): Promise<void> {
    for (const n of this.nodes) {
      for (;;) {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) throw new Error(`nats node ${n.name} exited (${n.proc.exitCode ?? n.proc.signalCode}); see ${n.name}.log`);
        try {
          const res = await fetch(`http://127.0.0.1:${n.httpPort}/healthz`, { signal: AbortSignal.timeout(2_000) });
          await res.text();
          if (res.status === 200) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`nats node ${n.name} not healthy`);
        await sleep(100);
      }
    }
  }

  /** JetStream answers account info only once the meta group has a leader. */
  private async waitMetaLeader(deadline: number): Promise<void> {
    const nc = await connect({ servers: this.servers, timeout: 2_000 });
    try {
      for (;;) {
        try {
          const jsm = await nc.jetstreamManager({ timeout: 2_000 });
          await jsm.getAccountInfo();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`nats: JetStream not ready: ${(err as Error).message}`);
          await sleep(200);
        }
      }
    } finally {
      await nc.close();
    }
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

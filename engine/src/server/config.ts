/**
 * The engine's configuration: command-line flags, each with an environment variable (flags win),
 * validated as a whole before anything starts, with errors that say what to change.
 */
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_LEADER_BALANCE_DELAY_MS, PARTITION_HOSTING_MODES } from '../topic/hosting.js';
import type { PartitionHosting } from '../topic/hosting.js';

export interface EngineConfig {
  /** Member name: the pod or node name. The member id is name@incarnation. */
  readonly name: string;
  readonly dataDir: string;
  /** host:port the gRPC server (peers, admin, key-value, health) listens on. */
  readonly listen: string;
  /** host:port peers and clients use to reach this node. */
  readonly advertise: string;
  /** host:port of the HTTP server (/livez, /readyz, /metrics, /raft/status). */
  readonly httpListen: string;
  /** Start a new cluster with this node as its single voter (empty data directory only). */
  readonly bootstrap: boolean;
  /**
   * Found a new cluster only if this member's name is this one and its data directory holds no
   * Raft state yet; otherwise join (or resume). For a StatefulSet, where every pod gets the same
   * flags: the operator names ordinal 0 here until the cluster has a leader, then takes it away.
   */
  readonly bootstrapMember: string | null;
  /** Addresses (host:port) of existing members to ask to join, for an empty data directory. */
  readonly join: readonly string[];
  /** A DNS name (name:port) whose addresses are existing members, e.g. a headless Service. */
  readonly joinDns: string | null;
  /** Join as a learner and stay one (an operator promotes it); otherwise join as a voter. */
  readonly learner: boolean;
  /** Raft groups this node hosts (ids 0..groups-1). */
  readonly groups: number;
  /**
   * What the node serves: the SQL database, priority topics (group 0 is the topic catalog,
   * partitions are created as topics are), or the built-in key-value store (tests).
   */
  readonly stateMachine: 'sql' | 'topic' | 'kv';
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
  readonly snapshotEntries: number;
  readonly requestTimeoutMs: number;
  readonly shutdownHandoverMs: number;
  /** Topic nodes: an atomic batch still preparing this long after it began is aborted. */
  readonly txnTimeoutMs: number;
  /**
   * Topic nodes: which partitions this node hosts. `placement`: those the catalog placed on it.
   * `all`: every partition of every topic (a DisheapTopic's pods under the operator), joining
   * the ones it was not placed in as a learner for the operator to promote.
   */
  readonly partitionHosting: PartitionHosting;
  /** Topic nodes: a partition leader hands leadership to the preferred replica only after leading this long. */
  readonly leaderBalanceDelayMs: number;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got "${value}"`);
    return n;
  };
}

/** host:port with a port in 1..65535 (port 0 allowed where `allowZero`). */
export function hostPort(allowZero = false) {
  return (value: string): string => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(value);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port > 65535 || (port === 0 && !allowZero)) throw new InvalidArgumentError(`expected host:port, got "${value}"`);
    return value;
  };
}

function hostPortList(value: string): string[] {
  const parse = hostPort();
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parse);
}

function opt(flags: string, description: string, env: string): Option {
  return new Option(flags, description).env(env);
}

export function buildCommand(): Command {
  return new Command('leviathan-engine')
    .description('A Leviathan engine node: hosts Raft groups over a durable SQLite log and serves them over gRPC.')
    .addOption(opt('--name <name>', 'member name (pod or node name)', 'LEVIATHAN_NAME').default(hostname()))
    .addOption(opt('--data-dir <dir>', 'data directory (Raft log, identity)', 'LEVIATHAN_DATA_DIR').default('./leviathan-data'))
    .addOption(opt('--listen <host:port>', 'gRPC listen address (peers, admin, key-value, health)', 'LEVIATHAN_LISTEN').default('0.0.0.0:7400').argParser(hostPort(true)))
    .addOption(opt('--advertise <host:port>', 'address peers and clients use to reach this node (default: name and the listen port)', 'LEVIATHAN_ADVERTISE').argParser(hostPort()))
    .addOption(opt('--http-listen <host:port>', 'HTTP listen address for /livez, /readyz, /metrics, /raft/status', 'LEVIATHAN_HTTP_LISTEN').default('0.0.0.0:7401').argParser(hostPort(true)))
    // Booleans read their environment variables in parseConfig: commander would take any value,
    // even "false", as true.
    .addOption(
      opt(
        '--bootstrap-member <name>',
        'found a new cluster if --name is <name> and the data directory holds no Raft state; otherwise join with --join/--join-dns (for StatefulSets: every pod gets the same flags)',
        'LEVIATHAN_BOOTSTRAP_MEMBER',
      ),
    )
    .addOption(new Option('--bootstrap', 'start a new cluster with this node as its only voter (empty data directory only) [env: LEVIATHAN_BOOTSTRAP=true]').default(false))
    .addOption(opt('--join <host:port,...>', 'existing members to ask to join (empty data directory)', 'LEVIATHAN_JOIN').argParser(hostPortList).default([]))
    .addOption(opt('--join-dns <name:port>', 'DNS name whose addresses are existing members (e.g. a headless Service)', 'LEVIATHAN_JOIN_DNS').argParser(hostPort()))
    .addOption(new Option('--learner', 'join as a learner and stay one (default: become a voter once caught up) [env: LEVIATHAN_LEARNER=true]').default(false))
    .addOption(opt('--groups <n>', 'number of Raft groups hosted (ids 0..n-1)', 'LEVIATHAN_GROUPS').default(1).argParser(integer(1, 1024)))
    .addOption(opt('--state-machine <kind>', 'what the node serves: sql (the Leviathan database), topic (Disheap priority topics) or kv (a test key-value store)', 'LEVIATHAN_STATE_MACHINE').choices(['sql', 'topic', 'kv']).default('sql'))
    .addOption(opt('--heartbeat-ms <ms>', 'leader heartbeat interval (also the tick length)', 'LEVIATHAN_HEARTBEAT_MS').default(100).argParser(integer(5, 60_000)))
    .addOption(opt('--election-timeout-ms <ms>', 'base election timeout (randomised up to twice this)', 'LEVIATHAN_ELECTION_TIMEOUT_MS').default(1000).argParser(integer(20, 600_000)))
    .addOption(opt('--snapshot-entries <n>', 'snapshot and compact the log every n applied entries', 'LEVIATHAN_SNAPSHOT_ENTRIES').default(10_000).argParser(integer(2, 100_000_000)))
    .addOption(opt('--request-timeout-ms <ms>', 'how long a write or read may wait for consensus', 'LEVIATHAN_REQUEST_TIMEOUT_MS').default(10_000).argParser(integer(10, 3_600_000)))
    .addOption(opt('--txn-timeout-ms <ms>', 'topic nodes: abort an atomic batch whose coordinator has not finished it after this long', 'LEVIATHAN_TXN_TIMEOUT_MS').default(10_000).argParser(integer(100, 3_600_000)))
    .addOption(
      opt(
        '--partition-hosting <mode>',
        'topic nodes: which partitions to host: placement (those the catalog placed here) or all (every partition; the ones not placed here are joined as a learner, for an operator to promote)',
        'LEVIATHAN_PARTITION_HOSTING',
      ).default('placement'),
    )
    .addOption(
      opt('--leader-balance-delay-ms <ms>', 'topic nodes: a partition leader hands leadership to the preferred replica only after leading it this long', 'LEVIATHAN_LEADER_BALANCE_DELAY_MS')
        .default(DEFAULT_LEADER_BALANCE_DELAY_MS)
        .argParser(integer(0, 3_600_000)),
    )
    .addOption(opt('--shutdown-handover-ms <ms>', 'on SIGTERM, how long to wait for leadership to move away', 'LEVIATHAN_SHUTDOWN_HANDOVER_MS').default(3_000).argParser(integer(0, 600_000)))
    .addOption(opt('--log-level <level>', 'log level', 'LEVIATHAN_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .showHelpAfterError()
    .allowExcessArguments(false);
}

interface RawOptions {
  name: string;
  dataDir: string;
  listen: string;
  advertise?: string;
  httpListen: string;
  bootstrap: boolean | string;
  bootstrapMember?: string;
  join: string[];
  joinDns?: string;
  learner: boolean | string;
  groups: number;
  stateMachine: 'sql' | 'topic' | 'kv';
  heartbeatMs: number;
  electionTimeoutMs: number;
  snapshotEntries: number;
  requestTimeoutMs: number;
  shutdownHandoverMs: number;
  txnTimeoutMs: number;
  partitionHosting: string;
  leaderBalanceDelayMs: number;
  logLevel: EngineConfig['logLevel'];
}

/** Boolean environment variables arrive as strings. */
function bool(v: boolean | string, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off|)$/i.test(v)) return false;
  throw new ConfigError(`${what}: expected true or false, got "${v}"`);
}

/** Checks the options as a whole; throws ConfigError saying what to change. */
export function toConfig(o: RawOptions): EngineConfig {
  if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(o.name)) {
    throw new ConfigError(`--name "${o.name}" must be a DNS-1123 name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`);
  }
  const bootstrap = bool(o.bootstrap, '--bootstrap / LEVIATHAN_BOOTSTRAP');
  const joinDns = o.joinDns ?? null;
  if (bootstrap && (o.join.length > 0 || joinDns !== null)) {
    throw new ConfigError('--bootstrap starts a new cluster and --join/--join-dns joins an existing one: give one or the other');
  }
  const bootstrapMember = o.bootstrapMember === undefined || o.bootstrapMember === '' ? null : o.bootstrapMember;
  if (bootstrap && bootstrapMember !== null) {
    throw new ConfigError('--bootstrap always founds a cluster and --bootstrap-member founds one only for the named member: give one or the other');
  }
  if (o.electionTimeoutMs < 3 * o.heartbeatMs) {
    throw new ConfigError(`--election-timeout-ms (${o.electionTimeoutMs}) must be at least 3 times --heartbeat-ms (${o.heartbeatMs}), or followers time out between heartbeats`);
  }
  if (o.stateMachine === 'topic' && o.groups !== 1) {
    throw new ConfigError('--groups does not apply to topic nodes: they host the topic catalog, and partitions are created as topics are made');
  }
  // Checked here rather than with commander's choices, so that a bad value (from the flag or the
  // environment) exits with code 2 like every other configuration error.
  const partitionHosting = PARTITION_HOSTING_MODES.find((m) => m === o.partitionHosting);
  if (partitionHosting === undefined) {
    throw new ConfigError(`--partition-hosting / LEVIATHAN_PARTITION_HOSTING: expected ${PARTITION_HOSTING_MODES.map((m) => `"${m}"`).join(' or ')}, got "${o.partitionHosting}"`);
  }
  if (partitionHosting !== 'placement' && o.stateMachine !== 'topic') {
    throw new ConfigError(`--partition-hosting ${partitionHosting} applies to topic nodes only (--state-machine topic), not to --state-machine ${o.stateMachine}`);
  }
  const listenPort = o.listen.slice(o.listen.lastIndexOf(':') + 1);
  if (o.advertise === undefined && listenPort === '0') throw new ConfigError('--listen with port 0 needs an explicit --advertise');
  return {
    name: o.name,
    dataDir: o.dataDir,
    listen: o.listen,
    advertise: o.advertise ?? `${o.name}:${listenPort}`,
    httpListen: o.httpListen,
    bootstrap,
    bootstrapMember,
    join: o.join,
    joinDns,
    learner: bool(o.learner, '--learner / LEVIATHAN_LEARNER'),
    groups: o.groups,
    stateMachine: o.stateMachine,
    heartbeatMs: o.heartbeatMs,
    electionTimeoutMs: o.electionTimeoutMs,
    snapshotEntries: o.snapshotEntries,
    requestTimeoutMs: o.requestTimeoutMs,
    shutdownHandoverMs: o.shutdownHandoverMs,
    txnTimeoutMs: o.txnTimeoutMs,
    partitionHosting,
    leaderBalanceDelayMs: o.leaderBalanceDelayMs,
    logLevel: o.logLevel,
  };
}

/**
 * Parses argv (without node and script) and the environment. On --help or a bad flag, commander
 * prints and exits, unless `throwOnError` (tests) makes it throw a CommanderError instead.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, throwOnError = false): EngineConfig {
  const cmd = buildCommand();
  if (throwOnError) cmd.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  const saved = process.env;
  process.env = env;
  try {
    cmd.parse([...argv], { from: 'user' });
  } finally {
    process.env = saved;
  }
  const raw = cmd.opts<RawOptions>();
  if (raw.bootstrap === false && env.LEVIATHAN_BOOTSTRAP !== undefined) raw.bootstrap = env.LEVIATHAN_BOOTSTRAP;
  if (raw.learner === false && env.LEVIATHAN_LEARNER !== undefined) raw.learner = env.LEVIATHAN_LEARNER;
  return toConfig(raw);
}

/**
 * The operator's command line. Flags match the Helm chart (charts/leviathan-operator/templates/
 * deployment.yaml); a bad value exits 2 with commander's message saying which flag and why.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_OPERATOR_CONFIG } from './resources/index.js';

export interface OperatorFlags {
  readonly leaderElect: boolean;
  readonly leaderElectionNamespace: string;
  readonly leaderElectionId: string;
  readonly metricsListen: string;
  readonly probeListen: string;
  readonly engineImage: string;
  readonly clusterDomain: string;
  readonly logLevel: string;
  readonly watchNamespaces: readonly string[];
  readonly workers: number;
}

function bool(v: string | undefined): boolean {
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidArgumentError('expected true or false');
}

function listen(v: string): string {
  if (!/^[^:]*:\d{1,5}$/.test(v)) throw new InvalidArgumentError('expected [host]:port, e.g. :8080');
  return v;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): OperatorFlags {
  const cmd = new Command('leviathan-operator')
    .description('Reconciles LeviathanCluster and DisheapTopic resources into StatefulSets of Leviathan engine pods')
    .addOption(new Option('--leader-elect [bool]', 'only the replica holding the Lease reconciles').argParser(bool).default(true))
    .addOption(new Option('--leader-election-namespace <ns>', 'namespace of the Lease (default: the pod\'s namespace)').env('POD_NAMESPACE'))
    .option('--leader-election-id <name>', 'name of the Lease', 'leviathan-operator')
    .option('--metrics-listen <[host]:port>', 'Prometheus metrics at /metrics', listen, ':8080')
    .option('--probe-listen <[host]:port>', '/healthz and /readyz', listen, ':8081')
    .option('--engine-image <image>', 'engine image for resources that do not name one', DEFAULT_OPERATOR_CONFIG.engineImage)
    .option('--cluster-domain <domain>', 'the cluster\'s DNS suffix (kubelet --cluster-domain)', DEFAULT_OPERATOR_CONFIG.clusterDomain)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
    .option('--watch-namespaces <list>', 'comma-separated namespaces to watch (default: all)')
    .option('--workers <n>', 'resources reconciled at once', positiveInt, 4)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<{
    leaderElect: boolean;
    leaderElectionNamespace?: string;
    leaderElectionId: string;
    metricsListen: string;
    probeListen: string;
    engineImage: string;
    clusterDomain: string;
    logLevel: string;
    watchNamespaces?: string;
    workers: number;
  }>();
  return {
    leaderElect: o.leaderElect,
    leaderElectionNamespace: o.leaderElectionNamespace ?? env.POD_NAMESPACE ?? 'default',
    leaderElectionId: o.leaderElectionId,
    metricsListen: o.metricsListen,
    probeListen: o.probeListen,
    engineImage: o.engineImage,
    clusterDomain: o.clusterDomain,
    logLevel: o.logLevel,
    watchNamespaces: (o.watchNamespaces ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    workers: o.workers,
  };
}

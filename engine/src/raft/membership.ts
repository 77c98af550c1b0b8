/**
 * Cluster membership: the pure rule for one single-server change, and the history of
 * configurations in the log.
 *
 * A configuration takes effect as soon as its entry is in a server's log, committed or not
 * (dissertation, section 4.1). A truncated log therefore reverts to the configuration of the
 * last config entry that remains, which is why the history, not just the latest, is kept.
 */
import { RaftError } from './errors.js';
import type { ClusterConfig, ConfChange, NodeId } from './types.js';

export function isVoter(config: ClusterConfig, id: NodeId): boolean {
  return config.voters.includes(id);
}

export function isLearner(config: ClusterConfig, id: NodeId): boolean {
  return config.learners.includes(id);
}

export function isMember(config: ClusterConfig, id: NodeId): boolean {
  return isVoter(config, id) || isLearner(config, id);
}

/** All members, voters first, in a stable order. */
export function members(config: ClusterConfig): NodeId[] {
  return [...config.voters, ...config.learners];
}

function sorted(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort();
}

/**
 * The configuration that results from `change`, or a CONF_CHANGE_INVALID error. Each change
 * alters the voter set by at most one server, so any majority of the old voters overlaps any
 * majority of the new ones.
 */
export function applyConfChange(config: ClusterConfig, change: ConfChange): ClusterConfig {
  const { node } = change;
  if (node.length === 0) throw new RaftError('CONF_CHANGE_INVALID', 'member id must not be empty');
  switch (change.type) {
    case 'add-learner':
      if (isMember(config, node)) throw new RaftError('CONF_CHANGE_INVALID', `${node} is already a member`);
      return { voters: config.voters, learners: sorted([...config.learners, node]) };
    case 'promote':
      if (!isLearner(config, node)) throw new RaftError('CONF_CHANGE_INVALID', `${node} is not a learner`);
      return { voters: sorted([...config.voters, node]), learners: config.learners.filter((id) => id !== node) };
    case 'remove':
      if (!isMember(config, node)) throw new RaftError('CONF_CHANGE_INVALID', `${node} is not a member`);
      if (isVoter(config, node) && config.voters.length === 1) {
        throw new RaftError('CONF_CHANGE_INVALID', `cannot remove ${node}: it is the last voter`);
      }
      return { voters: config.voters.filter((id) => id !== node), learners: config.learners.filter((id) => id !== node) };
    default: {
      const never: never = change;
      throw new RaftError('CONF_CHANGE_INVALID', `unknown change ${JSON.stringify(never)}`);
    }
  }
}

export function configsEqual(a: ClusterConfig, b: ClusterConfig): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]): boolean =>
    x.length === y.length && sorted(x).every((id, i) => id === sorted(y)[i]);
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}

interface ConfigAt {
  readonly index: number;
  readonly config: ClusterConfig;
}

/**
 * The configurations of the config entries in the log, above a base (the configuration of the
 * snapshot). The current configuration is the last one.
 */
export class ConfigHistory {
  private base: ConfigAt;
  private readonly entries: ConfigAt[] = [];

  constructor(baseIndex: number, baseConfig: ClusterConfig) {
    this.base = { index: baseIndex, config: baseConfig };
  }

  current(): ClusterConfig {
    return (this.entries[this.entries.length - 1] ?? this.base).config;
  }

  /** Index of the last config entry in the log (or of the base). */
  lastIndex(): number {
    return (this.entries[this.entries.length - 1] ?? this.base).index;
  }

  /** The configuration in force at `index`: that of the last config entry at or below it. */
  at(index: number): ClusterConfig {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i] as ConfigAt;
      if (e.index <= index) return e.config;
    }
    return this.base.config;
  }

  append(index: number, config: ClusterConfig): void {
    this.truncateFrom(index);
    this.entries.push({ index, config });
  }

  /** Forget config entries at `index` and above: the log was truncated there. */
  truncateFrom(index: number): void {
    while (this.entries.length > 0 && (this.entries[this.entries.length - 1] as ConfigAt).index >= index) {
      this.entries.pop();
    }
  }

  /** The log was compacted through `index`: fold earlier entries into the base. */
  compactTo(index: number): void {
    while (this.entries.length > 0 && (this.entries[0] as ConfigAt).index <= index) {
      this.base = this.entries.shift() as ConfigAt;
    }
  }

  /** Replace everything with a snapshot's configuration. */
  reset(index: number, config: ClusterConfig): void {
    this.entries.length = 0;
    this.base = { index, config };
  }
}

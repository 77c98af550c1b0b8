import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/flags.js';

describe('operator flags', () => {
  it('accepts what the Helm chart passes', () => {
    const f = parseFlags(
      ['--leader-elect=true', '--leader-election-namespace=ops', '--leader-election-id=lev', '--metrics-listen=:8080', '--probe-listen=:8081', '--engine-image=leviathan/engine:1.2', '--log-level=debug', '--watch-namespaces=a, b'],
      {},
    );
    expect(f).toEqual({
      leaderElect: true,
      leaderElectionNamespace: 'ops',
      leaderElectionId: 'lev',
      metricsListen: ':8080',
      probeListen: ':8081',
      engineImage: 'leviathan/engine:1.2',
      clusterDomain: 'cluster.local',
      logLevel: 'debug',
      watchNamespaces: ['a', 'b'],
      workers: 4,
    });
  });

  it('defaults: leader election on, the lease in the pod namespace, all namespaces', () => {
    const f = parseFlags([], { POD_NAMESPACE: 'leviathan-system' });
    expect(f.leaderElect).toBe(true);
    expect(f.leaderElectionNamespace).toBe('leviathan-system');
    expect(f.watchNamespaces).toEqual([]);
    expect(parseFlags(['--leader-elect=false'], {}).leaderElect).toBe(false);
  });

  it('refuses bad values with a message', () => {
    expect(() => parseFlags(['--metrics-listen=8080'], {})).toThrow(/\[host\]:port/);
    expect(() => parseFlags(['--leader-elect=yes'], {})).toThrow(/true or false/);
    expect(() => parseFlags(['--log-level=loud'], {})).toThrow(/Allowed choices/);
    expect(() => parseFlags(['--workers=0'], {})).toThrow(/positive integer/);
    expect(() => parseFlags(['--no-such-flag'], {})).toThrow(/unknown option/);
  });
});

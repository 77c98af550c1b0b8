import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/server/config.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseConfig(argv, env, true);

describe('engine configuration', () => {
  it('has working defaults and derives the advertised address from the name', () => {
    const c = parse(['--name', 'lev-0']);
    expect(c.listen).toBe('0.0.0.0:7400');
    expect(c.advertise).toBe('lev-0:7400');
    expect(c.electionTimeoutMs).toBe(1000);
    expect(c.bootstrap).toBe(false);
    expect(c.join).toEqual([]);
  });

  it('reads environment variables, and flags win over them', () => {
    const env = { LEVIATHAN_NAME: 'lev-1', LEVIATHAN_JOIN: 'a:1, b:2', LEVIATHAN_HEARTBEAT_MS: '50', LEVIATHAN_ELECTION_TIMEOUT_MS: '400' };
    const c = parse([], env);
    expect(c.name).toBe('lev-1');
    expect(c.join).toEqual(['a:1', 'b:2']);
    expect(c.heartbeatMs).toBe(50);
    expect(parse(['--name', 'lev-9'], env).name).toBe('lev-9');
  });

  it('reads boolean environment variables by value, not by presence', () => {
    expect(parse(['--name', 'a'], { LEVIATHAN_BOOTSTRAP: 'false' }).bootstrap).toBe(false);
    expect(parse(['--name', 'a'], { LEVIATHAN_BOOTSTRAP: 'true' }).bootstrap).toBe(true);
    expect(() => parse(['--name', 'a'], { LEVIATHAN_LEARNER: 'maybe' })).toThrow(/expected true or false/);
  });

  it('rejects bad values with a message that names the flag', () => {
    expect(() => parse(['--name', 'Bad_Name'])).toThrow(ConfigError);
    expect(() => parse(['--name', 'a', '--listen', 'nohost'])).toThrow(CommanderError);
    expect(() => parse(['--name', 'a', '--heartbeat-ms', 'x'])).toThrow(/heartbeat-ms/);
    expect(() => parse(['--name', 'a', '--log-level', 'loud'])).toThrow(CommanderError);
    expect(() => parse(['--name', 'a', '--bogus'])).toThrow(CommanderError);
  });

  it('checks options together', () => {
    expect(() => parse(['--name', 'a', '--bootstrap', '--join', 'b:1'])).toThrow(/one or the other/);
    expect(() => parse(['--name', 'a', '--heartbeat-ms', '100', '--election-timeout-ms', '200'])).toThrow(/at least 3 times/);
    expect(() => parse(['--name', 'a', '--listen', '127.0.0.1:0'])).toThrow(/explicit --advertise/);
    expect(parse(['--name', 'a', '--listen', '127.0.0.1:0', '--advertise', '127.0.0.1:5000']).advertise).toBe('127.0.0.1:5000');
  });

  it('takes --partition-hosting placement|all (default placement) for topic nodes, and --leader-balance-delay-ms (default 30 s)', () => {
    const d = parse(['--name', 'a']);
    expect([d.partitionHosting, d.leaderBalanceDelayMs]).toEqual(['placement', 30_000]);
    const t = parse(['--name', 'a', '--state-machine', 'topic', '--partition-hosting', 'all', '--leader-balance-delay-ms', '2000']);
    expect([t.partitionHosting, t.leaderBalanceDelayMs]).toEqual(['all', 2000]);
    const e = parse(['--name', 'a'], { LEVIATHAN_STATE_MACHINE: 'topic', LEVIATHAN_PARTITION_HOSTING: 'all', LEVIATHAN_LEADER_BALANCE_DELAY_MS: '0' });
    expect([e.partitionHosting, e.leaderBalanceDelayMs]).toEqual(['all', 0]);
    expect(parse(['--name', 'a', '--partition-hosting', 'placement'], { LEVIATHAN_PARTITION_HOSTING: 'all' }).partitionHosting).toBe('placement');
    // A bad mode is a ConfigError (exit code 2), from the flag or the environment.
    expect(() => parse(['--name', 'a', '--state-machine', 'topic', '--partition-hosting', 'some'])).toThrow(ConfigError);
    expect(() => parse(['--name', 'a', '--state-machine', 'topic'], { LEVIATHAN_PARTITION_HOSTING: 'ALL' })).toThrow(/--partition-hosting \/ LEVIATHAN_PARTITION_HOSTING: expected "placement" or "all", got "ALL"/);
    expect(() => parse(['--name', 'a', '--partition-hosting', 'all'])).toThrow(/topic nodes only/);
    expect(() => parse(['--name', 'a', '--leader-balance-delay-ms', '-1'])).toThrow(/leader-balance-delay-ms/);
    expect(() => parse(['--name', 'a', '--leader-balance-delay-ms', 'soon'])).toThrow(CommanderError);
  });

  it('takes --bootstrap-member with --join-dns (every pod the same flags), not with --bootstrap; empty means unset', () => {
    const c = parse(['--name', 'db-1', '--bootstrap-member', 'db-0', '--join-dns', 'db-peers:7400', '--learner']);
    expect(c).toMatchObject({ bootstrapMember: 'db-0', bootstrap: false, joinDns: 'db-peers:7400', learner: true });
    expect(parseConfig(['--name', 'db-0'], { LEVIATHAN_BOOTSTRAP_MEMBER: 'db-0' }, true).bootstrapMember).toBe('db-0');
    expect(parseConfig(['--name', 'db-0'], { LEVIATHAN_BOOTSTRAP_MEMBER: '' }, true).bootstrapMember).toBeNull();
    expect(() => parse(['--name', 'a', '--bootstrap', '--bootstrap-member', 'a'])).toThrow(/one or the other/);
  });
});

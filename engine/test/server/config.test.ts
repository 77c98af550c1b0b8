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

  it('takes --bootstrap-member with --join-dns (every pod the same flags), not with --bootstrap; empty means unset', () => {
    const c = parse(['--name', 'db-1', '--bootstrap-member', 'db-0', '--join-dns', 'db-peers:7400', '--learner']);
    expect(c).toMatchObject({ bootstrapMember: 'db-0', bootstrap: false, joinDns: 'db-peers:7400', learner: true });
    expect(parseConfig(['--name', 'db-0'], { LEVIATHAN_BOOTSTRAP_MEMBER: 'db-0' }, true).bootstrapMember).toBe('db-0');
    expect(parseConfig(['--name', 'db-0'], { LEVIATHAN_BOOTSTRAP_MEMBER: '' }, true).bootstrapMember).toBeNull();
    expect(() => parse(['--name', 'a', '--bootstrap', '--bootstrap-member', 'a'])).toThrow(/one or the other/);
  });
});

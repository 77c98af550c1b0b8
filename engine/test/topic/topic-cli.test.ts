/**
 * `leviathan-topic` without a cluster: argument parsing, what each command asks the client for,
 * output, and exit codes (0 done, 1 server error, 2 usage), through runCli with a fake client.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENDPOINTS, enqueueOptions, parseDurationMs, parseEndpoints, parsePriorityArg, runCli, UsageError } from '../../src/cli/topic.js';
import type { CliDeps, TopicClientLike } from '../../src/cli/topic.js';
import { TopicClientError } from '../../src/topic/client.js';
import type { TopicMessage } from '../../src/topic/client.js';

// The default endpoints are make dev's, unless the environment says otherwise.
delete process.env.LEVIATHAN_ENDPOINTS;

describe('argument parsers', () => {
  it('durations: units, compounds, bare numbers as seconds', () => {
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('2')).toBe(2_000);
    expect(parseDurationMs('1.5s')).toBe(1_500);
    expect(() => parseDurationMs('soon')).toThrow(/duration/);
    expect(() => parseDurationMs('-1s')).toThrow(/duration/);
  });

  it('priorities are exact int64', () => {
    expect(parsePriorityArg('9223372036854775807')).toBe(9223372036854775807n);
    expect(parsePriorityArg('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(() => parsePriorityArg('9223372036854775808')).toThrow(/64-bit/);
    expect(() => parsePriorityArg('1e3')).toThrow(/integer/);
  });

  it('endpoints', () => {
    expect(parseEndpoints('a:1, b:2,')).toEqual(['a:1', 'b:2']);
    expect(parseEndpoints('[::1]:7500')).toEqual(['[::1]:7500']);
    expect(() => parseEndpoints('a')).toThrow(/host:port/);
    expect(() => parseEndpoints(',')).toThrow(/host:port/);
  });

  it('the producer triple comes whole', () => {
    expect(enqueueOptions({ producer: 'p', epoch: 1, sequence: 2, priority: 3n, key: 'k', delay: 100 })).toEqual({ priority: 3n, partitionKey: 'k', producer: { id: 'p', epoch: 1, sequence: 2 }, delayMs: 100 });
    expect(() => enqueueOptions({ producer: 'p' })).toThrow(UsageError);
  });
});

interface Run {
  code: number;
  out: string;
  err: string;
  calls: Array<[string, ...unknown[]]>;
  endpoints: string[][];
}

const message: TopicMessage = {
  topic: 't',
  messageId: '0-1',
  partition: 0,
  payload: Buffer.from('hello'),
  priority: 9223372036854775807n,
  enqueuedAt: new Date(0),
  leaseToken: '0-1.1.ab',
  leaseDeadline: new Date(30_000),
  attempts: 1,
  maxRetries: 3,
  producer: null,
};

async function run(argv: string[], overrides: Partial<Record<keyof TopicClientLike, (...a: unknown[]) => unknown>> = {}, stdin = ''): Promise<Run> {
  const r: Run = { code: -1, out: '', err: '', calls: [], endpoints: [] };
  const record =
    (name: string, result: unknown) =>
    (...args: unknown[]): unknown => {
      r.calls.push([name, ...args]);
      const o = overrides[name as keyof TopicClientLike];
      return o !== undefined ? o(...args) : Promise.resolve(result);
    };
  const fake = {
    makeHeap: record('makeHeap', { topic: 't', heapId: 't#1' }),
    deleteHeap: record('deleteHeap', undefined),
    updateHeapConfig: record('updateHeapConfig', undefined),
    listHeaps: record('listHeaps', { heaps: [], nextPageToken: '' }),
    stats: record('stats', { totalMessages: 1, inflightMessages: 0, dlqMessages: 0, totalEnqueues: 1, totalPops: 0, totalAcks: 0, totalNacks: 0, totalRetries: 0, totalTimeouts: 0, partitions: [] }),
    statsAll: record('statsAll', { global: {}, topics: {} }),
    purge: record('purge', undefined),
    moveToDlq: record('moveToDlq', undefined),
    enqueue: record('enqueue', { messageId: '0-1', duplicate: false, partition: 0 }),
    ack: record('ack', undefined),
    nack: record('nack', undefined),
    extend: record('extend', undefined),
    peek: record('peek', { items: [], hasMore: false }),
    pop: record('pop', [message]),
    read: record('read', { records: [], nextOffset: 0 }),
    commitOffset: record('commitOffset', undefined),
    fetchOffset: record('fetchOffset', null),
    consume: record('consume', undefined),
    close: () => undefined,
  } as unknown as TopicClientLike;
  const deps: CliDeps = {
    connect: (endpoints) => {
      r.endpoints.push(endpoints);
      return fake;
    },
    out: (s) => (r.out += `${s}\n`),
    err: (s) => (r.err += `${s}\n`),
    readStdin: () => Promise.resolve(Buffer.from(stdin)),
    interrupted: () => new Promise(() => {}),
  };
  r.code = await runCli(argv, deps);
  return r;
}

describe('commands', () => {
  it('enqueue: the payload from the argument, options mapped, exact priority', async () => {
    const r = await run(['enqueue', 't', 'hi', '--priority', '9223372036854775807', '--key', 'k', '--delay', '2s', '--max-retries', '5']);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([['enqueue', 't', 'hi', { priority: 9223372036854775807n, partitionKey: 'k', delayMs: 2000, maxRetries: 5 }]]);
    expect(r.out).toBe('enqueued 0-1 to partition 0\n');
    expect(r.endpoints).toEqual([DEFAULT_ENDPOINTS]);
  });

  it('enqueue: a negative priority, and the payload from stdin', async () => {
    const r = await run(['--endpoints', 'h:1,h:2', 'enqueue', 't', '--priority', '-5', '--producer', 'p', '--epoch', '1', '--sequence', '9'], {}, 'from stdin\n');
    expect(r.code).toBe(0);
    expect(r.calls[0]).toEqual(['enqueue', 't', Buffer.from('from stdin\n'), { priority: -5n, producer: { id: 'p', epoch: 1, sequence: 9 } }]);
    expect(r.endpoints).toEqual([['h:1', 'h:2']]);
  });

  it('pop --ack acks every message and --json prints priorities as strings', async () => {
    const r = await run(['--json', 'pop', 't', '--max', '3', '--wait', '1s', '--partition', '0', '--partition', '2', '--ack']);
    expect(r.code).toBe(0);
    expect(r.calls[0]).toEqual(['pop', 't', { max: 3, waitMs: 1000, partitions: [0, 2] }]);
    expect(r.calls[1]?.[0]).toBe('ack');
    const out = JSON.parse(r.out) as Array<Record<string, unknown>>;
    expect(out[0]).toMatchObject({ messageId: '0-1', leaseToken: '0-1.1.ab', priority: '9223372036854775807', payload: 'hello', payloadBase64: 'aGVsbG8=', acked: true });
  });

  it('pop --ack still prints what it popped when an ack fails, and exits 1', async () => {
    const r = await run(['pop', 't', '--ack'], { ack: () => Promise.reject(new TopicClientError('ack: n1: the lease expired', 'FAILED_PRECONDITION', grpc.status.FAILED_PRECONDITION, false)) });
    expect(r.code).toBe(1);
    expect(r.out).toContain('0-1.1.ab');
    expect(r.out).toContain('FAILED');
    expect(r.err).toContain('could not ack 0-1');
  });

  it('pop prints a table with ids, lease tokens, priorities and payloads', async () => {
    const r = await run(['pop', 't']);
    expect(r.out).toContain('0-1.1.ab');
    expect(r.out).toContain('9223372036854775807');
    expect(r.out).toContain('hello');
  });

  it('create maps its options', async () => {
    const r = await run(['create', 't', '--partitions', '3', '--replication-factor', '3', '--mode', 'max', '--visibility', '45s', '--dlq-retention', '1h']);
    expect(r.code).toBe(0);
    expect(r.calls[0]).toEqual(['makeHeap', 't', { mode: 'max', partitions: 3, replicationFactor: 3, visibilityTimeoutMs: 45_000, dlq: { enabled: true, retentionMs: 3_600_000 } }]);
  });

  it('create --if-not-exists accepts ALREADY_EXISTS', async () => {
    const exists = () => Promise.reject(new TopicClientError('makeHeap: exists', 'ALREADY_EXISTS', grpc.status.ALREADY_EXISTS, false));
    expect((await run(['create', 't', '--if-not-exists'], { makeHeap: exists })).code).toBe(0);
    expect((await run(['create', 't'], { makeHeap: exists })).code).toBe(1);
  });

  it('ack, nack, extend, peek, read, offset', async () => {
    expect((await run(['ack', 't', '0-1', 'tok'])).calls[0]).toEqual(['ack', { topic: 't', messageId: '0-1', leaseToken: 'tok' }]);
    expect((await run(['nack', 't', '0-1', 'tok', '--backoff', '0', '--reason', 'bad'])).calls[0]).toEqual(['nack', { topic: 't', messageId: '0-1', leaseToken: 'tok' }, { backoffMs: 0, reason: 'bad' }]);
    expect((await run(['extend', 't', 'tok', '1m'])).calls[0]).toEqual(['extend', { topic: 't', leaseToken: 'tok' }, 60_000]);
    expect((await run(['peek', 't', '--dlq', '--limit', '5', '--partition', '1'])).calls[0]).toEqual(['peek', 't', { limit: 5, includeDlq: true, partition: 1 }]);
    expect((await run(['read', 't', '2', '--from', '7', '--limit', '3'])).calls[0]).toEqual(['read', 't', 2, 7, { limit: 3 }]);
    expect((await run(['offset', 't', '1', 'g', '--set', '4'])).calls[0]).toEqual(['commitOffset', 'g', 't', 1, 4]);
    expect((await run(['offset', 't', '1', 'g'])).out).toBe('group g: no offset stored\n');
  });

  it('usage errors exit with 2 and call nothing', async () => {
    for (const argv of [
      ['pop', 't', '--max', '0'],
      ['enqueue', 't', 'x', '--priority', '1.5'],
      ['enqueue', 't', 'x', '--producer', 'p'],
      ['delete', 't'],
      ['purge', 't'],
      ['extend', 't', 'tok', 'never'],
      ['read', 't', 'x'],
      ['update', 't'],
      ['frobnicate'],
      ['pop'],
      ['--endpoints', 'nope', 'list'],
    ]) {
      const r = await run(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.calls).toEqual([]);
      expect(r.err).not.toBe('');
    }
  });

  it('--help exits with 0', async () => {
    const r = await run(['pop', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--visibility');
  });

  it('a server error exits with 1 and says whether a write may have taken effect', async () => {
    const r = await run(['enqueue', 't', 'x'], { enqueue: () => Promise.reject(new TopicClientError('enqueue: n1: timed out', 'TIMEOUT', grpc.status.DEADLINE_EXCEEDED, true)) });
    expect(r.code).toBe(1);
    expect(r.err).toContain('TIMEOUT');
    expect(r.err).toContain('may or may not have taken effect');
    const u = await run(['list'], { listHeaps: () => Promise.reject(new TopicClientError('listHeaps: n1: not implemented', 'UNIMPLEMENTED', grpc.status.UNIMPLEMENTED, false)) });
    expect(u.code).toBe(1);
    expect(u.err).toContain('does not serve topics');
  });
});

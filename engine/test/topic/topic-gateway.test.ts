/**
 * The topic HTTP gateway without a cluster: request validation and JSON shapes (pure), routing,
 * and the handler over a real HTTP server with a fake TopicApi (statuses, exact int64, limits).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeError } from '../../src/node/index.js';
import type { TopicRecord } from '../../src/topic/catalog-state.js';
import { errorResponse, matchRoute, parseBatch, parseBody, parseCreate, parseEnqueue, parseLease, parsePop, parsePriority, parseUpdate, payloadJson, topicHttpHandler } from '../../src/topic/http-gateway.js';
import { FOREVER_MS, TopicError } from '../../src/topic/topic-api.js';
import type { EnqueueRequest, PoppedItem, TopicApi } from '../../src/topic/topic-api.js';

describe('request validation', () => {
  it('priorities: JSON integers exactly, decimal strings, int64 bounds', () => {
    expect(parsePriority(parseBody('{"p": 9223372036854775807}').p)).toBe(9223372036854775807n);
    expect(parsePriority('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(parsePriority(undefined)).toBe(0n);
    expect(() => parsePriority('9223372036854775808')).toThrow(/int64/);
    expect(() => parsePriority(1.5)).toThrow(/integer/);
    expect(() => parsePriority('12abc')).toThrow(/integer/);
  });

  it('enqueue bodies: payload or payload_base64, the producer triple whole, unknown fields refused', () => {
    const r = parseEnqueue('t', parseBody('{"payload":"héllo","priority":"7","partition_key":"k","producer_id":"p","epoch":1,"sequence":"2","max_retries":0,"not_before_ms":500}'));
    expect(r).toEqual({ topic: 't', payload: Buffer.from('héllo'), priority: 7n, partitionKey: 'k', producer: { id: 'p', epoch: 1, sequence: 2 }, maxRetries: 0, notBeforeMs: 500 });
    expect(parseEnqueue('t', { payload_base64: 'AAEC' }).payload).toEqual(Buffer.from([0, 1, 2]));
    expect(() => parseEnqueue('t', {})).toThrow(/payload/);
    expect(() => parseEnqueue('t', { payload: 'a', payload_base64: 'AA==' })).toThrow(/not both/);
    expect(() => parseEnqueue('t', { payload_base64: '***' })).toThrow(/base64/);
    expect(() => parseEnqueue('t', parseBody('{"payload":"a","producer_id":"p"}'))).toThrow(/together/);
    expect(() => parseEnqueue('t', parseBody('{"payload":"a","priorty":1}'))).toThrow(/unknown field "priorty"/);
    expect(() => parseEnqueue('t', parseBody('{"payload":5}'))).toThrow(/string/);
    expect(() => parseEnqueue('t', parseBody('{"payload":"a","not_before_ms":-1}'))).toThrow(/not_before_ms/);
  });

  it('batches: atomic or not, each message validated with its index', () => {
    const b = parseBatch('t', parseBody('{"messages":[{"payload":"a"},{"payload":"b","priority":2}],"atomic":true}'));
    expect(b.transactionId).toBe('');
    expect(b.requests.map((r: EnqueueRequest) => r.priority)).toEqual([0n, 2n]);
    expect(parseBatch('t', parseBody('{"messages":[{"payload":"a"}]}')).transactionId).toBeUndefined();
    expect(parseBatch('t', parseBody('{"messages":[{"payload":"a"}],"transaction_id":"x"}')).transactionId).toBe('x');
    expect(() => parseBatch('t', parseBody('{"messages":[]}'))).toThrow(/non-empty/);
    expect(() => parseBatch('t', parseBody('{"messages":[{"payload":"a"},{}]}'))).toThrow(/messages\[1\]/);
  });

  it('create and update bodies', () => {
    const c = parseCreate(parseBody('{"topic":"jobs","mode":"MAX","partitions":3,"replication_factor":3,"dlq":{"retention_ms":60000},"max_retries":0}'));
    expect(c).toMatchObject({ topic: 'jobs', mode: 'max', partitions: 3, replicationFactor: 3, topKBound: 0, retentionMs: null, maxRetries: 0, dlq: { enabled: true, retentionMs: 60000 } });
    expect(parseCreate({ name: 'x' })).toMatchObject({ topic: 'x', mode: 'min', partitions: 1, dlq: null });
    expect(() => parseCreate({})).toThrow(/topic is required/);
    expect(() => parseCreate(parseBody('{"topic":"x","mode":"fifo"}'))).toThrow(/mode/);
    expect(() => parseCreate(parseBody('{"topic":"x","partitions":0}'))).toThrow(/partitions/);
    expect(parseUpdate('x', parseBody('{"retention_ms":null,"dlq":false}'))).toEqual({ topic: 'x', retentionMs: null, dlq: { enabled: false, retentionMs: null } });
    expect(() => parseUpdate('x', {})).toThrow(/nothing to change/);
  });

  it('pop and lease bodies', () => {
    expect(parsePop({})).toEqual({ max: 1, waitMs: 0, visibilityTimeoutMs: undefined, partitions: [] });
    expect(parsePop(parseBody('{"max":5,"wait_ms":1000,"visibility_timeout_ms":2000,"partitions":[0,2]}'))).toEqual({ max: 5, waitMs: 1000, visibilityTimeoutMs: 2000, partitions: [0, 2] });
    expect(() => parsePop(parseBody('{"wait_ms":60000}'))).toThrow(/wait_ms/);
    expect(() => parsePop(parseBody('{"partitions":[-1]}'))).toThrow(/partitions\[0\]/);
    expect(parseLease({ lease_token: '3-17.2.abcdef' })).toEqual({ messageId: '3-17', leaseToken: '3-17.2.abcdef' });
    expect(() => parseLease({ lease_token: 'garbage' })).toThrow(/lease token/);
    expect(() => parseLease({})).toThrow(/lease_token is required/);
  });

  it('bodies must be JSON objects (an empty body is {})', () => {
    expect(parseBody('')).toEqual({});
    expect(() => parseBody('[1]')).toThrow(/object/);
    expect(() => parseBody('{')).toThrow(/invalid JSON/);
  });

  it('payloads come out as base64, and as text when they are UTF-8', () => {
    expect(payloadJson(Buffer.from('hi'))).toEqual({ payload: 'hi', payload_base64: 'aGk=' });
    expect(payloadJson(Buffer.from([0xff, 0xfe]))).toEqual({ payload_base64: '//4=' });
  });
});

describe('routing', () => {
  it('maps methods and paths to routes', () => {
    expect(matchRoute('GET', '/v1/topics')).toMatchObject({ name: 'list' });
    expect(matchRoute('POST', '/v1/topics/')).toMatchObject({ name: 'create' });
    expect(matchRoute('DELETE', '/v1/topics/a.b')).toMatchObject({ name: 'delete', topic: 'a.b' });
    expect(matchRoute('POST', '/v1/topics/t/messages:batch')).toMatchObject({ name: 'batch', topic: 't' });
    expect(matchRoute('POST', '/v1/topics/t/messages%3Abatch')).toMatchObject({ name: 'batch' });
    expect(matchRoute('GET', '/v1/topics/t/partitions/2/log')).toMatchObject({ name: 'log', partition: 2 });
    expect(matchRoute('PUT', '/v1/topics/t/partitions/0/offsets/g%201')).toMatchObject({ name: 'commitOffset', partition: 0, group: 'g 1' });
    expect(matchRoute('GET', '/v1/topics/t/pop')).toEqual({ error: 405, allow: ['POST'] });
    expect(matchRoute('GET', '/v1/topics/t/nope')).toEqual({ error: 404, allow: [] });
    expect(matchRoute('GET', '/v1/topics/t/partitions/x/log')).toEqual({ error: 404, allow: [] });
    expect(matchRoute('GET', '/db/query')).toBeNull();
    expect(matchRoute('GET', '/v1/topicsx')).toBeNull();
  });

  it('maps errors to HTTP statuses', () => {
    const cases: Array<[unknown, number, string]> = [
      [new TopicError('INVALID_ARGUMENT', 'x'), 400, 'INVALID_ARGUMENT'],
      [new TopicError('NOT_FOUND', 'x'), 404, 'NOT_FOUND'],
      [new TopicError('ALREADY_EXISTS', 'x'), 409, 'ALREADY_EXISTS'],
      [new TopicError('FAILED_PRECONDITION', 'x'), 409, 'FAILED_PRECONDITION'],
      [new TopicError('ABORTED', 'x'), 409, 'ABORTED'],
      [new TopicError('OUT_OF_RANGE', 'x'), 416, 'OUT_OF_RANGE'],
      [new TopicError('UNAVAILABLE', 'x'), 503, 'UNAVAILABLE'],
      [new TopicError('DEADLINE_EXCEEDED', 'x'), 504, 'DEADLINE_EXCEEDED'],
      [new NodeError('NOT_FOUND', 'no topic'), 404, 'NOT_FOUND'],
      [new NodeError('TIMEOUT', 'slow'), 504, 'DEADLINE_EXCEEDED'],
      [new NodeError('NOT_LEADER', 'elsewhere'), 503, 'UNAVAILABLE'],
      [new Error('bug'), 500, 'INTERNAL'],
    ];
    for (const [err, status, code] of cases) expect(errorResponse(err)).toMatchObject({ status, code });
  });
});

// ----- the handler over HTTP, with a fake TopicApi ---------------------------------------------

const topicRecord: TopicRecord = {
  name: 'jobs',
  heapId: 'jobs#1',
  settings: { replicationFactor: 3, topKBound: 64, compressionEnabled: false },
  config: {
    mode: 'min',
    visibilityTimeoutMs: 30_000,
    maxRetries: 3,
    retentionMs: FOREVER_MS,
    dlq: { enabled: true, retentionMs: FOREVER_MS },
    maxPayloadBytes: 4 << 20,
    dedupWindowMs: 3_600_000,
    backoff: { baseMs: 1000, maxMs: 60_000 },
  } as unknown as TopicRecord['config'],
  configVersion: 1,
  partitions: [{ index: 0, groupId: 1, replicas: ['a', 'b', 'c'] }],
  createdAt: 0,
  updatedAt: 0,
};

const enqueued: EnqueueRequest[] = [];
let popSignal: AbortSignal | undefined;
const fakeApi = {
  requestTimeoutMs: 1000,
  runtime: {
    topic: (name: string) => (name === 'jobs' ? Promise.resolve(topicRecord) : Promise.reject(new NodeError('NOT_FOUND', `no topic "${name}"`))),
    leaderOf: () => 'a',
  },
  makeHeap: (a: { topic: string }) => (a.topic === 'jobs' ? Promise.reject(new TopicError('ALREADY_EXISTS', 'topic "jobs" already exists')) : Promise.resolve({ ...topicRecord, name: a.topic })),
  listHeaps: () => Promise.resolve({ topics: [topicRecord], nextPageToken: '' }),
  deleteHeap: (t: string, c: string) => (c === t ? Promise.resolve() : Promise.reject(new TopicError('FAILED_PRECONDITION', 'confirm'))),
  enqueue: (r: EnqueueRequest) => {
    enqueued.push(r);
    return Promise.resolve({ messageId: '0-1', duplicate: false, partition: 0 });
  },
  pop: (_t: string, _p: number[], max: number, _v: unknown, _c: string, _w: number, signal?: AbortSignal) => {
    popSignal = signal;
    const item: PoppedItem = {
      topic: 'jobs',
      partition: 0,
      messageId: '0-1',
      payload: Buffer.from('hi'),
      priority: 9223372036854775807n,
      enqueuedAt: 1_000,
      attempts: 1,
      leaseToken: '0-1.1.ab',
      leaseDeadline: 31_000,
      maxRetries: 3,
      producer: null,
    };
    return Promise.resolve(Array.from({ length: max }, () => item));
  },
  ack: (_t: string, _m: string, tok: string) => (tok === '0-1.1.ab' ? Promise.resolve() : Promise.reject(new TopicError('FAILED_PRECONDITION', 'the lease expired'))),
  read: () => Promise.reject(new TopicError('OUT_OF_RANGE', 'offset 100 is past the end of the log')),
  fetchOffset: () => Promise.resolve(null),
} as unknown as TopicApi;

let server: Server;
let base: string;

beforeAll(async () => {
  const route = topicHttpHandler(fakeApi, { logger: pino({ level: 'silent' }), maxBodyBytes: 1024 });
  server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (!route(req, res, path)) {
      res.writeHead(404);
      res.end('not the gateway');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('the gateway over HTTP (fake TopicApi)', () => {
  it('enqueues with an exact int64 priority and answers 201', async () => {
    const r = await call('POST', '/v1/topics/jobs/messages', '{"payload":"x","priority":9223372036854775807}');
    expect(r).toEqual({ status: 201, json: { message_id: '0-1', duplicate: false, partition: 0 } });
    expect(enqueued.at(-1)?.priority).toBe(9223372036854775807n);
  });

  it('pops: priorities as decimal strings, times as ISO strings', async () => {
    const r = await call('POST', '/v1/topics/jobs/pop', { max: 2 });
    expect(r.status).toBe(200);
    const ms = r.json.messages as Array<Record<string, unknown>>;
    expect(ms).toHaveLength(2);
    expect(ms[0]).toMatchObject({ message_id: '0-1', priority: '9223372036854775807', payload: 'hi', payload_base64: 'aGk=', lease_token: '0-1.1.ab', lease_deadline: '1970-01-01T00:00:31.000Z' });
    expect(popSignal).toBeInstanceOf(AbortSignal);
  });

  it('answers errors as {error: {code, message}} with the mapped status', async () => {
    expect(await call('POST', '/v1/topics', { topic: 'jobs' })).toEqual({ status: 409, json: { error: { code: 'ALREADY_EXISTS', message: 'topic "jobs" already exists' } } });
    expect((await call('GET', '/v1/topics/nope')).status).toBe(404);
    expect((await call('POST', '/v1/topics/jobs/ack', { lease_token: '0-1.1.cd' })).status).toBe(409);
    expect((await call('POST', '/v1/topics/jobs/ack', { lease_token: '0-1.1.ab' })).status).toBe(200);
    expect((await call('GET', '/v1/topics/jobs/partitions/0/log?from=100')).status).toBe(416);
    expect((await call('GET', '/v1/topics/jobs/partitions/0/log?from=x')).json).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    expect((await call('DELETE', '/v1/topics/jobs')).status).toBe(400);
    expect((await call('DELETE', '/v1/topics/jobs?confirm=jobs')).status).toBe(200);
    expect((await call('POST', '/v1/topics/jobs/messages', '{"payload":')).json).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    const r405 = await fetch(`${base}/v1/topics/jobs/stats`, { method: 'POST' });
    expect(r405.status).toBe(405);
    expect(r405.headers.get('allow')).toBe('GET');
    expect((await call('GET', '/v1/topics/jobs/bogus')).status).toBe(404);
  });

  it('refuses a body over the limit with 413', async () => {
    const r = await call('POST', '/v1/topics/jobs/messages', { payload: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('describes and lists topics', async () => {
    const d = await call('GET', '/v1/topics/jobs');
    expect(d.json).toMatchObject({ topic: 'jobs', mode: 'min', partitions: 1, retention_ms: null, dlq: { enabled: true, retention_ms: null }, placement: [{ partition: 0, leader: 'a' }] });
    const l = await call('GET', '/v1/topics');
    expect(l.json).toMatchObject({ topics: [{ topic: 'jobs' }], next_page_token: '' });
    expect((await call('GET', '/v1/topics/jobs/partitions/0/offsets/g')).json).toEqual({ group: 'g', offset: null });
  });

  it('leaves other paths to the rest of the server', async () => {
    const res = await fetch(`${base}/db/query`);
    expect(await res.text()).toBe('not the gateway');
  });
});

/**
 * The HTTP/JSON gateway of priority topics, on a topic node's HTTP port beside /readyz and
 * /metrics. It calls the same TopicApi as the gRPC services, so it forwards to partition
 * leaders the same way and any node answers any request.
 *
 *   GET    /v1/topics                                   list (?page_size, ?page_token)
 *   POST   /v1/topics                                   create: {topic, mode, partitions, replication_factor, ...}
 *   GET    /v1/topics/{t}                               settings, placement and stats
 *   PATCH  /v1/topics/{t}                               change settings
 *   DELETE /v1/topics/{t}?confirm={t}                   delete (and every message)
 *   POST   /v1/topics/{t}/messages                      enqueue one
 *   POST   /v1/topics/{t}/messages:batch                enqueue several: {messages: [...], atomic, transaction_id}
 *   POST   /v1/topics/{t}/pop                           lease: {max, wait_ms, visibility_timeout_ms, partitions}
 *   POST   /v1/topics/{t}/ack | nack | extend           {message_id, lease_token, ...}
 *   POST   /v1/topics/{t}/dlq                           move a message to the DLQ: {message_id, reason}
 *   GET    /v1/topics/{t}/peek                          ?limit, ?partition, ?include_dlq
 *   GET    /v1/topics/{t}/stats                         ?partition
 *   POST   /v1/topics/{t}/purge?confirm={t}             ?partition
 *   GET    /v1/topics/{t}/partitions/{p}/log            ?from, ?limit (replay the log)
 *   PUT    /v1/topics/{t}/partitions/{p}/offsets/{g}    {offset}
 *   GET    /v1/topics/{t}/partitions/{p}/offsets/{g}
 *
 * JSON in: integers are parsed exactly (a priority may be a JSON integer or a decimal string;
 * int64 beyond 2^53 are not rounded); a payload is `payload` (a UTF-8 string) or
 * `payload_base64`. JSON out: priorities are decimal strings, payloads come as `payload_base64`
 * and, when the bytes are valid UTF-8, also as `payload`; times are ISO-8601 strings. Durations
 * are integer milliseconds (`*_ms`).
 *
 * Errors: `{"error": {"code": "NOT_FOUND", "message": "..."}}` with the gRPC status name as code
 * and the HTTP status: INVALID_ARGUMENT 400, NOT_FOUND 404, ALREADY_EXISTS 409,
 * FAILED_PRECONDITION 409, ABORTED 409, OUT_OF_RANGE 416, RESOURCE_EXHAUSTED 429,
 * UNAVAILABLE 503 (with Retry-After; nothing was applied unless the message says it timed out),
 * DEADLINE_EXCEEDED 504 (a write may or may not have been applied); a body over the limit is
 * 413 PAYLOAD_TOO_LARGE, an unknown path 404, a wrong method 405.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { NodeError } from '../node/index.js';
import { HttpError, flag, parseJson, readBody } from '../sql/http-api.js';
import type { HttpRoute, JsonValue } from '../sql/http-api.js';
import type { TopicRecord } from './catalog-state.js';
import { FOREVER_MS, TopicError, messageIdOfToken, toTopicError } from './topic-api.js';
import type { EnqueueRequest, MakeHeapArgs, PartitionReport, PeekOutcome, PoppedItem, TopicApi, TopicErrorCode, UpdateHeapArgs } from './topic-api.js';

export interface TopicHttpOptions {
  readonly logger: Logger;
  /** Largest request body (default 8 MiB). */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 8 << 20;
const JSON_TYPE = 'application/json; charset=utf-8';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A request refused by the gateway itself, with its HTTP status and error code. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

const bad = (message: string): GatewayError => new GatewayError(400, 'INVALID_ARGUMENT', message);

export const HTTP_STATUS: Readonly<Record<TopicErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  ABORTED: 409,
  OUT_OF_RANGE: 416,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

const HTTP_ERROR_CODE: Readonly<Record<number, string>> = { 400: 'INVALID_ARGUMENT', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

/** The HTTP status and error body of a failure (status 500 and `internal` for the unexpected). */
export function errorResponse(err: unknown): { status: number; code: string; message: string; internal: boolean } {
  if (err instanceof GatewayError) return { status: err.status, code: err.code, message: err.message, internal: false };
  if (err instanceof HttpError) return { status: err.status, code: HTTP_ERROR_CODE[err.status] ?? 'INVALID_ARGUMENT', message: err.message, internal: false };
  if (err instanceof TopicError) return { status: HTTP_STATUS[err.code], code: err.code, message: err.message, internal: false };
  if (err instanceof NodeError) {
    const e = toTopicError(err);
    return { status: HTTP_STATUS[e.code], code: e.code, message: e.message, internal: false };
  }
  return { status: 500, code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), internal: true };
}

// ----- JSON in: field readers (pure) ----------------------------------------------------------

export type JsonObject = { [key: string]: JsonValue };

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v !== 'bigint';

/** Parses a request body: an empty one is `{}`; anything but a JSON object is refused. */
export function parseBody(text: string): JsonObject {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (t.trim() === '') return {};
  const v = parseJson(t);
  if (!isObject(v)) throw bad('the body must be a JSON object');
  return v;
}

/** Refuses fields the route does not know (a typo should not be silently ignored). */
function only(body: JsonObject, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (expected ${allowed.join(', ')})`);
}

function present(body: JsonObject, key: string): boolean {
  return Object.hasOwn(body, key) && body[key] !== null;
}

/** An integer field (a JSON integer, or a string of digits) in [min, max]; `def` when absent. */
export function intField(body: JsonObject, key: string, min: number, max: number): number | undefined {
  if (!present(body, key)) return undefined;
  const v = body[key];
  let n: number;
  if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = Number(v);
  else throw bad(`${key} must be an integer`);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw bad(`${key} must be an integer in [${min}, ${max}]`);
  return n;
}

function strField(body: JsonObject, key: string): string | undefined {
  if (!present(body, key)) return undefined;
  const v = body[key];
  if (typeof v !== 'string') throw bad(`${key} must be a string`);
  return v;
}

function boolField(body: JsonObject, key: string): boolean | undefined {
  if (!present(body, key)) return undefined;
  const v = body[key];
  if (typeof v !== 'boolean') throw bad(`${key} must be true or false`);
  return v;
}

function required<T>(v: T | undefined, key: string): T {
  if (v === undefined) throw bad(`${key} is required`);
  return v;
}

/** An int64 priority: a JSON integer (exact) or a decimal string; absent is 0. */
export function parsePriority(v: JsonValue | undefined): bigint {
  if (v === undefined || v === null) return 0n;
  let p: bigint;
  if (typeof v === 'bigint') p = v;
  else if (typeof v === 'string' && /^[+-]?\d+$/.test(v.trim())) p = BigInt(v.trim());
  else throw bad('priority must be an integer (a JSON integer or a decimal string; use a string to be safe beyond 2^53 in your JSON library)');
  if (p < INT64_MIN || p > INT64_MAX) throw bad(`priority ${p} does not fit in int64 [${INT64_MIN}, ${INT64_MAX}]`);
  return p;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The payload: `payload` (UTF-8 text) or `payload_base64`, exactly one. */
export function parsePayload(body: JsonObject): Uint8Array {
  const text = body.payload;
  const b64 = body.payload_base64;
  if (text !== undefined && b64 !== undefined) throw bad('give payload (UTF-8 text) or payload_base64, not both');
  if (b64 !== undefined) {
    if (typeof b64 !== 'string' || !(BASE64.test(b64) || BASE64URL.test(b64))) throw bad('payload_base64 must be a base64 string');
    return Buffer.from(b64, BASE64.test(b64) ? 'base64' : 'base64url');
  }
  if (text === undefined) throw bad('payload (UTF-8 text) or payload_base64 is required');
  if (typeof text !== 'string') throw bad('payload must be a string (for bytes, use payload_base64)');
  return Buffer.from(text, 'utf8');
}

const ENQUEUE_FIELDS = ['payload', 'payload_base64', 'priority', 'partition_key', 'producer_id', 'epoch', 'sequence', 'max_retries', 'not_before_ms'] as const;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** An EnqueueRequest from a message body. */
export function parseEnqueue(topic: string, body: JsonObject): EnqueueRequest {
  only(body, ENQUEUE_FIELDS);
  const payload = parsePayload(body);
  const priority = parsePriority(body.priority);
  const partitionKey = strField(body, 'partition_key');
  const producerId = strField(body, 'producer_id');
  const epoch = intField(body, 'epoch', 0, MAX_SAFE);
  const sequence = intField(body, 'sequence', 0, MAX_SAFE);
  const set = [producerId, epoch, sequence].filter((v) => v !== undefined).length;
  if (set !== 0 && set !== 3) throw bad('producer_id, epoch and sequence must be given together, or none of them');
  const maxRetries = intField(body, 'max_retries', 0, 1_000_000);
  const notBeforeMs = intField(body, 'not_before_ms', 0, MAX_SAFE);
  return {
    topic,
    payload,
    priority,
    ...(partitionKey === undefined ? {} : { partitionKey }),
    ...(set === 3 ? { producer: { id: producerId as string, epoch: epoch as number, sequence: sequence as number } } : {}),
    ...(maxRetries === undefined ? {} : { maxRetries }),
    ...(notBeforeMs === undefined ? {} : { notBeforeMs }),
  };
}

/** The messages of a batch, and its transaction id (undefined: not atomic; '': atomic, the server picks one). */
export function parseBatch(topic: string, body: JsonObject): { requests: EnqueueRequest[]; transactionId: string | undefined } {
  only(body, ['messages', 'atomic', 'transaction_id']);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages must be a non-empty array of messages');
  const requests = messages.map((m, i) => {
    if (!isObject(m)) throw bad(`messages[${i}] must be an object`);
    try {
      return parseEnqueue(topic, m);
    } catch (err) {
      if (err instanceof GatewayError) throw bad(`messages[${i}]: ${err.message}`);
      throw err;
    }
  });
  const txn = strField(body, 'transaction_id');
  const atomic = boolField(body, 'atomic');
  if (atomic === false && txn !== undefined) throw bad('a transaction_id makes the batch atomic: drop "atomic": false');
  return { requests, transactionId: txn ?? (atomic === true ? '' : undefined) };
}

function dlqField(body: JsonObject): { enabled: boolean; retentionMs: number | null } | undefined {
  if (!Object.hasOwn(body, 'dlq')) return undefined;
  const v = body.dlq;
  if (typeof v === 'boolean') return { enabled: v, retentionMs: null };
  if (!isObject(v)) throw bad('dlq must be true, false or {"enabled": bool, "retention_ms": n}');
  only(v, ['enabled', 'retention_ms']);
  return { enabled: boolField(v, 'enabled') ?? true, retentionMs: intField(v, 'retention_ms', 0, FOREVER_MS) ?? null };
}

function modeField(body: JsonObject): 'min' | 'max' {
  const m = strField(body, 'mode');
  if (m === undefined) return 'min';
  const l = m.toLowerCase();
  if (l !== 'min' && l !== 'max') throw bad('mode must be "min" or "max"');
  return l;
}

const TOPIC_SETTINGS = ['retention_ms', 'visibility_timeout_ms', 'max_retries', 'max_payload_bytes', 'compression_enabled', 'dlq'] as const;

/** MakeHeapArgs from a create body (`topic`, or `name`). */
export function parseCreate(body: JsonObject): MakeHeapArgs {
  only(body, ['topic', 'name', 'mode', 'partitions', 'replication_factor', 'top_k_bound', ...TOPIC_SETTINGS]);
  const topic = strField(body, 'topic') ?? strField(body, 'name');
  if (topic === undefined) throw bad('topic is required');
  const dlq = dlqField(body);
  return {
    topic,
    mode: modeField(body),
    partitions: intField(body, 'partitions', 1, 1_000_000) ?? 1,
    replicationFactor: intField(body, 'replication_factor', 1, 1_000) ?? 0,
    topKBound: intField(body, 'top_k_bound', 1, 1_000_000) ?? 0,
    retentionMs: intField(body, 'retention_ms', 0, FOREVER_MS) ?? null,
    visibilityTimeoutMs: intField(body, 'visibility_timeout_ms', 1, MAX_SAFE) ?? null,
    maxRetries: intField(body, 'max_retries', 0, 1_000_000) ?? null,
    maxPayloadBytes: intField(body, 'max_payload_bytes', 0, MAX_SAFE) ?? null,
    compressionEnabled: boolField(body, 'compression_enabled') ?? false,
    dlq: dlq ?? null,
  };
}

/** UpdateHeapArgs from a PATCH body: only the fields given change (`retention_ms: null` is forever). */
export function parseUpdate(topic: string, body: JsonObject): UpdateHeapArgs {
  only(body, TOPIC_SETTINGS);
  if (Object.keys(body).length === 0) throw bad(`nothing to change: give one of ${TOPIC_SETTINGS.join(', ')}`);
  const vis = intField(body, 'visibility_timeout_ms', 1, MAX_SAFE);
  const maxRetries = intField(body, 'max_retries', 0, 1_000_000);
  const maxPayload = intField(body, 'max_payload_bytes', 0, MAX_SAFE);
  const compression = boolField(body, 'compression_enabled');
  const dlq = dlqField(body);
  return {
    topic,
    ...(Object.hasOwn(body, 'retention_ms') ? { retentionMs: intField(body, 'retention_ms', 0, FOREVER_MS) ?? null } : {}),
    ...(vis === undefined ? {} : { visibilityTimeoutMs: vis }),
    ...(maxRetries === undefined ? {} : { maxRetries }),
    ...(maxPayload === undefined ? {} : { maxPayloadBytes: maxPayload }),
    ...(compression === undefined ? {} : { compressionEnabled: compression }),
    ...(dlq === undefined ? {} : { dlq }),
  };
}

export interface PopArgs {
  readonly max: number;
  readonly waitMs: number;
  readonly visibilityTimeoutMs: number | undefined;
  readonly partitions: number[];
}

export function parsePop(body: JsonObject): PopArgs {
  only(body, ['max', 'wait_ms', 'visibility_timeout_ms', 'partitions']);
  const parts = body.partitions;
  let partitions: number[] = [];
  if (parts !== undefined && parts !== null) {
    if (!Array.isArray(parts)) throw bad('partitions must be an array of partition numbers');
    partitions = parts.map((p, i) => intField({ [`partitions[${i}]`]: p }, `partitions[${i}]`, 0, 1_000_000) as number);
  }
  return {
    max: intField(body, 'max', 1, 1000) ?? 1,
    waitMs: intField(body, 'wait_ms', 0, 30_000) ?? 0,
    visibilityTimeoutMs: intField(body, 'visibility_timeout_ms', 1, MAX_SAFE),
    partitions,
  };
}

/** {message_id, lease_token}: message_id may be left out (the token names its message). */
export function parseLease(body: JsonObject, extra: readonly string[] = []): { messageId: string; leaseToken: string } {
  only(body, ['message_id', 'lease_token', ...extra]);
  const leaseToken = required(strField(body, 'lease_token'), 'lease_token');
  const messageId = strField(body, 'message_id') ?? messageIdOfToken(leaseToken);
  if (messageId === null) throw bad('lease_token is not a lease token of this server');
  return { messageId, leaseToken };
}

/** A query parameter as an integer in [min, max], or undefined when absent. */
export function intParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = params.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw bad(`${name} must be an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw bad(`${name} must be an integer in [${min}, ${max}]`);
  return n;
}

// ----- routing (pure) -------------------------------------------------------------------------

export type RouteName =
  | 'list'
  | 'create'
  | 'describe'
  | 'update'
  | 'delete'
  | 'enqueue'
  | 'batch'
  | 'pop'
  | 'ack'
  | 'nack'
  | 'extend'
  | 'dlq'
  | 'peek'
  | 'stats'
  | 'purge'
  | 'log'
  | 'commitOffset'
  | 'fetchOffset';

export type RouteMatch =
  | { readonly name: RouteName; readonly topic: string; readonly partition: number | undefined; readonly group: string | undefined }
  | { readonly error: 404 | 405; readonly allow: readonly string[] };

const ACTIONS: Record<string, { method: string; name: RouteName }> = {
  messages: { method: 'POST', name: 'enqueue' },
  'messages:batch': { method: 'POST', name: 'batch' },
  pop: { method: 'POST', name: 'pop' },
  ack: { method: 'POST', name: 'ack' },
  nack: { method: 'POST', name: 'nack' },
  extend: { method: 'POST', name: 'extend' },
  dlq: { method: 'POST', name: 'dlq' },
  purge: { method: 'POST', name: 'purge' },
  peek: { method: 'GET', name: 'peek' },
  stats: { method: 'GET', name: 'stats' },
};

/** Which route `method path` is; null when the path is not the gateway's (not under /v1/topics). */
export function matchRoute(method: string, path: string): RouteMatch | null {
  if (path !== '/v1/topics' && !path.startsWith('/v1/topics/')) return null;
  let segs: string[];
  try {
    segs = path.split('/').slice(3).map(decodeURIComponent);
  } catch {
    return { error: 404, allow: [] };
  }
  if (segs.length > 0 && segs[segs.length - 1] === '') segs.pop(); // a trailing slash
  const m = method === 'HEAD' ? 'GET' : method;
  const pick = (table: Record<string, RouteName>, topic = '', partition?: number, group?: string): RouteMatch => {
    const name = table[m];
    return name === undefined ? { error: 405, allow: Object.keys(table) } : { name, topic, partition, group };
  };
  const [topic, action, p, sub, group, ...rest] = segs;
  if (topic === undefined) return pick({ GET: 'list', POST: 'create' });
  if (topic === '') return { error: 404, allow: [] };
  if (action === undefined) return pick({ GET: 'describe', PATCH: 'update', DELETE: 'delete' }, topic);
  const a = ACTIONS[action];
  if (a !== undefined && p === undefined) return pick({ [a.method]: a.name }, topic);
  if (action !== 'partitions' || p === undefined || !/^\d+$/.test(p)) return { error: 404, allow: [] };
  const partition = Number(p);
  if (sub === 'log' && group === undefined) return pick({ GET: 'log' }, topic, partition);
  if (sub === 'offsets' && group !== undefined && group !== '' && rest.length === 0) return pick({ GET: 'fetchOffset', PUT: 'commitOffset' }, topic, partition, group);
  return { error: 404, allow: [] };
}

// ----- JSON out (pure) ------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `payload` (when the bytes are UTF-8 text) and `payload_base64` (always). */
export function payloadJson(p: Uint8Array): { payload?: string; payload_base64: string } {
  const buf = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  let text: string | undefined;
  try {
    text = utf8.decode(buf);
  } catch {
    text = undefined;
  }
  return { ...(text === undefined ? {} : { payload: text }), payload_base64: buf.toString('base64') };
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const forever = (ms: number): number | null => (ms >= FOREVER_MS ? null : ms);

export function messageJson(m: PoppedItem): Record<string, unknown> {
  return {
    message_id: m.messageId,
    topic: m.topic,
    partition: m.partition,
    priority: m.priority.toString(),
    ...payloadJson(m.payload),
    enqueued_at: iso(m.enqueuedAt),
    lease_token: m.leaseToken,
    lease_deadline: iso(m.leaseDeadline),
    attempts: m.attempts,
    max_retries: m.maxRetries,
    producer: m.producer === null ? null : { id: m.producer.id, epoch: m.producer.epoch, sequence: m.producer.sequence },
  };
}

export function peekJson(topic: string, out: PeekOutcome): Record<string, unknown> {
  return {
    messages: out.items.map((m) => ({
      message_id: m.messageId,
      topic,
      partition: m.partition,
      priority: m.priority.toString(),
      ...payloadJson(m.payload),
      enqueued_at: iso(m.enqueuedAt),
      attempts: m.attempts,
      max_retries: m.maxRetries,
      is_leased: m.isLeased,
      lease_deadline: iso(m.leaseDeadline),
      in_dlq: m.inDlq,
      ...(m.lastReason === null || m.lastReason === undefined ? {} : { last_reason: m.lastReason }),
    })),
    has_more: out.hasMore,
  };
}

export function topicJson(t: TopicRecord): Record<string, unknown> {
  const c = t.config;
  return {
    topic: t.name,
    heap_id: t.heapId,
    mode: c.mode,
    partitions: t.partitions.length,
    replication_factor: t.settings.replicationFactor,
    top_k_bound: t.settings.topKBound,
    retention_ms: forever(c.retentionMs),
    visibility_timeout_ms: c.visibilityTimeoutMs,
    max_retries: c.maxRetries,
    max_payload_bytes: c.maxPayloadBytes,
    compression_enabled: t.settings.compressionEnabled,
    dlq: { enabled: c.dlq.enabled, retention_ms: forever(c.dlq.retentionMs) },
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
  };
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A topic's stats: totals over the partitions asked for, and each partition's numbers. */
export function statsJson(topic: string, reports: readonly PartitionReport[]): Record<string, unknown> {
  const sum = (f: (r: PartitionReport) => number): number => reports.reduce((a, r) => a + f(r), 0);
  return {
    topic,
    messages: sum((r) => r.stats.ready + r.stats.leased + r.stats.delayed),
    ready: sum((r) => r.stats.ready),
    inflight: sum((r) => r.stats.leased),
    delayed: sum((r) => r.stats.delayed),
    dlq: sum((r) => r.stats.dlq),
    enqueued_total: sum((r) => r.stats.enqueuedTotal),
    acked_total: sum((r) => r.stats.ackedTotal),
    dead_lettered_total: sum((r) => r.stats.deadLetteredTotal),
    expired_total: sum((r) => r.stats.expiredTotal),
    partitions: reports.map((r) => ({
      partition: r.partition,
      leader: r.leader,
      replicas: r.replicas,
      healthy: r.healthy,
      ...Object.fromEntries(Object.entries(r.stats).map(([k, v]) => [snake(k), v as unknown])),
    })),
  };
}

/** JSON text with bigints as decimal strings (exact). */
export function toJsonText(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

// ----- the handler ----------------------------------------------------------------------------

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.end();
    return;
  }
  const text = `${toJsonText(body)}\n`;
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** The gateway's routes for the engine's HTTP server (`extraRoutes`). */
export function topicHttpHandler(api: TopicApi, options: TopicHttpOptions): HttpRoute {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const body = async (req: IncomingMessage): Promise<JsonObject> => parseBody((await readBody(req, maxBody)).toString('utf8'));
  const confirm = (params: URLSearchParams, topic: string): string => {
    const c = params.get('confirm');
    if (c === null) throw bad(`add ?confirm=${encodeURIComponent(topic)} (the topic's name) to confirm`);
    return c;
  };

  const run = async (r: Extract<RouteMatch, { name: RouteName }>, req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> => {
    const t = r.topic;
    switch (r.name) {
      case 'list': {
        const page = await api.listHeaps(intParam(params, 'page_size', 0, 1000) ?? 0, params.get('page_token') ?? '');
        return send(res, 200, { topics: page.topics.map(topicJson), next_page_token: page.nextPageToken });
      }
      case 'create': {
        const rec = await api.makeHeap(parseCreate(await body(req)));
        return send(res, 201, topicJson(rec), { location: `/v1/topics/${encodeURIComponent(rec.name)}` });
      }
      case 'describe': {
        const rec = await api.runtime.topic(t, api.requestTimeoutMs);
        const placement = rec.partitions.map((p) => ({ partition: p.index, group_id: p.groupId, replicas: p.replicas, leader: api.runtime.leaderOf(p.groupId) }));
        return send(res, 200, { ...topicJson(rec), placement });
      }
      case 'update':
        return send(res, 200, topicJson(await api.updateHeap(parseUpdate(t, await body(req)))));
      case 'delete':
        await api.deleteHeap(t, confirm(params, t));
        return send(res, 200, { deleted: t });
      case 'enqueue': {
        const o = await api.enqueue(parseEnqueue(t, await body(req)));
        return send(res, 201, { message_id: o.messageId, duplicate: o.duplicate, partition: o.partition });
      }
      case 'batch': {
        const b = parseBatch(t, await body(req));
        const out = await api.enqueueBatch(b.requests, b.transactionId);
        return send(res, 201, {
          results: out.responses.map((o) => ({ message_id: o.messageId, duplicate: o.duplicate, partition: o.partition })),
          transaction_id: out.transactionId,
          all_duplicates: out.responses.every((o) => o.duplicate),
        });
      }
      case 'pop': {
        const p = parsePop(await body(req));
        // A client that goes away stops the wait (what was leased already comes back later).
        const abort = new AbortController();
        const onClose = (): void => abort.abort();
        res.once('close', onClose);
        try {
          const items = await api.pop(t, p.partitions, p.max, p.visibilityTimeoutMs, `http-${randomUUID()}`, p.waitMs, abort.signal);
          return send(res, 200, { messages: items.map(messageJson) });
        } finally {
          res.off('close', onClose);
        }
      }
      case 'ack': {
        const l = parseLease(await body(req));
        await api.ack(t, l.messageId, l.leaseToken);
        return send(res, 200, {});
      }
      case 'nack': {
        const b = await body(req);
        const l = parseLease(b, ['backoff_ms', 'reason']);
        await api.nack(t, l.messageId, l.leaseToken, intField(b, 'backoff_ms', 0, MAX_SAFE), strField(b, 'reason'));
        return send(res, 200, {});
      }
      case 'extend': {
        const b = await body(req);
        const l = parseLease(b, ['extension_ms']);
        const deadline = await api.extend(t, l.leaseToken, required(intField(b, 'extension_ms', 1, MAX_SAFE), 'extension_ms'));
        return send(res, 200, { lease_deadline: iso(deadline) });
      }
      case 'dlq': {
        const b = await body(req);
        only(b, ['message_id', 'reason']);
        await api.moveToDlq(t, required(strField(b, 'message_id'), 'message_id'), strField(b, 'reason'));
        return send(res, 200, {});
      }
      case 'peek': {
        const out = await api.peek(t, intParam(params, 'partition', 0, 1_000_000), intParam(params, 'limit', 1, 1000) ?? 10, flag(params, 'include_dlq'));
        return send(res, 200, peekJson(t, out));
      }
      case 'stats':
        return send(res, 200, statsJson(t, await api.partitionReports(t, intParam(params, 'partition', 0, 1_000_000))));
      case 'purge':
        await api.purge(t, confirm(params, t), intParam(params, 'partition', 0, 1_000_000));
        return send(res, 200, { purged: t });
      case 'log': {
        const out = await api.read(t, r.partition as number, intParam(params, 'from', 0, MAX_SAFE) ?? 0, intParam(params, 'limit', 0, 1000) ?? 0);
        return send(res, 200, {
          records: out.records.map((x) => ({ offset: x.offset, message_id: x.messageId, priority: x.priority.toString(), ...payloadJson(x.payload), enqueued_at: iso(x.enqueuedAt) })),
          next_offset: out.nextOffset,
        });
      }
      case 'commitOffset': {
        const b = await body(req);
        only(b, ['offset']);
        await api.commitOffset(r.group as string, t, r.partition as number, required(intField(b, 'offset', 0, MAX_SAFE), 'offset'));
        return send(res, 200, {});
      }
      case 'fetchOffset':
        return send(res, 200, { group: r.group, offset: await api.fetchOffset(r.group as string, t, r.partition as number) });
      default: {
        const never: never = r.name;
        return never;
      }
    }
  };

  return (req, res, path) => {
    const method = req.method ?? 'GET';
    const r = matchRoute(method, path);
    if (r === null) return false;
    if ('error' in r) {
      const message = r.error === 404 ? `no such resource: ${path} (see /v1/topics)` : `${method} is not allowed on ${path}: use ${r.allow.join(' or ')}`;
      send(res, r.error, { error: { code: r.error === 404 ? 'NOT_FOUND' : 'METHOD_NOT_ALLOWED', message } }, r.error === 405 ? { allow: r.allow.join(', ') } : {});
      req.resume();
      return true;
    }
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    run(r, req, res, params).catch((err: unknown) => {
      const e = errorResponse(err);
      if (e.internal) options.logger.error({ err, path }, 'unexpected error in a topic HTTP request');
      const headers: Record<string, string> = {};
      if (e.status === 503) headers['retry-after'] = '1';
      if (e.status === 413) headers.connection = 'close';
      let sent = false;
      const respond = (): void => {
        if (sent) return;
        sent = true;
        send(res, e.status, { error: { code: e.code, message: e.message } }, headers);
      };
      if (req.complete) return respond();
      // Drop the rest of a body we refused, without keeping it. Answer once it is read (for at
      // most 5 s): closing while the client still writes makes it fail with EPIPE before it
      // reads our answer.
      req.resume();
      const timer = setTimeout(respond, 5_000);
      req.once('end', () => {
        clearTimeout(timer);
        respond();
      });
      req.once('error', respond);
    });
    return true;
  };
}

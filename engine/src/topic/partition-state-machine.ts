/**
 * One topic partition as a Raft state machine: commands are JSON documents with a `type` field
 * (bigint priorities as decimal strings, payloads as base64; a prepare's items are enqueues'
 * JSON forms without their `type`), applied to a `PartitionState` with the entry's time and a
 * seed from its (index, term). Results are the state's result objects (payloads as bytes,
 * priorities as bigints), handed to the proposer in-process.
 */
import type { AppliedCommand, StateMachine } from '../node/state-machine.js';
import type { EnqueueArgs, PartitionCommand, PartitionConfig, PartitionConfigPatch, PartitionResult, Failure, ProducerRef } from './partition-state.js';
import { DEFAULT_PARTITION_CONFIG, PartitionState, seedFor } from './partition-state.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeEnqueue(a: EnqueueArgs): Record<string, unknown> {
  return { ...a, payload: Buffer.from(a.payload.buffer, a.payload.byteOffset, a.payload.byteLength).toString('base64'), priority: a.priority.toString() };
}

/** The JSON form of a command. */
export function encodePartitionCommand(c: PartitionCommand): Uint8Array {
  let doc: Record<string, unknown> = { ...c };
  if (c.type === 'enqueue') doc = encodeEnqueue(c);
  else if (c.type === 'prepare') doc = { type: 'prepare', txnId: c.txnId, enqueues: c.enqueues.map(encodeEnqueue) };
  return encoder.encode(JSON.stringify(doc));
}

const bad = (message: string): Failure => ({ ok: false, error: 'INVALID_ARGUMENT', message });

const INT64 = /^-?\d{1,19}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function optNumber(v: unknown, name: string): number | undefined | Failure {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' ? v : bad(`${name} must be a number`);
}
function optString(v: unknown, name: string): string | undefined | Failure {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : bad(`${name} must be a string`);
}
/** Whether a command's result (or a decode) is a failure: `{ok: false, error, message}`. */
export const isPartitionFailure = (v: unknown): v is Failure => typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;
const isFailure = isPartitionFailure;

/** An enqueue's fields (the JSON form, `type` aside). */
function decodeEnqueue(c: Record<string, unknown>): EnqueueArgs | Failure {
  if (typeof c.payload !== 'string' || !BASE64.test(c.payload)) return bad('payload must be base64');
  if (typeof c.priority !== 'string' || !INT64.test(c.priority)) return bad('priority must be an integer in a decimal string');
  const maxRetries = optNumber(c.maxRetries, 'maxRetries');
  const notBeforeMs = optNumber(c.notBeforeMs, 'notBeforeMs');
  if (isFailure(maxRetries)) return maxRetries;
  if (isFailure(notBeforeMs)) return notBeforeMs;
  let producer: ProducerRef | undefined;
  if (c.producer !== undefined && c.producer !== null) {
    const p = c.producer as Record<string, unknown>;
    if (typeof p !== 'object' || typeof p.id !== 'string' || typeof p.epoch !== 'number' || typeof p.sequence !== 'number') {
      return bad('producer must be {id: string, epoch: number, sequence: number}');
    }
    producer = { id: p.id, epoch: p.epoch, sequence: p.sequence };
  }
  return {
    payload: new Uint8Array(Buffer.from(c.payload, 'base64')),
    priority: BigInt(c.priority),
    ...(producer === undefined ? {} : { producer }),
    ...(maxRetries === undefined ? {} : { maxRetries }),
    ...(notBeforeMs === undefined ? {} : { notBeforeMs }),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const CONFIG_FIELDS: Record<string, 'string' | 'number' | 'object'> = {
  mode: 'string',
  visibilityTimeoutMs: 'number',
  maxRetries: 'number',
  retentionMs: 'number',
  dlq: 'object',
  maxPayloadBytes: 'number',
  dedupWindowMs: 'number',
  backoff: 'object',
  maxVisibilityTimeoutMs: 'number',
  maxDelayMs: 'number',
  txnMemoryMs: 'number',
  maxLogRecords: 'number',
};
const NESTED_FIELDS: Record<string, Record<string, 'boolean' | 'number'>> = {
  dlq: { enabled: 'boolean', retentionMs: 'number' },
  backoff: { baseMs: 'number', maxMs: 'number' },
};

/** A configure's patch: known fields of the right JSON types (null: absent); bounds are the state's. */
function decodeConfigPatch(v: unknown): PartitionConfigPatch | Failure {
  if (!isObject(v)) return bad('config must be an object');
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const kind = CONFIG_FIELDS[k];
    if (kind === undefined) return bad(`unknown config field ${JSON.stringify(k)}`);
    if (x === undefined || x === null) continue;
    if (kind !== 'object') {
      if (typeof x !== kind) return bad(`config.${k} must be a ${kind}`);
      out[k] = x;
      continue;
    }
    if (!isObject(x)) return bad(`config.${k} must be an object`);
    const fields = NESTED_FIELDS[k] as Record<string, 'boolean' | 'number'>;
    const nested: Record<string, unknown> = {};
    for (const [nk, nx] of Object.entries(x)) {
      const nkind = fields[nk];
      if (nkind === undefined) return bad(`unknown config field ${JSON.stringify(`${k}.${nk}`)}`);
      if (nx === undefined || nx === null) continue;
      if (typeof nx !== nkind) return bad(`config.${k}.${nk} must be a ${nkind}`);
      nested[nk] = nx;
    }
    out[k] = nested;
  }
  return out as PartitionConfigPatch;
}

/** Parses a command's JSON form; the bounds are checked by the state when it is applied. */
export function decodePartitionCommand(bytes: Uint8Array): PartitionCommand | Failure {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch {
    return bad('command is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('command is not an object');
  const c = v as Record<string, unknown>;
  const str = (name: string): string | Failure => (typeof c[name] === 'string' ? (c[name] as string) : bad(`${name} must be a string`));
  switch (c.type) {
    case 'enqueue': {
      const e = decodeEnqueue(c);
      return isFailure(e) ? e : { type: 'enqueue', ...e };
    }
    case 'pop': {
      const consumer = str('consumer');
      const visibilityTimeoutMs = optNumber(c.visibilityTimeoutMs, 'visibilityTimeoutMs');
      if (isFailure(consumer)) return consumer;
      if (isFailure(visibilityTimeoutMs)) return visibilityTimeoutMs;
      if (typeof c.max !== 'number') return bad('max must be a number');
      return { type: 'pop', max: c.max, consumer, ...(visibilityTimeoutMs === undefined ? {} : { visibilityTimeoutMs }) };
    }
    case 'ack':
    case 'nack': {
      const messageId = str('messageId');
      const leaseToken = str('leaseToken');
      if (isFailure(messageId)) return messageId;
      if (isFailure(leaseToken)) return leaseToken;
      if (c.type === 'ack') return { type: 'ack', messageId, leaseToken };
      const backoffOverrideMs = optNumber(c.backoffOverrideMs, 'backoffOverrideMs');
      const reason = optString(c.reason, 'reason');
      if (isFailure(backoffOverrideMs)) return backoffOverrideMs;
      if (isFailure(reason)) return reason;
      return {
        type: 'nack',
        messageId,
        leaseToken,
        ...(backoffOverrideMs === undefined ? {} : { backoffOverrideMs }),
        ...(reason === undefined ? {} : { reason }),
      };
    }
    case 'extend': {
      const leaseToken = str('leaseToken');
      if (isFailure(leaseToken)) return leaseToken;
      if (typeof c.extensionMs !== 'number') return bad('extensionMs must be a number');
      return { type: 'extend', leaseToken, extensionMs: c.extensionMs };
    }
    case 'tick':
      return { type: 'tick' };
    case 'purge':
      return { type: 'purge', dlq: c.dlq === true };
    case 'moveToDlq': {
      const messageId = str('messageId');
      const reason = optString(c.reason, 'reason');
      if (isFailure(messageId)) return messageId;
      if (isFailure(reason)) return reason;
      return { type: 'moveToDlq', messageId, ...(reason === undefined ? {} : { reason }) };
    }
    case 'configure': {
      const config = decodeConfigPatch(c.config);
      return isFailure(config) ? config : { type: 'configure', config };
    }
    case 'prepare': {
      const txnId = str('txnId');
      if (isFailure(txnId)) return txnId;
      if (!Array.isArray(c.enqueues)) return bad('enqueues must be a list');
      const enqueues: EnqueueArgs[] = [];
      for (const [i, item] of (c.enqueues as unknown[]).entries()) {
        const e = isObject(item) ? decodeEnqueue(item) : bad('must be an object');
        if (isFailure(e)) return bad(`enqueues[${i}]: ${e.message}`);
        enqueues.push(e);
      }
      return { type: 'prepare', txnId, enqueues };
    }
    case 'commitTxn':
    case 'abortTxn': {
      const txnId = str('txnId');
      return isFailure(txnId) ? txnId : { type: c.type, txnId };
    }
    case 'commitOffset': {
      const group = str('group');
      if (isFailure(group)) return group;
      if (typeof c.offset !== 'number') return bad('offset must be a number');
      return { type: 'commitOffset', group, offset: c.offset };
    }
    default:
      return bad(`unknown command type ${JSON.stringify(c.type)}`);
  }
}

export class PartitionStateMachine implements StateMachine {
  readonly state: PartitionState;

  constructor(partition: number, config: PartitionConfig = DEFAULT_PARTITION_CONFIG) {
    this.state = new PartitionState(partition, config);
  }

  apply(commands: readonly AppliedCommand[]): (PartitionResult | Failure)[] {
    return commands.map(({ index, term, time, command }) => {
      const c = decodePartitionCommand(command);
      if (isFailure(c)) return c;
      return this.state.apply(c, { now: time, seed: seedFor(index, term) });
    });
  }

  snapshot(): Uint8Array {
    return this.state.snapshot();
  }

  restore(data: Uint8Array): void {
    this.state.restore(data);
  }
}

/**
 * One topic partition as a Raft state machine: commands are JSON documents with a `type` field
 * (bigint priorities as decimal strings, payloads as base64), applied to a `PartitionState`
 * with the entry's time and a seed from its (index, term). Results are the state's result
 * objects (payloads as bytes, priorities as bigints), handed to the proposer in-process.
 */
import type { AppliedCommand, StateMachine } from '../node/state-machine.js';
import type { PartitionCommand, PartitionConfig, PartitionResult, Failure, ProducerRef } from './partition-state.js';
import { DEFAULT_PARTITION_CONFIG, PartitionState, seedFor } from './partition-state.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The JSON form of a command. */
export function encodePartitionCommand(c: PartitionCommand): Uint8Array {
  const doc: Record<string, unknown> = { ...c };
  if (c.type === 'enqueue') {
    doc.payload = Buffer.from(c.payload.buffer, c.payload.byteOffset, c.payload.byteLength).toString('base64');
    doc.priority = c.priority.toString();
  }
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
const isFailure = (v: unknown): v is Failure => typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;

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
        type: 'enqueue',
        payload: new Uint8Array(Buffer.from(c.payload, 'base64')),
        priority: BigInt(c.priority),
        ...(producer === undefined ? {} : { producer }),
        ...(maxRetries === undefined ? {} : { maxRetries }),
        ...(notBeforeMs === undefined ? {} : { notBeforeMs }),
      };
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

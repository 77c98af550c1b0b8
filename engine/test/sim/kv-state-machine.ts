/**
 * The simulator's replicated state machine: a key-value store whose commands carry the client
 * operation id, so a client can recognise its own entry and its result when it is applied.
 */
import type { KvInput, KvOutput } from '../linearizability/kv-model.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Command {
  readonly opId: number;
  readonly input: KvInput;
}

export function encodeCommand(c: Command): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(decoder.decode(data)) as Command;
}

export class KvStateMachine {
  data = new Map<string, string>();

  apply(input: KvInput): KvOutput {
    switch (input.op) {
      case 'get':
        return { value: this.data.get(input.key) ?? null };
      case 'put':
        this.data.set(input.key, input.value);
        return {};
      case 'cas': {
        const current = this.data.get(input.key) ?? null;
        if (current !== input.expected) return { ok: false };
        this.data.set(input.key, input.value);
        return { ok: true };
      }
      default: {
        const never: never = input;
        throw new Error(`unknown command ${JSON.stringify(never)}`);
      }
    }
  }

  read(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.data.entries()]));
  }

  restore(bytes: Uint8Array): void {
    this.data = new Map(bytes.length === 0 ? [] : (JSON.parse(decoder.decode(bytes)) as [string, string][]));
  }
}

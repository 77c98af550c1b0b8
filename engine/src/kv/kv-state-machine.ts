/**
 * The built-in key-value store: string keys to string values, with put and compare-and-set.
 * It exists for tests (the linearizability workload on real processes) and demos; its commands
 * are small JSON documents.
 */
import type { AppliedCommand, StateMachine } from '../node/state-machine.js';

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export type KvResult = { readonly ok: true; readonly swapped?: boolean } | { readonly ok: false; readonly error: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

function parse(bytes: Uint8Array): KvCommand | string {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch {
    return 'command is not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'command is not an object';
  const c = v as Record<string, unknown>;
  if (typeof c.key !== 'string' || typeof c.value !== 'string') return 'key and value must be strings';
  if (c.op === 'put') return { op: 'put', key: c.key, value: c.value };
  if (c.op === 'cas' && (typeof c.expected === 'string' || c.expected === null)) {
    return { op: 'cas', key: c.key, expected: c.expected, value: c.value };
  }
  return `unknown op ${JSON.stringify(c.op)}`;
}

export class KvStateMachine implements StateMachine {
  private data = new Map<string, string>();

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  apply(commands: readonly AppliedCommand[]): KvResult[] {
    return commands.map(({ command }) => {
      const c = parse(command);
      if (typeof c === 'string') return { ok: false, error: c };
      if (c.op === 'put') {
        this.data.set(c.key, c.value);
        return { ok: true };
      }
      const swapped = (this.data.get(c.key) ?? null) === c.expected;
      if (swapped) this.data.set(c.key, c.value);
      return { ok: true, swapped };
    });
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.data]));
  }

  restore(data: Uint8Array): void {
    this.data = data.length === 0 ? new Map() : new Map(JSON.parse(decoder.decode(data)) as [string, string][]);
  }
}

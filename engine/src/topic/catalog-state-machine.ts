/**
 * The topic catalog (catalog-state.ts) as group 0's Raft state machine. Commands are plain JSON
 * documents. Listeners hear about every applied batch (the topic runtime reconciles its local
 * groups and wakes waiters then).
 */
import type { AppliedCommand, StateMachine } from '../node/state-machine.js';
import { CatalogState } from './catalog-state.js';
import type { CatalogCommand, CatalogResult } from './catalog-state.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCatalogCommand(c: CatalogCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export class CatalogStateMachine implements StateMachine {
  readonly state = new CatalogState();
  private readonly listeners = new Set<() => void>();

  onApplied(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(commands: readonly AppliedCommand[]): CatalogResult[] {
    const results = commands.map(({ time, command }): CatalogResult => {
      let cmd: CatalogCommand;
      try {
        cmd = JSON.parse(decoder.decode(command)) as CatalogCommand;
      } catch {
        return { ok: false, error: 'INVALID_ARGUMENT', message: 'catalog command is not JSON' };
      }
      try {
        return this.state.apply(cmd, time);
      } catch (err) {
        // A malformed command throws the same way on every replica: refuse it, deterministically.
        return { ok: false, error: 'INVALID_ARGUMENT', message: `malformed catalog command: ${(err as Error).message}` };
      }
    });
    for (const l of this.listeners) l();
    return results;
  }

  snapshot(): Uint8Array {
    return this.state.snapshot();
  }

  restore(data: Uint8Array): void {
    this.state.restore(data);
    for (const l of this.listeners) l();
  }
}

/**
 * Records a key-value workload against a real cluster as a history for the linearizability
 * checker (engine/test/linearizability).
 *
 * Every operation is timed on one monotonic clock with sub-millisecond resolution: `call` is
 * taken right before the request is sent and `return` right after the answer arrives. Outcomes:
 * - success: recorded with its output;
 * - a write whose outcome is unknown (`KvError.definite === false`: timeout, connection lost
 *   after sending): recorded with return = +Infinity and no output, since it may have taken
 *   effect at any time after its call, or never;
 * - a write that certainly did not take effect (`definite === true`): dropped from the history;
 * - a failed read: dropped (it had no effect and observed nothing).
 * Any other error is a bug in the harness and is rethrown.
 */
import { KvError } from '../../src/kv/kv-client.js';
import type { KvClient } from '../../src/kv/kv-client.js';
import type { Random } from '../../src/raft/random.js';
import type { KvInput, KvOperation, KvOutput } from '../linearizability/index.js';
import { sleep } from './engine-cluster.js';

/** Milliseconds on a monotonic clock, with nanosecond resolution. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A write the cluster acknowledged, with its call and return times. */
export interface AckedWrite {
  readonly clientId: number;
  readonly call: number;
  readonly return: number;
}

export class HistoryRecorder {
  readonly history: KvOperation[] = [];
  readonly ackedWrites: AckedWrite[] = [];
  /** Writes recorded with an unknown outcome. */
  unknownWrites = 0;
  /** Writes dropped because they certainly did not take effect. */
  failedWrites = 0;
  /** Reads dropped because they failed. */
  failedReads = 0;

  private record(clientId: number, input: KvInput, call: number, ret: number, output: KvOutput | undefined): void {
    this.history.push({ clientId, input, call, return: ret, output });
  }

  /** A read; returns the value, or undefined when it failed (and was dropped). */
  async get(
    clientId: number,
    client: KvClient,
    key: string,
    options: { consistency?: 'linearizable' | 'local'; endpoint?: string } = {},
  ): Promise<{ value: string | null; call: number; return: number } | undefined> {
    const call = now();
    try {
      const value = await client.get(key, options);
      const ret = now();
      this.record(clientId, { op: 'get', key }, call, ret, { value });
      return { value, call, return: ret };
    } catch (err) {
      if (!(err instanceof KvError)) throw err;
      this.failedReads++;
      return undefined;
    }
  }

  /** A put; returns 'ok', 'failed' (did not take effect) or 'unknown'. */
  async put(clientId: number, client: KvClient, key: string, value: string): Promise<'ok' | 'failed' | 'unknown'> {
    const input: KvInput = { op: 'put', key, value };
    const call = now();
    try {
      await client.put(key, value);
      const ret = now();
      this.record(clientId, input, call, ret, {});
      this.ackedWrites.push({ clientId, call, return: ret });
      return 'ok';
    } catch (err) {
      return this.writeFailed(clientId, input, call, err);
    }
  }

  /** A compare-and-set; returns whether it swapped, 'failed' or 'unknown'. */
  async cas(
    clientId: number,
    client: KvClient,
    key: string,
    expected: string | null,
    value: string,
  ): Promise<boolean | 'failed' | 'unknown'> {
    const input: KvInput = { op: 'cas', key, expected, value };
    const call = now();
    try {
      const ok = await client.compareAndSet(key, expected, value);
      const ret = now();
      this.record(clientId, input, call, ret, { ok });
      this.ackedWrites.push({ clientId, call, return: ret });
      return ok;
    } catch (err) {
      return this.writeFailed(clientId, input, call, err);
    }
  }

  private writeFailed(clientId: number, input: KvInput, call: number, err: unknown): 'failed' | 'unknown' {
    if (!(err instanceof KvError)) throw err;
    if (err.definite) {
      this.failedWrites++;
      return 'failed';
    }
    this.unknownWrites++;
    this.record(clientId, input, call, Number.POSITIVE_INFINITY, undefined);
    return 'unknown';
  }
}

export interface RandomWorkerOptions {
  readonly clientId: number;
  readonly client: KvClient;
  readonly rng: Random;
  readonly keys: readonly string[];
  readonly recorder: HistoryRecorder;
  readonly stopped: () => boolean;
  /** Pause between operations, drawn uniformly in [min, max] ms. */
  readonly thinkMs: readonly [number, number];
  /**
   * When given, half of the (linearizable) gets go to one of the nodes it returns (the nodes
   * currently up), picked at random, so followers serve reads too (ReadIndex through the
   * leader); the others go to the leader.
   */
  readonly readEndpoints?: () => readonly string[];
}

/**
 * One client issuing random linearizable gets (40%), puts (35%) and compare-and-sets (25%)
 * until stopped. Every written value is unique (`c<client>-<n>`). A CAS expects the value this
 * client last saw for the key (or null), so some swap and some do not.
 */
export async function randomWorker(o: RandomWorkerOptions): Promise<void> {
  const seen = new Map<string, string | null>();
  let n = 0;
  while (!o.stopped()) {
    const key = o.rng.pick(o.keys);
    const roll = o.rng.float();
    if (roll < 0.4) {
      const endpoints = o.readEndpoints?.() ?? [];
      const endpoint = endpoints.length > 0 && o.rng.chance(0.5) ? o.rng.pick(endpoints) : undefined;
      const r = await o.recorder.get(o.clientId, o.client, key, endpoint === undefined ? {} : { endpoint });
      if (r !== undefined) seen.set(key, r.value);
    } else {
      const value = `c${o.clientId}-${n++}`;
      if (roll < 0.75) {
        if ((await o.recorder.put(o.clientId, o.client, key, value)) === 'ok') seen.set(key, value);
      } else {
        const expected = seen.get(key) ?? null;
        if ((await o.recorder.cas(o.clientId, o.client, key, expected, value)) === true) seen.set(key, value);
      }
    }
    await sleep(o.rng.int(o.thinkMs[0], o.thinkMs[1]));
  }
}

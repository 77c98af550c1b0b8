/**
 * What the integration tests share beyond the cluster itself: the per-test cluster lifecycle,
 * writes that must be acknowledged, the check that acknowledged writes are readable, and
 * reading a value from Prometheus text.
 */
import { afterEach, expect } from 'vitest';
import { KvError } from '../../src/kv/kv-client.js';
import type { KvClient } from '../../src/kv/kv-client.js';
import { EngineCluster, sleep } from './engine-cluster.js';
import type { ClusterOptions } from './engine-cluster.js';

/**
 * One cluster per test: returns the function that starts it, and registers an `afterEach` that
 * closes it. When the test failed, the last `logTail` characters of the nodes' logs are printed
 * and the cluster's directory is kept.
 */
export function useCluster(
  logTail = 20_000,
  /** How to make the cluster: started and formed by default; `EngineCluster.create` for nothing started. */
  make: (options: ClusterOptions) => Promise<EngineCluster> = (o) => EngineCluster.start(o),
): (options: ClusterOptions) => Promise<EngineCluster> {
  let cluster: EngineCluster | null = null;
  afterEach(async (ctx) => {
    const failed = ctx.task.result?.state === 'fail';
    if (failed && cluster) console.error(cluster.logs().slice(-logTail));
    await cluster?.close(failed);
    cluster = null;
  });
  return async (options) => (cluster = await make(options));
}

/**
 * A put retried until acknowledged. Only for puts of a fixed value (idempotent), where a retry
 * after an unknown outcome (e.g. a connection to a node killed a moment ago) changes nothing.
 */
export async function putSurely(client: KvClient, key: string, value: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.put(key, value);
      return;
    } catch (err) {
      if (!(err instanceof KvError) || Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/** Puts `count` distinct keys (`<prefix>-<i>`) concurrently; every one must be acknowledged. */
export async function putAll(
  c: EngineCluster,
  prefix: string,
  count: number,
  value = (key: string) => `v-${key}`,
): Promise<Map<string, string>> {
  const client = c.client({ timeoutMs: 15_000 });
  const acked = new Map<string, string>();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = `${prefix}-${i}`;
      await putSurely(client, key, value(key));
      acked.set(key, value(key));
    }),
  );
  return acked;
}

/**
 * Reads every key of `acked` (linearizable by default, through any node unless `endpoint` is
 * given): each must have the acknowledged value.
 */
export async function expectAllReadable(
  c: EngineCluster,
  acked: ReadonlyMap<string, string>,
  options: { endpoint?: string; consistency?: 'local' | 'linearizable'; timeoutMs?: number } = {},
): Promise<void> {
  const { timeoutMs = 15_000, ...read } = options;
  const client = c.client({ timeoutMs });
  const wrong: string[] = [];
  for (const [k, v] of acked) {
    const got = await client.get(k, read);
    if (got !== v) wrong.push(`${k}=${String(got)} (want ${v})`);
  }
  expect(wrong).toEqual([]);
}

/** A counter or gauge from Prometheus text, 0 when the series is absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

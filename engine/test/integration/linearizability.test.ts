/**
 * Linearizability of the key-value store on real processes, checked with the Wing–Gong checker
 * of engine/test/linearizability against a history recorded by concurrent clients.
 *
 * 1. Random gets (linearizable, from the leader or any node), puts and compare-and-sets from 6
 *    clients over a few keys while a nemesis kill -9s a node every 2–4 s (every other time the
 *    leader) and restarts it 0.5–2 s later, one node down at most: the history must be
 *    linearizable. The seed is printed; rerun a failure with LEVIATHAN_LIN_SEED=<seed>.
 * 2. The checker is not vacuous: `local` reads from a follower whose inbound traffic is slowed
 *    return stale values, and the history is NOT linearizable; the same workload with
 *    linearizable reads from that same follower is.
 */
import { describe, expect, it } from 'vitest';
import type { KvClient } from '../../src/kv/kv-client.js';
import { Random } from '../../src/raft/random.js';
import { checkLinearizable, kvModel } from '../linearizability/index.js';
import type { CheckResult, KvInput, KvOutput } from '../linearizability/index.js';
import { sleep, waitFor } from './engine-cluster.js';
import type { EngineCluster } from './engine-cluster.js';
import { useCluster } from './helpers.js';
import { HistoryRecorder, now, randomWorker } from './kv-workload.js';

const startCluster = useCluster();

/** The checker's verdict with its explanation, for assertion messages. */
function report(r: CheckResult<KvInput, KvOutput>): string {
  if (r.failure) return r.failure.explanation;
  if (r.result === 'unknown') return `search budget exhausted in partition(s) ${r.unknownPartitions.join(', ')}`;
  return `${r.result} (${r.partitions} partitions, ${r.steps} steps)`;
}

interface Kill {
  readonly node: number;
  readonly wasLeader: boolean;
  readonly at: number;
}

/** When the nemesis stops (on the `now()` clock): past `soft` with `kills` kills done, or at `end`. */
interface Until {
  readonly soft: number;
  readonly kills: number;
  readonly end: number;
}

/**
 * Until `until`: every 2–4 s (kill to kill) kill -9 a node, every other time the leader, and
 * restart it 0.5–2 s later. The next kill waits until the restarted node is ready again, so at
 * most one node is ever down. `down` holds the node from its kill until it is ready again
 * (workers do not send reads there meanwhile).
 */
async function nemesis(c: EngineCluster, rng: Random, until: Until, kills: Kill[], down: Set<number>): Promise<void> {
  let nextAt = now() + rng.int(2_000, 4_000);
  for (;;) {
    const wait = nextAt - now();
    if (wait > 0) await sleep(wait);
    if (now() >= until.end || (now() >= until.soft && kills.length >= until.kills)) return;
    const leader = await c.leaderIndex();
    const victim = kills.length % 2 === 0 && leader !== null ? leader : rng.int(0, c.nodes.length - 1);
    down.add(victim);
    await c.node(victim).kill();
    const at = now();
    kills.push({ node: victim, wasLeader: victim === leader, at });
    nextAt = at + rng.int(2_000, 4_000);
    await sleep(rng.int(500, 2_000));
    c.startNode(victim);
    await waitFor(`node-${victim} ready after restart`, () => c.node(victim).ready(), 15_000, 50);
    down.delete(victim);
  }
}

describe('linearizability on real processes', () => {
  it('random gets, puts and CAS from 6 clients while nodes are killed -9 and restarted', async () => {
    const seed = Number(process.env.LEVIATHAN_LIN_SEED ?? Date.now() % 0x1_0000_0000);
    console.log(`linearizability: seed ${seed} (rerun with LEVIATHAN_LIN_SEED=${seed})`);
    const rng = new Random(seed);
    const began = now();
    const c = await startCluster({ size: 3 });

    const recorder = new HistoryRecorder();
    const keys = ['a', 'b', 'c', 'd'];
    let stopped = false;
    const down = new Set<number>();
    const workers = Array.from({ length: 6 }, (_, clientId) =>
      randomWorker({
        clientId,
        client: c.client({ timeoutMs: 3_000 }),
        rng: rng.fork(),
        keys,
        recorder,
        stopped: () => stopped,
        thinkMs: [0, 20],
        readEndpoints: () => c.nodes.filter((n) => !down.has(n.index)).map((n) => n.address),
      }),
    );
    const kills: Kill[] = [];
    const workloadStart = now();
    const nemesisRng = rng.fork();
    try {
      // 25 s, longer (up to 35 s) if restarts are slow and fewer than 5 kills have been done.
      await nemesis(c, nemesisRng, { soft: workloadStart + 25_000, kills: 5, end: workloadStart + 35_000 }, kills, down);
      // Keep the clients going until a write called after the last kill is acknowledged.
      const last = kills[kills.length - 1]?.at ?? workloadStart;
      await waitFor('a write acknowledged after the last kill', async () => recorder.ackedWrites.some((w) => w.call > last), 10_000, 20);
    } finally {
      stopped = true;
      await Promise.all(workers);
    }
    const workloadEnd = now();

    const checkStart = now();
    const result = checkLinearizable(kvModel, recorder.history);
    const checkMs = now() - checkStart;
    const leaderKills = kills.filter((k) => k.wasLeader).length;
    // For each kill, how long until a write called after it was acknowledged. Not bounded by
    // the next kill: on a loaded machine a node can stall (fsync, CPU) right when another one
    // is down, and the cluster then waits for the restart.
    const recoveries = kills.map((k) => {
      const returns = recorder.ackedWrites.filter((w) => w.call > k.at).map((w) => w.return);
      return returns.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...returns) - k.at;
    });
    console.log(
      `linearizability: seed ${seed}: ${recorder.history.length} ops ` +
        `(${recorder.ackedWrites.length} acked writes, ${recorder.unknownWrites} unknown, ` +
        `${recorder.failedWrites} failed writes and ${recorder.failedReads} failed reads dropped), ` +
        `${kills.length} kills (${leaderKills} of the leader; nodes ${kills.map((k) => k.node).join(',')}), ` +
        `write recovery after each kill ${recoveries.map((r) => r.toFixed(0)).join('/')} ms, ` +
        `workload ${((workloadEnd - workloadStart) / 1000).toFixed(1)} s, check ${checkMs.toFixed(0)} ms ` +
        `(${result.steps} steps), total ${((now() - began) / 1000).toFixed(1)} s: ${result.result}`,
    );

    expect(result.result, `seed ${seed}: ${report(result)}`).toBe('ok');
    expect(recorder.history.length).toBeGreaterThanOrEqual(500);
    expect(kills.length).toBeGreaterThanOrEqual(5);
    expect(leaderKills).toBeGreaterThanOrEqual(2);
    expect(recoveries.every((r) => Number.isFinite(r)), `recovery after each kill (ms): ${recoveries.map((r) => r.toFixed(0)).join(', ')}`).toBe(true);
  }, 60_000);

  it('stale local reads from a slowed follower are caught; linearizable reads from it are not', async () => {
    const c = await startCluster({ size: 3 });
    const leader = await c.waitLeader();
    const follower = c.node((leader + 1) % 3);
    // Everything the follower receives from its peers (appends, commit index) arrives 300 ms late.
    follower.proxy.delay(300);

    /**
     * Writers put increasing values to their own key through the leader and, as soon as a put is
     * acknowledged, read the key back from the slowed follower; two more readers read any key
     * from it. A writer's read-back that does not return what it just wrote is stale (nobody
     * else writes that key). Runs until `enough(stale)` or `maxMs`.
     */
    async function run(consistency: 'local' | 'linearizable', maxMs: number, enough: (stale: number) => boolean) {
      const recorder = new HistoryRecorder();
      const keys = ['x', 'y'];
      let stale = 0;
      let readBacks = 0;
      let stopped = false;
      const deadline = now() + maxMs;
      const done = (): boolean => stopped || enough(stale) || now() >= deadline;
      const read = (id: number, client: KvClient, key: string) =>
        recorder.get(id, client, key, { consistency, endpoint: follower.address });
      // Warm-up: a first value per key, recorded, that the follower has applied before the
      // workload starts, so stale reads return an older value rather than nothing.
      const warm = c.client({ timeoutMs: 5_000 });
      for (const [id, key] of keys.entries()) {
        expect(await recorder.put(id, warm, key, `${consistency}-w${id}-0`)).toBe('ok');
        await waitFor(`${key} applied on the follower`, async () => (await warm.get(key, { consistency: 'local', endpoint: follower.address })) === `${consistency}-w${id}-0`, 5_000, 20);
      }
      const writers = keys.map(async (key, id) => {
        const client = c.client({ timeoutMs: 5_000 });
        for (let n = 1; !done(); n++) {
          const value = `${consistency}-w${id}-${n}`;
          if ((await recorder.put(id, client, key, value)) !== 'ok') continue;
          const r = await read(id, client, key);
          if (r === undefined) continue;
          readBacks++;
          if (r.value !== value) stale++;
        }
      });
      const readers = [2, 3].map(async (id) => {
        const client = c.client({ timeoutMs: 5_000 });
        for (let n = 0; !done(); n++) {
          await read(id, client, keys[n % keys.length]!);
          await sleep(5);
        }
      });
      try {
        await Promise.all(writers);
      } finally {
        stopped = true;
        await Promise.all(readers);
      }
      return { recorder, stale, readBacks };
    }

    const t0 = now();
    const local = await run('local', 10_000, (stale) => stale >= 3);
    const localMs = now() - t0;
    const localResult = checkLinearizable(kvModel, local.recorder.history);
    const t1 = now();
    const lin = await run('linearizable', 3_000, () => false);
    const linMs = now() - t1;
    const linResult = checkLinearizable(kvModel, lin.recorder.history);
    console.log(
      `stale reads: local: ${local.recorder.history.length} ops, ${local.stale}/${local.readBacks} stale read-backs ` +
        `in ${localMs.toFixed(0)} ms: ${localResult.result}; linearizable: ${lin.recorder.history.length} ops, ` +
        `${lin.stale}/${lin.readBacks} stale read-backs in ${linMs.toFixed(0)} ms: ${linResult.result}`,
    );
    if (localResult.failure) console.log(localResult.failure.explanation.split('\n').slice(0, 8).join('\n'));

    expect(local.stale, 'stale local reads observed within 10 s').toBeGreaterThanOrEqual(3);
    expect(localResult.result, report(localResult)).toBe('illegal');
    expect(lin.stale).toBe(0);
    expect(lin.readBacks).toBeGreaterThan(3);
    expect(linResult.result, report(linResult)).toBe('ok');
  }, 60_000);
});

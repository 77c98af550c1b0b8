/**
 * Test helper: histories generated from a real (hence linearizable) in-memory key-value store
 * accessed by concurrent simulated clients. Each operation takes effect at one instant strictly
 * inside its [call, return] interval, so the result is linearizable by construction; checking
 * it must give 'ok'. Operations that "time out" take effect or not, at random, possibly after
 * the client gave up, and are recorded with an unknown outcome.
 */
import type { KvInput, KvOperation, KvOutput } from './kv-model.js';

/** mulberry32: small, seeded, good enough for test schedules. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomHistoryOptions {
  readonly seed: number;
  readonly clients: number;
  readonly opsPerClient: number;
  readonly keys: readonly string[];
  /** Operation durations are integers in [1, maxDuration]. */
  readonly maxDuration: number;
  /** Gaps between a client's operations are integers in [0, maxGap]; 0 makes ties. */
  readonly maxGap: number;
  /** Probability that an operation times out (unknown outcome). */
  readonly unknownRate: number;
}

interface Planned {
  readonly clientId: number;
  readonly call: number;
  readonly return: number;
  readonly key: string;
  readonly kind: KvInput['op'];
  /** When the effect happens (strictly inside the interval), or null when it never happens. */
  readonly effectAt: number | null;
}

export function randomKvHistory(o: RandomHistoryOptions): KvOperation[] {
  const rnd = prng(o.seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;

  // 1. The schedule: who calls what when, and when it takes effect.
  const plan: Planned[] = [];
  for (let c = 0; c < o.clients; c++) {
    let t = int(0, o.maxDuration);
    for (let n = 0; n < o.opsPerClient; n++) {
      const duration = int(1, o.maxDuration);
      const timedOut = rnd() < o.unknownRate;
      // A timed-out request may still be applied well after the client stopped waiting.
      const window = timedOut ? duration * 5 : duration;
      const effectAt = timedOut && rnd() < 0.5 ? null : t + window * (0.001 + 0.998 * rnd());
      const r = rnd();
      const kind = r < 0.5 ? 'get' : r < 0.8 ? 'put' : 'cas';
      const ret = timedOut ? Number.POSITIVE_INFINITY : t + duration;
      plan.push({ clientId: c, call: t, return: ret, key: pick(o.keys), kind, effectAt });
      t += duration + int(0, o.maxGap); // the client moves on after its timeout too
    }
  }

  // 2. Apply the effects in effect order to a real map to get the outputs.
  const store = new Map<string, string>();
  const written: string[] = [];
  let serial = 0;
  const results = new Map<Planned, { input: KvInput; output: KvOutput | undefined }>();
  const byEffect = plan.filter((p) => p.effectAt !== null);
  byEffect.sort((a, b) => a.effectAt! - b.effectAt!);
  const inputFor = (p: Planned): KvInput => {
    const value = `v${serial++}`; // unique, so a read identifies its write
    if (p.kind === 'get') return { op: 'get', key: p.key };
    if (p.kind === 'put') return { op: 'put', key: p.key, value };
    // Half the time expect the current value (so CAS succeeds), else some older value.
    const current = store.get(p.key) ?? null;
    const expected = rnd() < 0.5 || written.length === 0 ? current : pick(written);
    return { op: 'cas', key: p.key, expected, value };
  };
  for (const p of byEffect) {
    const input = inputFor(p);
    const current = store.get(input.key) ?? null;
    let output: KvOutput;
    if (input.op === 'get') output = { value: current };
    else if (input.op === 'put') {
      store.set(input.key, input.value);
      written.push(input.value);
      output = {};
    } else {
      const ok = current === input.expected;
      if (ok) {
        store.set(input.key, input.value);
        written.push(input.value);
      }
      output = { ok };
    }
    results.set(p, { input, output: p.return === Number.POSITIVE_INFINITY ? undefined : output });
  }

  // 3. Operations that never took effect still appear in the history, with unknown outcome.
  return plan.map((p) => {
    const r = results.get(p) ?? { input: inputFor(p), output: undefined };
    const { clientId, call, return: ret } = p;
    return { clientId, input: r.input, call, return: ret, output: r.output };
  });
}

/**
 * Differential test: the checker against a brute-force reference on thousands of tiny random
 * histories (ties, instantaneous operations, unknown outcomes, two keys). The search's
 * reductions (memo dominance, read-only commits, partitioning) are subtle; this is what shows
 * they never change a verdict. It caught a memo table that pruned the wrong way round.
 */
import { describe, expect, it } from 'vitest';
import { cas, get, INF, lost, put } from './builders.js';
import { checkLinearizable } from './checker.js';
import type { Model } from './history.js';
import { kvModel } from './kv-model.js';
import type { KvInput, KvOperation, KvOutput, KvState } from './kv-model.js';
import { prng } from './random-history.js';

/**
 * Reference checker straight from the definition, for tiny histories: try every sequence that
 * contains all completed operations and any subset of the unknown ones, respects real-time order
 * (A before B when A.return <= B.call, except two instantaneous operations at the same instant),
 * and is a legal run of the model.
 */
function bruteForce(h: readonly KvOperation[]): boolean {
  const precedes = (a: KvOperation, b: KvOperation): boolean =>
    a !== b &&
    a.return <= b.call &&
    !(a.call === a.return && b.call === b.return && a.call === b.call);
  const known = h.filter((o) => o.output !== undefined).length;
  const used = new Set<KvOperation>();
  const search = (state: KvState, knownUsed: number): boolean => {
    if (knownUsed === known) return true;
    for (const o of h) {
      if (used.has(o) || h.some((p) => !used.has(p) && precedes(p, o))) continue;
      const r = kvModel.step(state, o.input, o.output);
      if (!r.ok) continue;
      used.add(o);
      const found = search(r.state, knownUsed + (o.output === undefined ? 0 : 1));
      used.delete(o);
      if (found) return true;
    }
    return false;
  };
  return search(kvModel.init(), 0);
}

/** A random history of up to maxSize operations, mostly on one key, with arbitrary outputs. */
function tinyHistory(rnd: () => number, unknownRate: number, maxSize: number): KvOperation[] {
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const val = () => ['a', 'b', 'c'][int(0, 2)]!;
  const h: KvOperation[] = [];
  const size = int(1, maxSize);
  for (let i = 0; i < size; i++) {
    const call = int(0, 8); // small range: many ties
    const ret = rnd() < unknownRate ? INF : call + int(0, 4); // 0: instantaneous
    const key = rnd() < 0.8 ? 'x' : 'y';
    const kind = int(0, 2);
    if (kind === 0) h.push(get(i, call, ret, key, rnd() < 0.3 ? null : val()));
    else if (kind === 1) h.push(put(i, call, ret, key, val()));
    else h.push(cas(i, call, ret, key, rnd() < 0.2 ? null : val(), val(), rnd() < 0.5));
    if (ret === INF) h[i] = lost(i, call, h[i]!.input);
  }
  return h;
}

describe('agreement with a brute-force reference', () => {
  // With the reductions (read-only, partitioning) and without them.
  const plain: Model<KvState, KvInput, KvOutput> = {
    ...kvModel,
    isReadOnly: undefined,
    partition: undefined,
  };

  it.each([
    { seed: 2024, unknownRate: 0.2, maxSize: 7 },
    { seed: 99, unknownRate: 0.4, maxSize: 9 },
  ])('matches on 4000 tiny random histories: %o', ({ seed, unknownRate, maxSize }) => {
    const rnd = prng(seed);
    const counts = { ok: 0, illegal: 0 };
    for (let n = 0; n < 4000; n++) {
      const h = tinyHistory(rnd, unknownRate, maxSize);
      const expected = bruteForce(h) ? 'ok' : 'illegal';
      expect(checkLinearizable(kvModel, h).result, JSON.stringify(h)).toBe(expected);
      expect(checkLinearizable(plain, h).result, JSON.stringify(h)).toBe(expected);
      counts[expected]++;
    }
    // Both verdicts must be well represented, or this test proves little.
    expect(counts.ok).toBeGreaterThan(500);
    expect(counts.illegal).toBeGreaterThan(500);
  });
});

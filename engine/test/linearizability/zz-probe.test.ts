import { it } from 'vitest';
import { checkLinearizable } from '/work/main/engine/test/linearizability/checker.js';
import { kvModel } from '/work/main/engine/test/linearizability/kv-model.js';
import { randomKvHistory } from '/work/main/engine/test/linearizability/random-history.js';
it('probe', () => {
  for (const unknownRate of [0, 0.001, 0.003, 0.01]) for (const keys of [['k1','k2','k3'], ['only']]) {
    const h = randomKvHistory({ seed: 42, clients: 16, opsPerClient: 250, keys, maxDuration: 20, maxGap: 4, unknownRate });
    const t0 = performance.now();
    const r = checkLinearizable(kvModel, h);
    console.log(unknownRate, keys.length, r.result, r.steps, (performance.now()-t0).toFixed(0), h.filter(o=>o.output===undefined).length);
  }
});

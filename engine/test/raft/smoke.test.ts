import { describe, expect, it } from 'vitest';
import { Cluster } from '../harness/cluster.js';

describe('smoke', () => {
  it('elects, replicates, commits', () => {
    const c = new Cluster(['a', 'b', 'c']);
    expect(c.elect('a')).toBe('a');
    c.put('a', 'x', '1');
    c.tickAll(2);
    for (const id of ['a', 'b', 'c']) expect(c.get(id).kv.get('x')).toBe('1');
  });
  it('elects by timeout', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.tickAll(40);
    expect(c.leaders().length).toBe(1);
  });
});

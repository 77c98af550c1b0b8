import { it } from 'vitest';
import { Cluster } from '../harness/cluster.js';
import { Tap, cut } from './helpers.js';
it('dbg', () => {
  const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
  const tap = new Tap(c);
  c.elect('a');
  tap.inner = cut(['a', 'b'], ['c', 'd', 'e']);
  for (let t = 1; t <= 40; t++) {
    tap.clear();
    c.tickAll(1);
    const st = ['a','b','c','d','e'].map((id) => { const r = c.node(id).raft; return `${id}:${r.role[0]}${r.term}/${r.leader ?? '-'}`; }).join(' ');
    const votes = tap.delivered.filter((m) => m.type === 'vote' || m.type === 'vote-response').map((m) => `${m.from}>${m.to}:${m.type}${'preVote' in m && m.preVote ? 'P' : ''}${m.type === 'vote-response' ? (m.granted ? '+' : '-') : ''}@${m.term}`).join(' ');
    console.log(t, st, votes);
  }
});

import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftError, Random } from '../../src/raft/index.js';
import type { Entry, HardState, Snapshot, Storage } from '../../src/raft/index.js';
import type { GroupWrite, LogStore } from '../../src/storage/index.js';
import { open, useTempDir } from './helpers.js';

const tmp = useTempDir();
const GROUPS = [0, 1, 2];

function randomEntry(rnd: Random, index: number, term: number): Entry {
  const time = rnd.int(0, 1e6);
  switch (rnd.int(0, 4)) {
    case 0:
      return { index, term, time, kind: 'noop' };
    case 1:
      return { index, term, time, kind: 'config', change: { type: 'add-learner', node: `n${index}` }, config: { voters: ['a'], learners: [`n${index}`] } };
    default:
      return { index, term, time, kind: 'normal', data: Uint8Array.from({ length: rnd.int(0, 300) }, () => rnd.int(0, 255)) };
  }
}

/** A read's outcome: its value, or the code of the RaftError it threw. */
function outcome<T>(f: () => T): T | { error: string } {
  try {
    return f();
  } catch (e) {
    if (e instanceof RaftError) return { error: e.code };
    throw e;
  }
}

/** A canonical text of a value (sorted keys, bytes in hex): deep-equal on typed arrays is slow. */
function canonical(v: unknown): string {
  if (v instanceof Uint8Array) return `<${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}>`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${k}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function reads(s: Storage, rnd: Random): string {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const out: unknown[] = [s.hardState(), first, last, s.snapshot()];
  for (let i = first - 2; i <= last + 1; i++) out.push(outcome(() => [s.term(i), s.time(i)]));
  for (let k = 0; k < 10; k++) {
    const lo = rnd.int(first - 1, last + 1);
    const hi = rnd.int(lo, last + 2);
    out.push([lo, hi, outcome(() => s.entries(lo, hi, rnd.int(0, 2000)))]);
  }
  return out.map(canonical).join('\n');
}

/** A random valid write for one group, applied to its MemoryStorage twin as well. */
function randomWrite(rnd: Random, groupId: number, m: MemoryStorage): GroupWrite {
  let snapshot: Snapshot | null = null;
  let hardState: HardState | null = null;
  const entries: Entry[] = [];
  const maxTerm = m.term(m.lastIndex());
  if (rnd.chance(0.05)) {
    const index = m.firstIndex() + rnd.int(0, 20);
    snapshot = { meta: { index, term: maxTerm + 1, time: rnd.int(0, 1e6), config: { voters: ['a', `s${index}`], learners: [] } }, data: Uint8Array.of(index & 255) };
    m.applySnapshot(snapshot);
    hardState = { term: maxTerm + 1, vote: null, commit: index };
  }
  if (rnd.chance(0.8)) {
    // Never rewrite committed entries: the core does not, and LogStore refuses it.
    const commit = hardState?.commit ?? m.hardState().commit;
    const from = rnd.int(Math.max(m.firstIndex(), commit + 1), m.lastIndex() + 1);
    let term = m.term(from - 1) + rnd.int(0, 1);
    for (let i = 0; i < rnd.int(1, 6); i++) {
      entries.push(randomEntry(rnd, from + i, term));
      term += rnd.int(0, 1);
    }
    m.append(entries);
  }
  if (rnd.chance(0.5)) {
    const hs = hardState ?? m.hardState();
    hardState = { term: hs.term + rnd.int(0, 1), vote: rnd.chance(0.5) ? null : 'a', commit: rnd.int(hs.commit, m.lastIndex()) };
  }
  if (hardState) m.setHardState(hardState);
  return { groupId, snapshot, entries, hardState };
}

describe('LogStore against MemoryStorage', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`gives the same answer to every read after the same random writes (seed ${seed})`, () => {
      const rnd = new Random(seed);
      const options = { cacheBytesPerGroup: rnd.int(0, 3000) };
      let store: LogStore = open(tmp.file(), options);
      const twins = new Map(GROUPS.map((id) => [id, new MemoryStorage({ voters: ['a'], learners: [] })]));
      for (const id of GROUPS) store.createGroup(id, { voters: ['a'], learners: [] });

      for (let step = 0; step < 300; step++) {
        const op = rnd.int(0, 19);
        if (op < 16) {
          store.persist(GROUPS.filter(() => rnd.chance(0.6)).map((id) => randomWrite(rnd, id, twins.get(id)!)));
        } else if (op < 19) {
          const id = rnd.pick(GROUPS);
          const m = twins.get(id)!;
          const index = rnd.int(m.firstIndex() - 1, m.hardState().commit);
          const config = { voters: ['a'], learners: [`c${index}`] };
          const data = Uint8Array.of(1, 2, index & 255);
          m.compact(index, config, data);
          store.compact(id, index, config, data);
        } else {
          store.close();
          store = open(tmp.file(), options);
          expect(store.recoveredTails()).toEqual([]);
        }
        for (const id of GROUPS) {
          const seedOfReads = rnd.uint32();
          expect(reads(store.group(id), new Random(seedOfReads)), `step ${step}, group ${id}`).toEqual(reads(twins.get(id)!, new Random(seedOfReads)));
        }
      }
      store.close();
    });
  }
});

/**
 * Small helpers shared by the Raft unit tests (not a test file itself): a message tap that
 * records everything offered for delivery, partition filters that compose with it, and readers
 * for a member's log.
 */
import { expect } from 'vitest';
import { RaftError } from '../../src/raft/index.js';
import type { Entry, Message, MessageType, NodeId, RaftErrorCode } from '../../src/raft/index.js';
import { Cluster } from '../harness/cluster.js';
import type { Filter, MemberOptions } from '../harness/cluster.js';

const decoder = new TextDecoder();

/**
 * Records every message the cluster offers for delivery (`sent`, in order) and what got through
 * `inner` (`delivered`). Set `inner` to partition or rewrite; the tap stays installed.
 */
export class Tap {
  readonly sent: Message[] = [];
  readonly delivered: Message[] = [];
  inner: Filter | null = null;

  constructor(readonly cluster: Cluster) {
    cluster.filter = (m) => {
      this.sent.push(m);
      const out = this.inner ? this.inner(m) : m;
      if (out) this.delivered.push(out);
      return out;
    };
  }

  /** Messages of `type` that were sent, optionally only those from/to the given members. */
  of<T extends MessageType>(type: T, where: { from?: NodeId; to?: NodeId } = {}): Extract<Message, { type: T }>[] {
    return this.sent.filter(
      (m): m is Extract<Message, { type: T }> =>
        m.type === type && (where.from === undefined || m.from === where.from) && (where.to === undefined || m.to === where.to),
    );
  }

  clear(): void {
    this.sent.length = 0;
    this.delivered.length = 0;
  }
}

/** Drops every message between the two groups, both ways. */
export function cut(a: readonly NodeId[], b: readonly NodeId[]): Filter {
  return (m) => ((a.includes(m.from) && b.includes(m.to)) || (b.includes(m.from) && a.includes(m.to)) ? null : m);
}

/** Drops every message from or to `id`. */
export function alone(id: NodeId): Filter {
  return (m) => (m.from === id || m.to === id ? null : m);
}

/** Applies filters in order; a message dropped by one is dropped. */
export function chain(...filters: Filter[]): Filter {
  return (m) => {
    let out: Message | null = m;
    for (const f of filters) {
      if (out === null) return null;
      out = f(out);
    }
    return out;
  };
}

/** A member's whole log (persisted and unstable), from its first index. */
export function logOf(c: Cluster, id: NodeId): Entry[] {
  const log = c.node(id).raft.log;
  return log.slice(log.firstIndex(), log.lastIndex() + 1, Number.POSITIVE_INFINITY) ?? [];
}

/** The (index, term) pairs of a member's log, for comparing logs. */
export function shape(c: Cluster, id: NodeId): string[] {
  return logOf(c, id).map((e) => `${e.index}:${e.term}`);
}

export function text(e: Entry): string | null {
  return e.kind === 'normal' ? decoder.decode(e.data) : null;
}

/** The payloads of the normal entries in a member's log, in order. */
export function payloads(c: Cluster, id: NodeId): string[] {
  return logOf(c, id).flatMap((e) => (e.kind === 'normal' ? [decoder.decode(e.data)] : []));
}

/**
 * A cluster whose members draw their election timeouts from seeds `seedBase + i`, so tests can
 * try many schedules. (The harness gives member i seed i; restarting an empty member rebuilds it
 * from its empty storage with the given options, which is the same as a fresh start.)
 */
export function seededCluster(ids: readonly NodeId[], seedBase: number, options: MemberOptions = {}): Cluster {
  const c = new Cluster(ids, options);
  ids.forEach((id, i) => c.restart(id, { randomSeed: seedBase + i * 7919 }));
  return c;
}

/** Asserts that `fn` throws a RaftError with `code`. */
export function expectRaftError(fn: () => unknown, code: RaftErrorCode): void {
  let thrown: unknown = null;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected a RaftError ${code}`).toBeInstanceOf(RaftError);
  expect((thrown as RaftError).code).toBe(code);
}

/** Ticks every live member `times` times, checking after each tick that no term has two leaders. */
export function tickChecked(c: Cluster, times: number): void {
  for (let i = 0; i < times; i++) {
    c.tickAll(1);
    const byTerm = new Map<number, NodeId>();
    for (const id of c.members.keys()) {
      if (c.isDown(id)) continue;
      const r = c.node(id).raft;
      if (r.role !== 'leader') continue;
      const other = byTerm.get(r.term);
      if (other !== undefined) throw new Error(`two leaders in term ${r.term}: ${other} and ${id}`);
      byTerm.set(r.term, id);
    }
  }
}

/** Ticks until `done` holds (checking election safety each tick); returns the ticks taken. */
export function tickUntil(c: Cluster, done: () => boolean, max = 500): number {
  for (let i = 0; i < max; i++) {
    if (done()) return i;
    tickChecked(c, 1);
  }
  if (done()) return max;
  throw new Error(`condition not reached within ${max} ticks`);
}

/**
 * NodeHosts in one process over real parts: a LogStore (SQLite) in a temp dir each, and each
 * host's PeerTransport served on its own gRPC server on 127.0.0.1, advertising the bound port.
 * One host bootstraps, the others join through the leader; then KV writes, linearizable reads on
 * followers, NOT_LEADER redirects, overwritten and timed-out proposals, leadership transfer,
 * graceful shutdown handover, several groups on the same hosts, and a joiner brought up by a
 * snapshot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftTransportServiceService } from '../../src/gen/leviathan/raft/v1/raft.js';
import { KvStateMachine, encodeKvCommand } from '../../src/kv/kv-state-machine.js';
import type { KvCommand } from '../../src/kv/kv-state-machine.js';
import { NodeError, NodeHost } from '../../src/node/index.js';
import type { RaftGroup } from '../../src/node/index.js';
import { EMPTY_CONFIG } from '../../src/raft/index.js';
import type { NodeId } from '../../src/raft/index.js';
import { LogStore, memberId } from '../../src/storage/index.js';
import { PEER_SERVER_OPTIONS } from '../../src/transport/peer-transport.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** The rejection of a promise that must reject. */
async function rejection(p: Promise<unknown>): Promise<NodeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NodeError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

interface Member {
  readonly name: string;
  readonly id: NodeId;
  readonly dir: string;
  readonly store: LogStore;
  readonly host: NodeHost;
  readonly server: grpc.Server;
  readonly address: string;
  /** The KV state machine of each group on this host. */
  readonly kv: Map<number, KvStateMachine>;
  stopped: boolean;
  /** Snapshots this host installed from a leader, and took itself. */
  readonly snapshots: () => { installed: number; created: number };
}

const members: Member[] = [];

afterEach(() => {
  for (const m of members.splice(0)) {
    m.host.stop();
    m.server.forceShutdown();
    m.store.close();
    fs.rmSync(m.dir, { recursive: true, force: true });
  }
});

/**
 * A host with `bootstrap` groups created with itself as the only voter, and `join` groups
 * created with an empty configuration (waiting to be added by a leader).
 */
async function startMember(
  name: string,
  groups: { bootstrap?: number[]; join?: number[] },
  snapshotEntries = 10_000,
  log: Logger = logger,
): Promise<Member> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leviathan-node-host-'));
  const store = LogStore.open(path.join(dir, 'raft.db'), { fsync: false });
  const id = memberId(store.initIdentity(name));
  for (const g of groups.bootstrap ?? []) store.createGroup(g, { voters: [id], learners: [] });
  for (const g of groups.join ?? []) store.createGroup(g, EMPTY_CONFIG);
  const server = new grpc.Server(PEER_SERVER_OPTIONS);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const address = `127.0.0.1:${port}`;
  const kv = new Map<number, KvStateMachine>();
  let snapshotsInstalled = 0;
  let snapshotsCreated = 0;
  const host = new NodeHost({
    store,
    selfId: id,
    advertise: address,
    tickMs: 10,
    electionTicks: 10,
    snapshotEntries,
    logger: log,
    metrics: {
      persisted: () => undefined,
      leaderChanged: () => undefined,
      snapshot: (_group, kind) => (kind === 'installed' ? snapshotsInstalled++ : snapshotsCreated++),
      foreignMessage: () => undefined,
      applied: () => undefined,
      transport: { sent: () => undefined, dropped: () => undefined, received: () => undefined, reconnect: () => undefined },
    },
    stateMachine: (groupId) => {
      const sm = new KvStateMachine();
      kv.set(groupId, sm);
      return sm;
    },
    transport: { backoffMs: { initial: 20, max: 200 }, stallMs: 1_000 },
  });
  server.addService(RaftTransportServiceService, host.transport.service());
  host.start();
  const m: Member = {
    name,
    id,
    dir,
    store,
    host,
    server,
    address,
    kv,
    stopped: false,
    snapshots: () => ({ installed: snapshotsInstalled, created: snapshotsCreated }),
  };
  members.push(m);
  return m;
}

function stopMember(m: Member): void {
  m.host.stop();
  m.server.forceShutdown();
  m.stopped = true;
}

const g = (m: Member, groupId = 0): RaftGroup => m.host.group(groupId);

/** The live member leading `groupId`, once every live member agrees on it. */
async function leaderOf(groupId: number, timeoutMs = 5_000): Promise<Member> {
  let leader: Member | undefined;
  await until(`a leader of group ${groupId}`, () => {
    const live = members.filter((m) => !m.stopped && m.host.groups.has(groupId));
    leader = live.find((m) => g(m, groupId).isLeader());
    return leader !== undefined && live.every((m) => g(m, groupId).leaderId() === leader!.id);
  }, timeoutMs);
  return leader!;
}

/** What the engine's housekeeping does: a leader records its own address in the group. */
async function registerSelf(m: Member, groupId: number): Promise<void> {
  await g(m, groupId).registerAddress(m.id, m.address, 5_000);
}

/** Three hosts serving `groups`: n0 bootstraps them and leads, n1 and n2 join through it. */
async function cluster(groups: number[] = [0], snapshotEntries = 10_000): Promise<[Member, Member, Member]> {
  const a = await startMember('n0', { bootstrap: groups }, snapshotEntries);
  for (const gid of groups) {
    expect((await leaderOf(gid)).id).toBe(a.id);
    await registerSelf(a, gid);
  }
  const b = await startMember('n1', { join: groups }, snapshotEntries);
  const c = await startMember('n2', { join: groups }, snapshotEntries);
  for (const gid of groups) {
    for (const m of [b, c]) {
      expect(await a.host.join(gid, m.id, m.address, false, 10_000)).toEqual({ role: 'voter', replaced: [] });
    }
  }
  return [a, b, c];
}

function propose(m: Member, cmd: KvCommand, groupId = 0, timeoutMs = 5_000): Promise<unknown> {
  return g(m, groupId).propose(encodeKvCommand(cmd), timeoutMs);
}

/** Waits until every live member's state machine of `groupId` has `key` = `value`. */
async function everywhere(groupId: number, key: string, value: string | undefined): Promise<void> {
  await until(`${key}=${String(value)} on every host`, () =>
    members.filter((m) => !m.stopped).every((m) => m.kv.get(groupId)?.get(key) === value),
  );
}

describe('NodeHost over gRPC and SQLite', () => {
  it('bootstraps one member, joins two, and replicates KV writes to every host', async () => {
    const [a, b, c] = await cluster();
    const ids = [a.id, b.id, c.id];
    for (const m of [a, b, c]) {
      await until('the final configuration applied everywhere', () => g(m).status().config.voters.length === 3);
      expect([...g(m).status().config.voters].sort()).toEqual([...ids].sort());
      expect(g(m).status().config.learners).toEqual([]);
    }
    // Every member's address is in every host's replicated address book.
    await until('address books', () => [a, b, c].every((m) => g(m).addresses.size === 3));
    for (const m of [a, b, c]) {
      expect(g(m).addresses).toEqual(new Map([[a.id, a.address], [b.id, b.address], [c.id, c.address]]));
    }

    // Concurrent puts, then compare-and-set.
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => propose(a, { op: 'put', key: `k${i % 10}`, value: `v${i}` })));
    expect(results).toEqual(Array.from({ length: 50 }, () => ({ ok: true })));
    expect(await propose(a, { op: 'cas', key: 'k0', expected: 'v40', value: 'swapped' })).toEqual({ ok: true, swapped: true });
    expect(await propose(a, { op: 'cas', key: 'k0', expected: 'v40', value: 'again' })).toEqual({ ok: true, swapped: false });
    expect(await g(a).propose(new TextEncoder().encode('not json'), 5_000)).toEqual({ ok: false, error: 'command is not JSON' });

    await everywhere(0, 'k0', 'swapped');
    for (let i = 1; i < 10; i++) await everywhere(0, `k${i}`, `v${40 + i}`);
    for (const m of [a, b, c]) expect(m.kv.get(0)?.size).toBe(10);
    // The logs on disk agree.
    await until('applied everywhere', () => [b, c].every((m) => g(m).appliedIndex === g(a).appliedIndex));
    const last = g(a).appliedIndex;
    for (const m of [b, c]) {
      expect(m.store.group(0).term(last)).toBe(a.store.group(0).term(last));
    }
  });

  it('serves linearizable reads on a follower', async () => {
    const [a, b, c] = await cluster();
    for (let i = 0; i < 20; i++) {
      expect(await propose(a, { op: 'put', key: 'x', value: `v${i}` })).toEqual({ ok: true });
      const written = g(a).appliedIndex;
      const follower = i % 2 === 0 ? b : c;
      // Acknowledged on the leader: a linearizable read anywhere must see it.
      const index = await g(follower).linearizableRead(2_000);
      expect(index).toBeGreaterThanOrEqual(written);
      expect(follower.kv.get(0)?.get('x')).toBe(`v${i}`);
    }
    // On the leader too.
    await g(a).linearizableRead(2_000);
    expect(a.kv.get(0)?.get('x')).toBe('v19');
  });

  it('rejects a proposal on a follower with NOT_LEADER, the leader id and address', async () => {
    const [a, b, c] = await cluster();
    for (const follower of [b, c]) {
      const err = await rejection(propose(follower, { op: 'put', key: 'k', value: 'v' }));
      expect(err.code).toBe('NOT_LEADER');
      expect(err.leaderId).toBe(a.id);
      expect(err.leaderAddress).toBe(a.address);
      expect(err.writeNotApplied).toBe(true);
      // The host-level check says the same.
      expect(() => follower.host.leading(0)).toThrow(expect.objectContaining({ code: 'NOT_LEADER', leaderId: a.id, leaderAddress: a.address }));
      await expect(follower.host.transferLeadership(0, null, 1_000)).rejects.toMatchObject({ code: 'NOT_LEADER', leaderId: a.id });
    }
    // An unknown group.
    expect(() => a.host.group(42)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    await sleep(50);
    for (const m of [a, b, c]) expect(m.kv.get(0)?.get('k')).toBeUndefined();
  });

  it('rejects with PROPOSAL_DROPPED a proposal whose entry a new leader overwrote', async () => {
    const [a, b, c] = await cluster();
    expect(await propose(a, { op: 'put', key: 'before', value: '1' })).toEqual({ ok: true });
    await everywhere(0, 'before', '1');
    const term = g(a).status().term;

    // Cut the old leader's outgoing traffic (what it hears still arrives): its next entry stays
    // on its own log only.
    const transport = a.host.transport;
    const realSend = transport.send.bind(transport);
    transport.send = () => undefined;
    const index = g(a).status().lastIndex + 1;
    const doomed = propose(a, { op: 'put', key: 'doomed', value: 'x' }, 0, 15_000);
    doomed.catch(() => undefined);
    expect(g(a).status().lastIndex).toBe(index);

    // The others elect a leader of a later term, which commits its own entry at that index.
    let next: Member | undefined;
    await until('a new leader among the others', () => {
      next = [b, c].find((m) => g(m).isLeader() && g(m).status().term > term && g(m).status().commit >= index);
      return next !== undefined;
    });
    // Let the old leader talk again: it learns the commit index and applies the new entry.
    transport.send = realSend;
    const err = await rejection(doomed);
    expect(err.code).toBe('PROPOSAL_DROPPED');
    expect(err.writeNotApplied).toBe(true);
    expect(a.store.group(0).term(index)).toBeGreaterThan(term);

    expect(await propose(next!, { op: 'put', key: 'after', value: '2' })).toEqual({ ok: true });
    await everywhere(0, 'after', '2');
    for (const m of [a, b, c]) expect(m.kv.get(0)?.get('doomed')).toBeUndefined();
  });

  it('times out a proposal (outcome unknown) when the quorum is gone', async () => {
    const [a, b, c] = await cluster();
    stopMember(b);
    stopMember(c);
    const err = await rejection(propose(a, { op: 'put', key: 'k', value: 'v' }, 0, 300));
    expect(err.code).toBe('TIMEOUT');
    expect(err.writeNotApplied).toBe(false);
  });

  it('moves leadership with transferLeadership', async () => {
    const [a, b, c] = await cluster();
    expect(await a.host.transferLeadership(0, c.id, 3_000)).toBe(c.id);
    expect((await leaderOf(0)).id).toBe(c.id);
    expect(await propose(c, { op: 'put', key: 'k', value: 'from c' })).toEqual({ ok: true });
    await everywhere(0, 'k', 'from c');
    // The old leader now redirects to the new one.
    const err = await rejection(propose(a, { op: 'put', key: 'k', value: 'from a' }));
    expect(err).toMatchObject({ code: 'NOT_LEADER', leaderId: c.id, leaderAddress: c.address });

    // Without a target: the most caught-up other voter.
    const to = await c.host.transferLeadership(0, null, 3_000);
    expect([a.id, b.id]).toContain(to);
    expect((await leaderOf(0)).id).toBe(to);
    // A target that is not a voter.
    const leader = members.find((m) => m.id === to)!;
    await expect(leader.host.transferLeadership(0, 'nobody@00000000', 1_000)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('hands leadership over on shutdown()', async () => {
    const [a, b, c] = await cluster();
    expect(await propose(a, { op: 'put', key: 'k', value: 'v1' })).toEqual({ ok: true });
    const term = g(a).status().term;
    const t0 = Date.now();
    await a.host.shutdown(3_000);
    expect(Date.now() - t0).toBeLessThan(1_000);
    // A handover, not an election after the old leader went silent: when shutdown() returns, the
    // new leader is already in place, one term later.
    const now = [b, c].filter((m) => g(m).isLeader());
    expect(now.length).toBe(1);
    expect(g(now[0]!).status().term).toBe(term + 1);
    a.stopped = true;
    a.server.forceShutdown();
    const next = await leaderOf(0, 3_000);
    expect(next).toBe(now[0]);
    expect(await propose(next, { op: 'put', key: 'k', value: 'v2' })).toEqual({ ok: true });
    await everywhere(0, 'k', 'v2');
    // A stopped host refuses further work.
    const err = await rejection(propose(a, { op: 'put', key: 'k', value: 'v3' }));
    expect(['NOT_LEADER', 'SHUTTING_DOWN']).toContain(err.code);
  });

  it('runs two groups on the same hosts with independent leaders', async () => {
    const [a, b, c] = await cluster([0, 1]);
    expect(await a.host.transferLeadership(1, b.id, 3_000)).toBe(b.id);
    expect((await leaderOf(1)).id).toBe(b.id);
    expect((await leaderOf(0)).id).toBe(a.id);

    expect(await propose(a, { op: 'put', key: 'k', value: 'zero' }, 0)).toEqual({ ok: true });
    expect(await propose(b, { op: 'put', key: 'k', value: 'one' }, 1)).toEqual({ ok: true });
    await everywhere(0, 'k', 'zero');
    await everywhere(1, 'k', 'one');
    // Each group redirects to its own leader.
    expect(await rejection(propose(a, { op: 'put', key: 'k', value: 'x' }, 1))).toMatchObject({ code: 'NOT_LEADER', leaderId: b.id, leaderAddress: b.address });
    expect(await rejection(propose(b, { op: 'put', key: 'k', value: 'x' }, 0))).toMatchObject({ code: 'NOT_LEADER', leaderId: a.id, leaderAddress: a.address });
    expect(await rejection(propose(c, { op: 'put', key: 'k', value: 'x' }, 1))).toMatchObject({ code: 'NOT_LEADER', leaderId: b.id });
    // Linearizable reads per group on the third host.
    await g(c, 0).linearizableRead(2_000);
    await g(c, 1).linearizableRead(2_000);
    expect(c.kv.get(0)?.get('k')).toBe('zero');
    expect(c.kv.get(1)?.get('k')).toBe('one');
    // Both groups share one store on each host.
    for (const m of [a, b, c]) expect(m.store.groupIds()).toEqual([0, 1]);
  });

  it('brings a joiner up by a snapshot after compaction, address book included', async () => {
    const [a, b, c] = await cluster([0], 20);
    for (let i = 0; i < 60; i++) expect(await propose(a, { op: 'put', key: `k${i % 7}`, value: `v${i}` })).toEqual({ ok: true });
    await until('a compacted log', () => a.store.group(0).firstIndex() > 1);
    const d = await startMember('n3', { join: [0] }, 20);
    expect(await a.host.join(0, d.id, d.address, false, 10_000)).toEqual({ role: 'voter', replaced: [] });
    await until('the joiner applied the writes', () => d.kv.get(0)?.get('k4') === 'v53');
    expect(d.snapshots().installed).toBeGreaterThan(0);
    expect(a.snapshots().created).toBeGreaterThan(0);
    for (let i = 0; i < 7; i++) expect(d.kv.get(0)?.get(`k${i}`)).toBe(a.kv.get(0)?.get(`k${i}`));
    expect(g(d).currentSnapshotIndex).toBeGreaterThan(0);
    for (const m of [a, b, c]) expect(g(d).addresses.get(m.id)).toBe(m.address);
    await g(d).linearizableRead(2_000);
    expect(await propose(a, { op: 'put', key: 'last', value: 'x' })).toEqual({ ok: true });
    await everywhere(0, 'last', 'x');
  });
});

/**
 * Damaged Raft storage on real processes. A member whose log was cut short after its commit
 * index (a torn write, a flipped bit in an entry nobody may have acknowledged yet) cuts the bad
 * tail off, withholds its vote until it has caught up past what it lost, and rejoins. Damage at
 * or below the commit index is fatal: the process exits with code 3 naming the file, the group
 * and the index, and the remedy is to wipe the member and let it rejoin as a new incarnation.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { KvClient, KvError } from '../../src/kv/kv-client.js';
import type { GroupView } from '../../src/node/status.js';
import { entryCrc } from '../../src/storage/codec.js';
import { sleep, waitFor } from './engine-cluster.js';
import type { EngineCluster, EngineNode } from './engine-cluster.js';
import { expectAllReadable, metricValue, putAll, putSurely, useCluster } from './helpers.js';

const startCluster = useCluster(30_000);

const TRUNCATED = 'truncated a corrupt, uncommitted log tail';
const CAUGHT_UP = 'caught up past the truncated log tail; voting again';

/** The node's pino records written after `from` characters of its log file. */
function records(n: EngineNode, from = 0): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of n.log().slice(from).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by kill -9
    }
  }
  return out;
}

function record(n: EngineNode, from: number, msgPrefix: string): Record<string, unknown> | undefined {
  return records(n, from).find((r) => typeof r.msg === 'string' && r.msg.startsWith(msgPrefix));
}

/** Local (possibly stale) reads on one replica: every acknowledged value must be there. */
async function expectAllLocal(c: EngineCluster, acked: ReadonlyMap<string, string>, n: EngineNode): Promise<void> {
  await expectAllReadable(c, acked, { endpoint: n.address, consistency: 'local', timeoutMs: 5_000 });
}

/** Waits until follower `f` has the leader's whole log, committed and applied. */
async function waitInSync(c: EngineCluster, leader: number, f: number): Promise<GroupView> {
  return waitFor(`node-${f} in sync with the leader`, async () => {
    const l = await c.node(leader).group();
    const s = await c.node(f).group();
    if (l === null || s === null || l.role !== 'leader') return null;
    return s.lastIndex === l.lastIndex && s.commit === l.commit && s.applied === l.commit ? s : null;
  });
}

interface EntryRowLite {
  idx: number;
  term: number;
  time: number;
  kind: number;
  payload: Buffer;
  crc: number;
}

function openRaftDb(n: EngineNode): Database.Database {
  return new Database(join(n.dataDir, 'raft.db'));
}

function commitIndexOf(db: Database.Database): number {
  return (db.prepare('SELECT commit_index FROM hard_state WHERE group_id = 0').get() as { commit_index: number }).commit_index;
}

function entriesOf(db: Database.Database): EntryRowLite[] {
  return db.prepare('SELECT idx, term, time, kind, payload, crc FROM entry WHERE group_id = 0 ORDER BY idx').all() as EntryRowLite[];
}

/** Flips the last byte of an entry's payload, leaving its stored CRC as it was. */
function flipPayload(db: Database.Database, row: EntryRowLite): void {
  const payload = Buffer.from(row.payload);
  expect(payload.length).toBeGreaterThan(0);
  payload[payload.length - 1] = (payload[payload.length - 1] as number) ^ 0x5a;
  const changed = db.prepare('UPDATE entry SET payload = ? WHERE group_id = 0 AND idx = ?').run(payload, row.idx).changes;
  expect(changed).toBe(1);
}

/** Appends a row at `idx` as a torn write leaves it: plausible content, a CRC that does not match. */
function appendTornRow(db: Database.Database, idx: number, term: number, time: number, intact = false): void {
  const payload = Buffer.from(`\u0001torn write at ${idx}`);
  const crc = entryCrc(0, idx, term, time, 0, payload);
  db.prepare('INSERT INTO entry (group_id, idx, term, time, kind, payload, crc) VALUES (0, ?, ?, ?, 0, ?, ?)').run(idx, term, time, payload, intact ? crc : (crc + 1) >>> 0);
}

describe('corrupt Raft storage on real processes', () => {
  it('a torn tail above the commit index is cut off; the member is fenced until it catches up past it', async () => {
    const c = await startCluster({ size: 3 });
    const acked = await putAll(c, 'before', 30);
    const leader = await c.waitLeader();
    const fi = [0, 1, 2].find((i) => i !== leader) as number;
    const f = c.node(fi);
    await waitInSync(c, leader, fi);
    await f.kill();

    // Three rows after the last entry: the first fails its checksum (a torn write), the next two
    // are intact but follow it, so they must go too.
    const db = openRaftDb(f);
    const last = entriesOf(db).at(-1) as EntryRowLite;
    expect(commitIndexOf(db)).toBeLessThanOrEqual(last.idx);
    appendTornRow(db, last.idx + 1, last.term, last.time);
    appendTornRow(db, last.idx + 2, last.term, last.time, true);
    appendTornRow(db, last.idx + 3, last.term, last.time, true);
    db.close();
    const fence = last.idx + 3;

    const logFrom = f.log().length;
    c.startNode(fi);
    const st = await waitFor('the restarted node to serve /raft/status', async () => f.group());
    expect(f.running).toBe(true);
    const warn = record(f, logFrom, TRUNCATED);
    expect(warn, 'truncation warning in the log').toBeDefined();
    expect(warn?.truncatedFrom).toBe(last.idx + 1);
    expect(warn?.lostThrough).toBe(fence);
    expect(st.lastIndex).toBe(last.idx);
    expect(st.recoveryFence).toBe(fence);

    // It follows the leader again, but the cluster's commit index has not reached the fence
    // (nothing was written since the kill): the fence must still be up.
    const leaderCommit = (await c.node(leader).group())?.commit as number;
    expect(leaderCommit).toBeLessThan(fence);
    const following = await waitFor('the restarted node to follow the leader', async () => {
      const s = await f.group();
      return s !== null && s.leader !== null && s.commit === leaderCommit ? s : null;
    });
    expect(following.recoveryFence).toBe(fence);
    expect(f.log().slice(logFrom)).not.toContain(CAUGHT_UP);

    // New writes carry the commit index past the fence: it drops, and the node catches up.
    for (const [k, v] of await putAll(c, 'after', 10)) acked.set(k, v);
    const cleared = await waitFor('the fence to clear and the node to catch up', async () => {
      const l = await c.node(leader).group();
      const s = await f.group();
      return l !== null && s !== null && s.recoveryFence === 0 && s.applied === l.commit ? s : null;
    });
    expect(cleared.commit).toBeGreaterThanOrEqual(fence);
    expect(record(f, logFrom, CAUGHT_UP)?.fence).toBe(fence);
    await expectAllLocal(c, acked, f);
    await expectAllReadable(c, acked);

    // The cleared fence is durable: a restart does not fence again.
    await f.kill();
    const logFrom2 = f.log().length;
    c.startNode(fi);
    const again = await waitFor('the node after a second restart', async () => f.group());
    expect(again.recoveryFence).toBe(0);
    expect(f.log().slice(logFrom2)).not.toContain('withholding votes');
    expect(f.log().slice(logFrom2)).not.toContain(TRUNCATED);
  }, 90_000);

  it('a flipped entry above the commit index is cut off; the member withholds its vote until caught up', async () => {
    const c = await startCluster({ size: 3 });
    const acked = await putAll(c, 'before', 20);
    const li = await c.waitLeader();
    const [ai, bi] = [0, 1, 2].filter((i) => i !== li) as [number, number];
    const [l, a, b] = [c.node(li), c.node(ai), c.node(bi)];
    await waitInSync(c, li, ai);
    const base = await waitInSync(c, li, bi);

    // Nothing reaches the leader nor b any more; a still receives from the leader. Writes sent
    // to the leader now reach a's log but can never commit: a ends up with entries past its
    // commit index, for good.
    c.isolate(bi);
    c.isolate(li);
    const direct = c.adopt(new KvClient([l.address], { timeoutMs: 2_000 }));
    const limbo = Promise.allSettled(Array.from({ length: 5 }, (_, k) => direct.put(`limbo-${k}`, 'x')));
    await waitFor('a to hold uncommitted entries', async () => {
      const s = await a.group();
      return s !== null && s.lastIndex >= base.lastIndex + 5 ? s : null;
    });
    await a.kill();
    // None of them could be acknowledged: no majority heard of them.
    for (const r of await limbo) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(KvError);
    }

    const db = openRaftDb(a);
    const commit = commitIndexOf(db);
    // a's commit index is b's last index: once a loses what lies above it, neither log is ahead.
    expect(commit).toBe(base.lastIndex);
    const rows = entriesOf(db);
    const above = rows.filter((r) => r.idx > commit);
    expect(above.length).toBeGreaterThanOrEqual(5);
    // Damage the first entry above the commit index (a real entry, with a real CRC), and add
    // a torn write after the last one.
    flipPayload(db, above[0] as EntryRowLite);
    const last = above.at(-1) as EntryRowLite;
    appendTornRow(db, last.idx + 1, last.term, last.time);
    db.close();
    const fence = last.idx + 1;

    // Only a and b run now: the leader is gone, b can hear again.
    await l.kill();
    c.heal(bi);
    const logFrom = a.log().length;
    c.startNode(ai);
    const st = await waitFor('a to serve /raft/status', async () => a.group());
    expect(a.running).toBe(true);
    const warn = record(a, logFrom, TRUNCATED);
    expect(warn?.truncatedFrom).toBe(commit + 1);
    expect(warn?.lostThrough).toBe(fence);
    expect(st.lastIndex).toBe(commit);
    expect(st.recoveryFence).toBe(fence);

    // a's log is now exactly as long as b's: without the fence, either would win the other's
    // vote within an election timeout or two. With it, no leader may appear, although a and b
    // talk to each other.
    const receivedBefore = metricValue(await a.metrics(), 'leviathan_transport_received_messages_total');
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      expect(await c.leaderIndex()).toBeNull();
      expect((await a.group())?.recoveryFence).toBe(fence);
      await sleep(100);
    }
    expect(metricValue(await a.metrics(), 'leviathan_transport_received_messages_total')).toBeGreaterThan(receivedBefore);

    // The old leader comes back with the lost entries: it wins b's vote, its first entry commits
    // everything a lost, and a's fence drops.
    c.heal(li);
    c.startNode(li);
    const newLeader = await c.waitLeader();
    expect(newLeader).toBe(li);
    for (const [k, v] of await putAll(c, 'after', 10)) acked.set(k, v);
    await waitFor('a to clear its fence and catch up', async () => {
      const lv = await l.group();
      const s = await a.group();
      return lv !== null && s !== null && s.recoveryFence === 0 && s.applied === lv.commit ? s : null;
    });
    expect(record(a, logFrom, CAUGHT_UP)?.fence).toBe(fence);
    await c.waitVoters(3);
    await expectAllLocal(c, acked, a);
    await expectAllReadable(c, acked);
    // a is a full voter again: with b down, the leader still commits with a's vote.
    await b.kill();
    const client = c.client({ timeoutMs: 10_000 });
    await putSurely(client, 'with-a-only', 'yes');
    expect(await client.get('with-a-only', { endpoint: a.address })).toBe('yes');
  }, 90_000);

  it('a flipped committed entry stops the member with exit code 3; wiped, it rejoins as a new member', async () => {
    const c = await startCluster({ size: 3 });
    const acked = await putAll(c, 'before', 40);
    const li = await c.waitLeader();
    const fi = [0, 1, 2].find((i) => i !== li) as number;
    const f = c.node(fi);
    await waitInSync(c, li, fi);
    const old = (await f.status())?.node;
    expect(old).toBeDefined();
    await f.kill();

    // A key-value write in the middle of the committed log.
    const db = openRaftDb(f);
    const commit = commitIndexOf(db);
    const committed = entriesOf(db).filter((r) => r.idx <= commit && r.kind === 0);
    expect(committed.length).toBeGreaterThan(20);
    const victim = committed[Math.floor(committed.length / 2)] as EntryRowLite;
    expect(victim.idx).toBeLessThan(commit);
    flipPayload(db, victim);
    db.close();

    const logFrom = f.log().length;
    const startedAt = Date.now();
    c.startNode(fi);
    const code = await f.waitExit(20_000);
    const took = Date.now() - startedAt;
    expect(code).toBe(3);
    expect(took).toBeLessThan(10_000);
    const out = f.log().slice(logFrom);
    const file = join(f.dataDir, 'raft.db');
    expect(out).toContain(file);
    expect(out).toContain(`Raft group 0, log index ${victim.idx}`);
    expect(out).toContain('wipe its data directory');
    const fatal = records(f, logFrom).find((r) => r.level === 60);
    expect(fatal).toMatchObject({ file, group: 0, index: victim.idx });
    expect(out).not.toContain('engine started');

    // The other two carry on.
    for (const [k, v] of await putAll(c, 'during', 20)) acked.set(k, v);

    // The documented remedy: wipe the data directory, start the node as a joiner.
    f.wipe();
    c.startJoiner(fi);
    const fresh = await waitFor('the rejoined node to serve /raft/status', async () => (await f.status())?.node);
    expect(fresh.name).toBe(old?.name);
    expect(fresh.incarnation).not.toBe(old?.incarnation);
    expect(fresh.memberId).not.toBe(old?.memberId);
    const others = await Promise.all([0, 1, 2].filter((i) => i !== fi).map(async (i) => (await c.node(i).status())?.node.memberId as string));
    const { view } = await c.waitVoterSet([...others, fresh.memberId]);
    expect(view.members.map((m) => m.id)).not.toContain(old?.memberId);
    expect(f.running).toBe(true);
    await expectAllReadable(c, acked, { endpoint: f.address });
  }, 90_000);
});

/**
 * LeviathanClient against a real 3-node SQL cluster: writes through any endpoint, queued writes,
 * a leader killed under the client (it must find the new one by itself and lose no
 * acknowledged write), and backup/restore through files.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LeviathanClient, LeviathanError } from '../../src/sql/client.js';
import { useCluster } from './helpers.js';

const startCluster = useCluster();

describe('LeviathanClient on a real cluster', () => {
  it('executes, queues, survives a leader kill, and backs up and restores', async () => {
    const c = await startCluster({ size: 3, stateMachine: 'sql', heartbeatMs: 50, electionTimeoutMs: 300 });
    const client = new LeviathanClient(c.nodes.map((n) => n.address), { timeoutMs: 10_000 });
    const dir = mkdtempSync(join(tmpdir(), 'leviathan-client-'));
    try {
      const created = await client.execute(['CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)', { sql: 'INSERT INTO t (v) VALUES (?)', params: ['first'] }]);
      expect(created.results.map((r) => r.error)).toEqual([null, null]);
      expect(created.results[1]?.lastInsertId).toBe(1);

      // A statement's own failure is a result, not an exception, and changes nothing.
      const bad = await client.execute({ sql: 'INSERT INTO t (v) VALUES (?)', params: [null] });
      expect(bad.results[0]?.error).toMatch(/NOT NULL/);

      const queued = await client.execute({ sql: 'INSERT INTO t (v) VALUES (?)', params: ['queued'] }, { queued: true });
      expect(await client.waitForSequence(queued.index, queued.term, 5_000)).toBe('applied');

      // Writes while the leader is killed: every acknowledged one must survive.
      const acked: string[] = [];
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await client.execute({ sql: 'INSERT INTO t (v) VALUES (?)', params: [`w${i}`] });
            if (r.results[0]?.error === null) acked.push(`w${i}`);
          } catch (err) {
            if (!(err instanceof LeviathanError)) throw err;
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 500));
      const leader = await c.waitLeader();
      await c.node(leader).kill();
      await new Promise((r) => setTimeout(r, 2_000));
      stop = true;
      await writer;
      const afterKill = acked.length;
      expect(afterKill).toBeGreaterThan(10);
      const rows = await client.query('SELECT v FROM t', { consistency: 'linearizable' });
      const have = new Set((rows.results[0]?.rows?.rows ?? []).map((r) => r[0]));
      expect(acked.filter((v) => !have.has(v))).toEqual([]);
      c.startNode(leader);
      await c.waitVoters(3);

      // Backup, change, restore: the change is gone everywhere.
      const file = join(dir, 'backup.db');
      await client.backup(file);
      expect(statSync(file).size).toBeGreaterThan(0);
      const copy = new Database(file, { readonly: true });
      expect((copy.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(have.size);
      copy.close();
      await client.execute('CREATE TABLE later (x)');
      await client.restore(file);
      for (const n of c.nodes) {
        const one = new LeviathanClient([n.address]);
        const tables = await one.query("SELECT name FROM sqlite_master WHERE name = 'later'", { consistency: 'linearizable' });
        expect(tables.results[0]?.rows?.rows ?? []).toEqual([]);
        one.close();
      }
    } finally {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiError, type KubeClient, type WatchEvent, type WatchOptions } from '../../src/kube/client.js';
import { Informer, backoffDelay, isGoneStatus, objectKey, relistDiff } from '../../src/kube/informer.js';

const log = pino({ level: 'silent' });
const cm = (name: string, rv: string, ns = 'n', uid = `uid-${name}`): KubernetesObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, resourceVersion: rv, uid } });

describe('relistDiff', () => {
  it('emits adds, updates (changed resourceVersion or uid) and deletes', () => {
    const cache = new Map([cm('a', '1'), cm('b', '2'), cm('c', '3'), cm('d', '4')].map((o) => [objectKey(o), o]));
    const d = relistDiff(cache, [cm('a', '1'), cm('b', '5'), cm('d', '4', 'n', 'other-uid'), cm('e', '6')]);
    expect(d.added.map((o) => o.metadata!.name)).toEqual(['e']);
    expect(d.updated.map((o) => o.metadata!.name)).toEqual(['b', 'd']);
    expect(d.deleted.map((o) => o.metadata!.name)).toEqual(['c']);
    expect([...d.next.keys()].sort()).toEqual(['n/a', 'n/b', 'n/d', 'n/e']);
  });
  it('from an empty cache everything is added; an empty list deletes everything', () => {
    expect(relistDiff(new Map(), [cm('a', '1')]).added).toHaveLength(1);
    const cache = new Map([[objectKey(cm('a', '1')), cm('a', '1')]]);
    expect(relistDiff(cache, []).deleted).toHaveLength(1);
  });
  it('keys cluster-scoped objects by name', () => {
    expect(objectKey({ metadata: { name: 'x' } })).toBe('x');
    expect(objectKey(cm('x', '1', 'ns'))).toBe('ns/x');
  });
});

describe('backoffDelay / isGoneStatus', () => {
  it('grows exponentially with jitter in [d/2, d] and is capped', () => {
    const b = { initialMs: 500, maxMs: 30_000 };
    expect(backoffDelay(1, b, () => 1)).toBe(500);
    expect(backoffDelay(1, b, () => 0)).toBe(250);
    expect(backoffDelay(3, b, () => 1)).toBe(2000);
    expect(backoffDelay(50, b, () => 1)).toBe(30_000);
  });
  it('recognises 410 Status objects', () => {
    expect(isGoneStatus({ kind: 'Status', code: 410, reason: 'Expired' })).toBe(true);
    expect(isGoneStatus({ kind: 'Status', code: 500, reason: 'InternalError' })).toBe(false);
    expect(isGoneStatus(null)).toBe(false);
  });
});

/** A collection in memory; each watch is handed to the test to drive. */
class FakeClient {
  items = new Map<string, KubernetesObject>();
  rv = 10;
  lists = 0;
  activeWatches = 0;
  maxConcurrentWatches = 0;
  listError: ApiError | undefined;
  watches: { opts: WatchOptions; send: (e: WatchEvent) => void; end: () => void; fail: (e: Error) => void }[] = [];

  asClient(): KubeClient {
    return this as unknown as KubeClient;
  }
  async list<T>(): Promise<{ items: T[]; resourceVersion: string }> {
    this.lists++;
    if (this.listError) throw this.listError;
    return { items: [...this.items.values()] as T[], resourceVersion: String(this.rv) };
  }
  watch(_path: string, opts: WatchOptions, onEvent: (e: WatchEvent) => void): Promise<void> {
    this.activeWatches++;
    this.maxConcurrentWatches = Math.max(this.maxConcurrentWatches, this.activeWatches);
    return new Promise<void>((resolve, reject) => {
      let ended = false;
      const done = (): void => {
        if (!ended) this.activeWatches--;
        ended = true;
      };
      const w = {
        opts,
        send: (e: WatchEvent) => {
          try {
            onEvent(e);
          } catch (err) {
            done();
            reject(err);
          }
        },
        end: () => {
          done();
          resolve();
        },
        fail: (e: Error) => {
          done();
          reject(e);
        },
      };
      opts.signal.addEventListener('abort', () => w.fail(new ApiError(0, 'Aborted', 'aborted')), { once: true });
      this.watches.push(w);
    });
  }
  put(o: KubernetesObject): KubernetesObject {
    const obj = { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } };
    this.items.set(objectKey(obj), obj);
    return obj;
  }
}

const until = async (what: string, cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

function setup(opts: { quietRelistMs?: number } = {}) {
  const fake = new FakeClient();
  const inf = new Informer<KubernetesObject>(fake.asClient(), { path: '/api/v1/namespaces/n/configmaps', name: 'cm', log, backoff: { initialMs: 5, maxMs: 20 }, ...opts });
  const events: string[] = [];
  inf.on((t, o) => events.push(`${t} ${o.metadata!.name}@${o.metadata!.resourceVersion}`));
  return { fake, inf, events };
}

describe('Informer', () => {
  it('lists, then follows the watch from the list resourceVersion; BOOKMARKs advance it', async () => {
    const { fake, inf, events } = setup();
    fake.put(cm('a', ''));
    await inf.start();
    expect(inf.hasSynced()).toBe(true);
    expect(events).toEqual(['add a@11']);
    await until('watch', () => fake.watches.length === 1);
    expect(fake.watches[0]!.opts.resourceVersion).toBe('11');
    fake.watches[0]!.send({ type: 'MODIFIED', object: fake.put(cm('a', '')) });
    fake.watches[0]!.send({ type: 'ADDED', object: fake.put(cm('b', '')) });
    fake.watches[0]!.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '99' } } });
    expect(events).toEqual(['add a@11', 'update a@12', 'add b@13']);
    expect(inf.get('n', 'b')?.metadata?.resourceVersion).toBe('13');
    expect(inf.lastResourceVersion).toBe('99');
    fake.watches[0]!.end(); // the server's timeoutSeconds: resume from the bookmark, no relist
    await until('second watch', () => fake.watches.length === 2);
    expect(fake.watches[1]!.opts.resourceVersion).toBe('99');
    expect(fake.lists).toBe(1);
    inf.stop();
    expect(fake.maxConcurrentWatches).toBe(1);
  });

  it('an ERROR 410 event relists and emits the difference', async () => {
    const { fake, inf, events } = setup();
    fake.put(cm('a', ''));
    fake.put(cm('b', ''));
    await inf.start();
    await until('watch', () => fake.watches.length === 1);
    // Changes the watch never delivers:
    fake.items.delete('n/a');
    fake.put(cm('b', ''));
    fake.put(cm('c', ''));
    fake.watches[0]!.send({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } });
    await until('relist', () => fake.lists === 2 && fake.watches.length === 2);
    expect(events.slice(2)).toEqual(['delete a@11', 'add c@14', 'update b@13']);
    expect(inf.list().map((o) => o.metadata!.name).sort()).toEqual(['b', 'c']);
    inf.stop();
    expect(fake.maxConcurrentWatches).toBe(1);
  });

  it('a 410 answer relists; a network error resumes the watch after a backoff without relisting', async () => {
    const { fake, inf } = setup();
    await inf.start();
    await until('watch', () => fake.watches.length === 1);
    fake.watches[0]!.fail(new ApiError(0, 'NetworkError', 'ECONNRESET'));
    await until('rewatch', () => fake.watches.length === 2);
    expect(fake.lists).toBe(1);
    fake.watches[1]!.fail(new ApiError(410, 'Expired', 'gone'));
    await until('relist', () => fake.lists === 2 && fake.watches.length === 3);
    inf.stop();
  });

  it('relists after repeated watch failures (the resourceVersion may be stale) and after an unparsable stream', async () => {
    const { fake, inf } = setup();
    await inf.start();
    for (let i = 0; i < 3; i++) {
      await until(`watch ${i}`, () => fake.watches.length === i + 1);
      fake.watches[i]!.fail(new ApiError(503, 'ServiceUnavailable', 'down'));
    }
    await until('relist', () => fake.lists === 2);
    await until('watch', () => fake.watches.length === 4);
    fake.watches[3]!.fail(new ApiError(0, 'ParseError', 'bad json'));
    await until('relist after parse error', () => fake.lists === 3);
    inf.stop();
  });

  it('the watchdog aborts a silent watch and relists', async () => {
    const { fake, inf } = setup({ quietRelistMs: 50 });
    await inf.start();
    await until('watch', () => fake.watches.length === 1);
    fake.put(cm('late', ''));
    await until('watchdog relist', () => fake.lists === 2, 2000);
    expect(inf.stats.watchdogRelists).toBeGreaterThanOrEqual(1);
    expect(inf.get('n', 'late')).toBeDefined();
    inf.stop();
  });

  it('retries a failing first list with backoff; stop() before sync rejects start() and leaves nothing running', async () => {
    const { fake, inf } = setup();
    fake.listError = new ApiError(0, 'NetworkError', 'refused');
    const started = inf.start();
    await until('retries', () => fake.lists >= 3);
    inf.stop();
    await expect(started).rejects.toThrow(/stopped before/);
    await inf.whenStopped();
    const n = fake.lists;
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.lists).toBe(n);
  });

  it('a throwing handler does not stop the informer; a watch that ends at once with nothing does not spin', async () => {
    const { fake, inf } = setup();
    inf.on(() => {
      throw new Error('handler bug');
    });
    await inf.start();
    await until('watch', () => fake.watches.length === 1);
    fake.watches[0]!.send({ type: 'ADDED', object: fake.put(cm('x', '')) });
    expect(inf.get('n', 'x')).toBeDefined();
    for (let i = 0; i < 3; i++) {
      await until('watch', () => fake.watches.length === i + 1);
      fake.watches[i]!.end();
    }
    inf.stop();
    await inf.whenStopped();
    expect(fake.activeWatches).toBe(0);
  });
});

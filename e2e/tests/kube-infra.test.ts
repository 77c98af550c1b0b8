/**
 * The operator's Kubernetes plumbing (operator/src/kube) against a real API server: the
 * informer's cache follows adds, updates and deletes, converges after a broken watch and after
 * its watchdog fires; server-side apply and status apply on a LeviathanCluster, with field
 * conflicts; leader election between two electors; delete preconditions; Events.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiError,
  EventRecorder,
  FIELD_MANAGER,
  Informer,
  LeaderElector,
  defaultKubeConfig,
  kubeClient,
  pathFor,
  type KubeClient,
  type KubernetesObject,
  type Lease,
  type WatchEvent,
  type WatchOptions,
} from '../../operator/src/kube/index.js';
import { getJson, kubectlRaw, waitFor } from '../lib/kubectl.js';
import { useNamespace } from '../lib/namespace.js';

const ns = useNamespace('kube-infra');
const log = pino({ level: process.env.E2E_LOG_LEVEL ?? 'error' });
const client = kubeClient(defaultKubeConfig(), { timeoutMs: 15_000 });

interface ConfigMap extends KubernetesObject {
  data?: Record<string, string>;
}
interface LeviathanCluster extends KubernetesObject {
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number };
}

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

function informer(namespace: string, opts: { quietRelistMs?: number; client?: KubeClient } = {}): { inf: Informer<ConfigMap>; events: string[] } {
  const inf = new Informer<ConfigMap>(opts.client ?? client, {
    path: pathFor('v1', 'ConfigMap', namespace),
    labelSelector: 'test=kube-infra',
    name: 'configmaps',
    log,
    backoff: { initialMs: 200, maxMs: 2_000 },
    ...(opts.quietRelistMs ? { quietRelistMs: opts.quietRelistMs } : {}),
  });
  const events: string[] = [];
  inf.on((t, o) => events.push(`${t} ${o.metadata?.name}`));
  stops.push(() => inf.stop());
  return { inf, events };
}

const configMap = (namespace: string, name: string, data: Record<string, string> = {}): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels: { test: 'kube-infra' } },
  data,
});

/** Waits until the informer's cache holds exactly what the API server lists. */
async function converged(inf: Informer<ConfigMap>, namespace: string): Promise<void> {
  let last = '';
  await waitFor(
    'the informer cache to equal a fresh list',
    async () => {
      const { items } = await client.list<ConfigMap>(pathFor('v1', 'ConfigMap', namespace), { labelSelector: 'test=kube-infra' });
      const want = items.map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort();
      const have = inf.list(namespace).map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort();
      last = `want ${want.join(',')}; have ${have.join(',')}`;
      return want.join(',') === have.join(',') ? true : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, describe: () => last },
  );
}

/**
 * The client, with a handle on its watches: cut the current stream (as a connection reset does),
 * drop its events (as a stream that silently lost some), or make it report 410 Gone (as the API
 * server does when the resourceVersion fell out of its window; a young cluster rarely does).
 */
function sabotaged(): { client: KubeClient; cut: () => void; drop: () => void; gone: () => void; watches: () => number } {
  let current: { ac: AbortController; onEvent: (e: WatchEvent) => void } | undefined;
  let dropping = false;
  let watches = 0;
  const c = Object.create(client) as KubeClient;
  c.watch = (path: string, opts: WatchOptions, onEvent) => {
    watches++;
    const ac = new AbortController();
    current = { ac, onEvent };
    opts.signal.addEventListener('abort', () => ac.abort(), { once: true });
    return client
      .watch(path, { ...opts, signal: ac.signal }, (e) => {
        if (!dropping) onEvent(e);
      })
      .catch((err: unknown) => {
        if (ac.signal.aborted && !opts.signal.aborted) throw new ApiError(0, 'NetworkError', 'connection reset (test)');
        throw err;
      });
  };
  return {
    client: c,
    cut: () => current?.ac.abort(),
    drop: () => (dropping = true),
    gone: () => {
      dropping = false;
      current?.onEvent({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version (test)' } });
    },
    watches: () => watches,
  };
}

describe('kube client and informer', () => {
  it('the informer sees adds, updates and deletes of ConfigMaps', async () => {
    const n = ns();
    await client.create(pathFor('v1', 'ConfigMap', n), configMap(n, 'before', { a: '1' }));
    const { inf, events } = informer(n);
    await inf.start();
    expect(inf.hasSynced()).toBe(true);
    expect(inf.get(n, 'before')?.data).toEqual({ a: '1' });

    await client.create(pathFor('v1', 'ConfigMap', n), configMap(n, 'one', { a: '1' }));
    await waitFor('add', async () => (inf.get(n, 'one') ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    await client.mergePatch(pathFor('v1', 'ConfigMap', n, 'one'), { data: { a: '2' } });
    await waitFor('update', async () => (inf.get(n, 'one')?.data?.a === '2' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    expect(await client.delete(pathFor('v1', 'ConfigMap', n, 'one'))).toBe(true);
    await waitFor('delete', async () => (inf.get(n, 'one') ? undefined : true), { timeoutMs: 10_000, intervalMs: 100 });
    expect(events).toEqual(['add before', 'add one', 'update one', 'delete one']);
    // Unlabelled objects are not watched.
    await client.create(pathFor('v1', 'ConfigMap', n), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other' } });
    await converged(inf, n);
    expect(inf.get(n, 'other')).toBeUndefined();
  });

  it('after a cut stream it resumes the watch, after 410 Gone it relists, and its cache converges', async () => {
    const n = ns();
    const path = pathFor('v1', 'ConfigMap', n);
    for (const name of ['keep', 'change', 'remove']) await client.create(path, configMap(n, name, { v: '1' }));
    const s = sabotaged();
    const { inf, events } = informer(n, { client: s.client });
    await inf.start();
    await waitFor('the first watch', async () => (s.watches() >= 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });

    // The stream breaks: changes made meanwhile arrive through the next watch (from the last resourceVersion).
    s.cut();
    await client.mergePatch(pathFor('v1', 'ConfigMap', n, 'change'), { data: { v: '2' } });
    await client.create(path, configMap(n, 'during-cut'));
    await converged(inf, n);
    expect(inf.stats.errors).toBe(1);
    expect(inf.stats.lists).toBe(1);
    expect(s.watches()).toBeGreaterThanOrEqual(2);

    // The stream loses events, then reports 410: the informer relists and emits what it missed.
    s.drop();
    await client.mergePatch(pathFor('v1', 'ConfigMap', n, 'change'), { data: { v: '3' } });
    await client.delete(pathFor('v1', 'ConfigMap', n, 'remove'));
    await client.create(path, configMap(n, 'new', { v: '1' }));
    await new Promise((r) => setTimeout(r, 500));
    expect(inf.get(n, 'new')).toBeUndefined();
    s.gone();
    await converged(inf, n);
    expect(inf.stats.goneRelists).toBe(1);
    expect(inf.stats.lists).toBe(2);
    expect(inf.get(n, 'change')?.data?.v).toBe('3');
    expect(inf.get(n, 'remove')).toBeUndefined();
    expect(events.slice(-3).sort()).toEqual(['add new', 'delete remove', 'update change']);
    console.log(`kube-infra: informer stats: ${JSON.stringify(inf.stats)}`);

    // And it keeps following the live watch afterwards.
    await client.create(path, configMap(n, 'later'));
    await waitFor('an add after recovery', async () => (inf.get(n, 'later') ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  });

  it('the watchdog relists a watch that stays silent', async () => {
    const n = ns();
    const { inf } = informer(n, { quietRelistMs: 1_500 });
    await inf.start();
    await waitFor('a watchdog relist', async () => (inf.stats.watchdogRelists >= 2 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    expect(inf.stats.lists).toBeGreaterThanOrEqual(2);
    await client.create(pathFor('v1', 'ConfigMap', n), configMap(n, 'still-alive'));
    await waitFor('an add after the relists', async () => (inf.get(n, 'still-alive') ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  });

  it('stop() aborts the watch at once', async () => {
    const n = ns();
    const { inf } = informer(n);
    await inf.start();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    inf.stop();
    await inf.whenStopped();
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});

describe('server-side apply', () => {
  it('apply and applyStatus on a LeviathanCluster; another manager conflicts; force wins; a stale replace is 409', async () => {
    const n = ns();
    const lvc = (replicas: number): LeviathanCluster => ({ apiVersion: 'leviathan.dev/v1alpha1', kind: 'LeviathanCluster', metadata: { name: 'ssa', namespace: n }, spec: { replicas } });
    const created = await client.apply<LeviathanCluster>(lvc(3));
    expect(created.spec?.replicas).toBe(3);
    expect(created.metadata?.managedFields?.map((m) => m.manager)).toContain(FIELD_MANAGER);

    const withStatus = await client.applyStatus<LeviathanCluster>({
      apiVersion: 'leviathan.dev/v1alpha1',
      kind: 'LeviathanCluster',
      metadata: { name: 'ssa', namespace: n },
      status: { observedGeneration: created.metadata?.generation, replicas: 1 },
    });
    expect(withStatus.status).toMatchObject({ observedGeneration: 1, replicas: 1 });
    expect(withStatus.spec?.replicas).toBe(3);
    expect(withStatus.metadata?.generation).toBe(1); // status writes do not bump the generation
    const statusManager = withStatus.metadata?.managedFields?.find((m) => m.manager === FIELD_MANAGER && m.subresource === 'status');
    expect(statusManager).toBeDefined();

    // Someone else sets a field we own, without force: refused with a conflict naming us.
    const other = await kubectlRaw(['apply', '--server-side', '--field-manager=someone-else', '-n', n, '-f', '-'], {
      input: 'apiVersion: leviathan.dev/v1alpha1\nkind: LeviathanCluster\nmetadata: {name: ssa}\nspec: {replicas: 5}\n',
    });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/conflict/i);
    expect(other.stderr).toContain(FIELD_MANAGER);

    // With force they take it; our next apply (always forced) takes it back.
    const forced = await kubectlRaw(['apply', '--server-side', '--force-conflicts', '--field-manager=someone-else', '-n', n, '-f', '-'], {
      input: 'apiVersion: leviathan.dev/v1alpha1\nkind: LeviathanCluster\nmetadata: {name: ssa}\nspec: {replicas: 5}\n',
    });
    expect(forced.code, forced.stderr).toBe(0);
    const back = await client.apply<LeviathanCluster>(lvc(3));
    expect(back.spec?.replicas).toBe(3);

    // Optimistic concurrency: a PUT with an old resourceVersion is a 409 Conflict.
    const err = await client.replace(pathFor('leviathan.dev/v1alpha1', 'LeviathanCluster', n, 'ssa'), { ...created, spec: { replicas: 7 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).reason).toBe('Conflict');

    // The CEL rules answer through ApiError too.
    const invalid = await client.apply(lvc(4)).catch((e: unknown) => e);
    expect((invalid as ApiError).status).toBe(422);
    expect((invalid as ApiError).reason).toBe('Invalid');
  });

  it('get answers null for a missing object; delete with a wrong uid precondition is a 409; delete of a missing object is false', async () => {
    const n = ns();
    const path = pathFor('v1', 'ConfigMap', n, 'victim');
    expect(await client.get(path)).toBeNull();
    const cm = await client.create<ConfigMap>(pathFor('v1', 'ConfigMap', n), configMap(n, 'victim'));
    const err = await client.delete(path, { uid: '00000000-0000-0000-0000-000000000000' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect(await client.get(path)).not.toBeNull();
    const stale = await client.delete(path, { uid: cm.metadata?.uid, resourceVersion: '1' }).catch((e: unknown) => e);
    expect((stale as ApiError).status).toBe(409);
    expect(await client.delete(path, { uid: cm.metadata?.uid, resourceVersion: cm.metadata?.resourceVersion, propagationPolicy: 'Background' })).toBe(true);
    expect(await client.delete(path)).toBe(false);
  });
});

describe('leader election', () => {
  it('two electors on one Lease: exactly one leads; after its stop() the other takes over within seconds', async () => {
    const n = ns();
    const leading = new Set<string>();
    const history: string[] = [];
    const make = (identity: string): LeaderElector => {
      const e = new LeaderElector(client, {
        namespace: n,
        name: 'operator-lock',
        identity,
        log,
        leaseDurationMs: 6_000,
        renewDeadlineMs: 4_000,
        retryPeriodMs: 500,
        onStartedLeading: () => {
          leading.add(identity);
          history.push(`${identity} started`);
        },
        onStoppedLeading: () => {
          leading.delete(identity);
          history.push(`${identity} stopped`);
        },
      });
      stops.push(() => e.stop());
      return e;
    };
    const a = make('elector-a');
    const b = make('elector-b');
    void a.run();
    void b.run();
    const first = await waitFor('a leader', async () => (leading.size === 1 ? [...leading][0] : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    // Several renew periods: still exactly one, and the same one.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300));
      expect([...leading]).toEqual([first]);
    }
    const lease = await getJson<Lease>(['-n', n, 'get', 'lease', 'operator-lock']);
    expect(lease.spec?.holderIdentity).toBe(first);
    expect(lease.spec?.leaseDurationSeconds).toBe(6);

    const [leader, follower] = first === 'elector-a' ? [a, b] : [b, a];
    const other = first === 'elector-a' ? 'elector-b' : 'elector-a';
    const t0 = Date.now();
    await leader.stop();
    expect(leader.isLeader()).toBe(false);
    await waitFor('the follower to take over', async () => (follower.isLeader() ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 });
    const took = Date.now() - t0;
    console.log(`kube-infra: takeover after stop() in ${took} ms`);
    expect(took).toBeLessThan(3_000);
    expect(history).toEqual([`${first} started`, `${first} stopped`, `${other} started`]);
    const after = await getJson<Lease>(['-n', n, 'get', 'lease', 'operator-lock']);
    expect(after.spec?.holderIdentity).toBe(other);
    expect(after.spec?.leaseTransitions).toBe(1);
  });
});

describe('events', () => {
  it('records a core/v1 Event and counts a repeat on the same Event', async () => {
    const n = ns();
    const cm = await client.create<ConfigMap>(pathFor('v1', 'ConfigMap', n), configMap(n, 'subject'));
    const rec = new EventRecorder(client, { component: 'leviathan-operator', host: 'e2e', log });
    const regarding = { apiVersion: 'v1', kind: 'ConfigMap', name: 'subject', namespace: n, uid: cm.metadata!.uid! };
    rec.record(regarding, 'Normal', 'Testing', 'first occurrence');
    rec.record(regarding, 'Normal', 'Testing', 'first occurrence');
    rec.record(regarding, 'Warning', 'Testing', 'another message');
    await rec.flush();
    const events = await getJson<{ items: { reason: string; type: string; message: string; count: number; involvedObject: { uid: string }; source: { component: string } }[] }>([
      '-n', n, 'get', 'events', '--field-selector', 'involvedObject.name=subject',
    ]);
    const mine = events.items.filter((e) => e.reason === 'Testing');
    expect(mine).toHaveLength(2);
    expect(mine.find((e) => e.type === 'Normal')).toMatchObject({ count: 2, message: 'first occurrence', involvedObject: { uid: cm.metadata!.uid }, source: { component: 'leviathan-operator' } });
    expect(mine.find((e) => e.type === 'Warning')).toMatchObject({ count: 1 });
  });
});

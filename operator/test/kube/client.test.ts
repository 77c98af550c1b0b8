import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, kubeClient, pathFor, type KubeClient, type WatchEvent } from '../../src/kube/client.js';

describe('pathFor', () => {
  it('builds core, group, namespaced, cluster-wide and object paths', () => {
    expect(pathFor('v1', 'Pod', 'ns')).toBe('/api/v1/namespaces/ns/pods');
    expect(pathFor('v1', 'Pod')).toBe('/api/v1/pods');
    expect(pathFor('v1', 'PersistentVolumeClaim', 'ns', 'data-x-0')).toBe('/api/v1/namespaces/ns/persistentvolumeclaims/data-x-0');
    expect(pathFor('apps/v1', 'StatefulSet', 'ns', 'db')).toBe('/apis/apps/v1/namespaces/ns/statefulsets/db');
    expect(pathFor('policy/v1', 'PodDisruptionBudget', 'ns', 'db')).toBe('/apis/policy/v1/namespaces/ns/poddisruptionbudgets/db');
    expect(pathFor('coordination.k8s.io/v1', 'Lease', 'ns', 'l')).toBe('/apis/coordination.k8s.io/v1/namespaces/ns/leases/l');
    expect(pathFor('leviathan.dev/v1alpha1', 'LeviathanCluster', 'ns')).toBe('/apis/leviathan.dev/v1alpha1/namespaces/ns/leviathanclusters');
    expect(pathFor('leviathan.dev/v1alpha1', 'DisheapTopic', 'ns', 't')).toBe('/apis/leviathan.dev/v1alpha1/namespaces/ns/disheaptopics/t');
    expect(pathFor('events.k8s.io/v1', 'Event', 'ns')).toBe('/apis/events.k8s.io/v1/namespaces/ns/events');
    expect(pathFor('v1', 'Event', 'ns', 'e')).toBe('/api/v1/namespaces/ns/events/e');
    expect(pathFor('v1', 'Namespace', undefined, 'ns')).toBe('/api/v1/namespaces/ns');
    expect(() => pathFor('v1', 'Nonsense', 'ns')).toThrow(/unknown kind/);
    expect(() => pathFor('v1', 'Pod', undefined, 'p')).toThrow(/namespace/);
  });
});

/** A stand-in API server whose behaviour each test sets. */
let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => undefined;
let server: http.Server;
let client: KubeClient;
const requests: { method?: string; url?: string; contentType?: string | undefined; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, contentType: req.headers['content-type'], body });
      handler(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  client = kubeClient(kc, { timeoutMs: 300 });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};
const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

describe('kubeClient', () => {
  it('sends the token; get answers the object, or null on 404', async () => {
    handler = (req, res) => (req.url?.endsWith('/there') ? json(res, 200, { metadata: { name: 'there' }, auth: req.headers.authorization }) : json(res, 404, status(404, 'NotFound', 'nope')));
    expect(await client.get('/api/v1/namespaces/n/configmaps/there')).toEqual({ metadata: { name: 'there' }, auth: 'Bearer secret-token' });
    expect(await client.get('/api/v1/namespaces/n/configmaps/gone')).toBeNull();
  });

  it('turns a Status into an ApiError with status, reason and message', async () => {
    handler = (_req, res) => json(res, 409, status(409, 'Conflict', 'the object has been modified'));
    const err = (await client.replace('/api/v1/namespaces/n/configmaps/x', {}).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(409);
    expect(err.reason).toBe('Conflict');
    expect(err.message).toContain('the object has been modified');
  });

  it('a server that never answers is a Timeout (status 0), not a hang', async () => {
    handler = () => undefined;
    const t0 = Date.now();
    const err = (await client.get('/api/v1/pods').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.reason).toBe('Timeout');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('a connection cut mid-answer is a NetworkError', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const err = (await client.get('/api/v1/pods').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.reason).toBe('NetworkError');
  });

  it('apply, applyStatus, mergePatch, delete: content types, query and bodies', async () => {
    requests.length = 0;
    handler = (req, res) => (req.method === 'DELETE' && req.url?.includes('missing') ? json(res, 404, status(404, 'NotFound', 'x')) : json(res, 200, { ok: true }));
    const obj = { apiVersion: 'leviathan.dev/v1alpha1', kind: 'LeviathanCluster', metadata: { name: 'db', namespace: 'n' }, spec: { replicas: 3 } };
    await client.apply(obj);
    await client.applyStatus({ ...obj, status: { replicas: 1 } });
    await client.mergePatch('/api/v1/namespaces/n/configmaps/c/status', { a: 1 });
    expect(await client.delete('/api/v1/namespaces/n/pods/p', { uid: 'u1', resourceVersion: '7', propagationPolicy: 'Foreground' })).toBe(true);
    expect(await client.delete('/api/v1/namespaces/n/pods/missing')).toBe(false);
    expect(requests.map((r) => [r.method, r.url, r.contentType])).toEqual([
      ['PATCH', '/apis/leviathan.dev/v1alpha1/namespaces/n/leviathanclusters/db?fieldManager=leviathan-operator&force=true', 'application/apply-patch+yaml'],
      ['PATCH', '/apis/leviathan.dev/v1alpha1/namespaces/n/leviathanclusters/db/status?fieldManager=leviathan-operator&force=true', 'application/apply-patch+yaml'],
      ['PATCH', '/api/v1/namespaces/n/configmaps/c/status?fieldManager=leviathan-operator', 'application/merge-patch+json'],
      ['DELETE', '/api/v1/namespaces/n/pods/p', 'application/json'],
      ['DELETE', '/api/v1/namespaces/n/pods/missing', 'application/json'],
    ]);
    expect(JSON.parse(requests[0]!.body)).toEqual(obj);
    expect(JSON.parse(requests[3]!.body)).toMatchObject({ preconditions: { uid: 'u1', resourceVersion: '7' }, propagationPolicy: 'Foreground' });
  });

  it('list follows continue tokens and gives items their kind', async () => {
    handler = (req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (!u.searchParams.get('continue')) json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '5', continue: 'next' }, items: [{ metadata: { name: 'a' } }] });
      else json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'b' } }] });
    };
    const r = await client.list<{ kind?: string; metadata: { name: string } }>('/api/v1/pods', { labelSelector: 'a=b' });
    expect(r.resourceVersion).toBe('5');
    expect(r.items.map((i) => `${i.kind}/${i.metadata.name}`)).toEqual(['Pod/a', 'Pod/b']);
  });
});

describe('kubeClient.watch', () => {
  const watch = (onEvent: (e: WatchEvent) => void, signal = new AbortController().signal): Promise<void> =>
    client.watch('/api/v1/pods', { resourceVersion: '7', timeoutSeconds: 2, signal }, onEvent);

  it('parses events split across chunks and resolves when the server ends the stream', async () => {
    handler = (req, res) => {
      expect(req.url).toContain('watch=1');
      expect(req.url).toContain('resourceVersion=7');
      expect(req.url).toContain('allowWatchBookmarks=true');
      expect(req.url).toContain('timeoutSeconds=2');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MODI');
      setTimeout(() => res.end('FIED","object":{"metadata":{"name":"a"}}}\n{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}'), 20);
    };
    const seen: string[] = [];
    await watch((e) => seen.push(e.type));
    expect(seen).toEqual(['ADDED', 'MODIFIED', 'BOOKMARK']);
  });

  it('rejects on an unparsable line, on a throwing handler, on a non-2xx answer', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('not json\n');
    };
    expect(((await watch(() => undefined).catch((e: unknown) => e)) as ApiError).reason).toBe('ParseError');
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{}}\n');
    };
    expect(
      ((await watch(() => {
        throw new Error('boom');
      }).catch((e: unknown) => e)) as ApiError).reason,
    ).toBe('HandlerError');
    handler = (_req, res) => json(res, 410, status(410, 'Expired', 'too old'));
    expect(((await watch(() => undefined).catch((e: unknown) => e)) as ApiError).status).toBe(410);
  });

  it('rejects at once when aborted, and when the headers never come', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.flushHeaders();
    };
    const ac = new AbortController();
    const p = watch(() => undefined, ac.signal);
    setTimeout(() => ac.abort(), 50);
    expect(((await p.catch((e: unknown) => e)) as ApiError).reason).toBe('Aborted');
    handler = () => undefined;
    expect(((await watch(() => undefined).catch((e: unknown) => e)) as ApiError).reason).toBe('Timeout');
  });

  it('gives up on a stream that outlives its timeoutSeconds', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.flushHeaders();
    };
    const t0 = Date.now();
    const err = (await client.watch('/api/v1/pods', { resourceVersion: '1', timeoutSeconds: 1, signal: new AbortController().signal }, () => undefined).catch((e: unknown) => e)) as ApiError;
    expect(err.reason).toBe('Timeout');
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});

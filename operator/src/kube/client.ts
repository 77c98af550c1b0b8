/**
 * A small client for the Kubernetes API: raw HTTP(S) requests, with the KubeConfig of
 * @kubernetes/client-node used only for where the API server is and how to authenticate (it reads
 * ~/.kube/config, $KUBECONFIG or the in-cluster service account; `applyToHTTPSOptions` is called
 * per request so that rotated tokens and certificates are picked up).
 *
 * Every request has a deadline (default 30 s) and every failure is an ApiError: `status` is the
 * HTTP status, or 0 when no answer came (network error, timeout, abort, unparsable answer);
 * `reason` is the Kubernetes Status reason (NotFound, Conflict, Expired, ...) or, for status 0,
 * one of Timeout, Aborted, NetworkError, ParseError.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'leviathan-operator';
const DEFAULT_TIMEOUT_MS = 30_000;

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** The Status object's details, when the server sent one. */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.status === 409;
export const isGone = (err: unknown): boolean => err instanceof ApiError && err.status === 410;

/** Per-call options, accepted by every method as its last argument. */
export interface CallOptions {
  /** Deadline of the whole call (answer included); default the client's timeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent {
  type: WatchEventType;
  // The object of a watch event is whatever the collection holds, or a Status for ERROR.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  object: any;
}

export interface WatchOptions {
  resourceVersion: string;
  /** Server-side lifetime of the stream; the client also gives up at timeoutSeconds + timeoutMs. */
  timeoutSeconds: number;
  labelSelector?: string;
  fieldSelector?: string;
  signal: AbortSignal;
  /** Deadline for the response headers; default the client's timeoutMs. */
  timeoutMs?: number;
}

export interface DeleteOptions extends CallOptions {
  uid?: string;
  resourceVersion?: string;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

export interface ListOptions extends CallOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size (limit/continue); default 500. */
  pageSize?: number;
}

export interface KubeClient {
  get<T>(path: string, opts?: CallOptions): Promise<T | null>;
  list<T>(path: string, opts?: ListOptions): Promise<{ items: T[]; resourceVersion: string }>;
  /** Server-side apply (application/apply-patch+yaml with a JSON body, fieldManager, force=true) to the object's own path. */
  apply<T>(obj: KubernetesObject, opts?: CallOptions): Promise<T>;
  /** Server-side apply to the /status subresource of a custom resource. */
  applyStatus<T>(obj: KubernetesObject & { status: unknown }, opts?: CallOptions): Promise<T>;
  create<T>(path: string, obj: unknown, opts?: CallOptions): Promise<T>;
  /** PUT: replaces the object; metadata.resourceVersion in `obj` makes it conditional (409 when it changed). */
  replace<T>(path: string, obj: unknown, opts?: CallOptions): Promise<T>;
  /** DELETE with optional preconditions {uid, resourceVersion} and propagationPolicy; false on 404. */
  delete(path: string, opts?: DeleteOptions): Promise<boolean>;
  /** Merge patch (application/merge-patch+json); path may end in /status. */
  mergePatch<T>(path: string, patch: unknown, opts?: CallOptions): Promise<T>;
  /**
   * A watch: GET path?watch=1&resourceVersion=..&allowWatchBookmarks=true&timeoutSeconds=..; calls
   * onEvent per line; resolves when the server ends the stream; rejects on errors (including an
   * exception thrown by onEvent) and when `signal` aborts.
   */
  watch(path: string, opts: WatchOptions, onEvent: (e: WatchEvent) => void): Promise<void>;
}

// ----- paths

interface KindInfo {
  plural: string;
  namespaced: boolean;
}

const KINDS: Record<string, KindInfo> = {
  Pod: { plural: 'pods', namespaced: true },
  PersistentVolumeClaim: { plural: 'persistentvolumeclaims', namespaced: true },
  PersistentVolume: { plural: 'persistentvolumes', namespaced: false },
  Service: { plural: 'services', namespaced: true },
  Endpoints: { plural: 'endpoints', namespaced: true },
  EndpointSlice: { plural: 'endpointslices', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  Event: { plural: 'events', namespaced: true },
  Namespace: { plural: 'namespaces', namespaced: false },
  Node: { plural: 'nodes', namespaced: false },
  StatefulSet: { plural: 'statefulsets', namespaced: true },
  Deployment: { plural: 'deployments', namespaced: true },
  PodDisruptionBudget: { plural: 'poddisruptionbudgets', namespaced: true },
  Lease: { plural: 'leases', namespaced: true },
  StorageClass: { plural: 'storageclasses', namespaced: false },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  LeviathanCluster: { plural: 'leviathanclusters', namespaced: true },
  DisheapTopic: { plural: 'disheaptopics', namespaced: true },
};

/**
 * The REST path of an object (name given) or a collection (no name; all namespaces when
 * namespace is omitted too). Throws for a kind it does not know.
 */
export function pathFor(apiVersion: string, kind: string, namespace?: string, name?: string): string {
  const info = KINDS[kind];
  if (!info) throw new Error(`pathFor: unknown kind ${kind} (${apiVersion})`);
  const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  if (info.namespaced && name !== undefined && !namespace) throw new Error(`pathFor: ${kind} ${name} needs a namespace`);
  return `${root}${ns}/${info.plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
}

function objectPath(obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (!obj.apiVersion || !obj.kind || !name) throw new Error('apply: the object needs apiVersion, kind and metadata.name');
  return pathFor(obj.apiVersion, obj.kind, obj.metadata?.namespace, name);
}

function withQuery(path: string, query: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

// ----- transport

interface Prepared {
  url: URL;
  agent: http.Agent;
  headers: Record<string, string>;
  auth?: string;
}

interface Status {
  kind?: string;
  status?: string;
  reason?: string;
  message?: string;
  code?: number;
  details?: unknown;
}

function statusError(method: string, path: string, status: number, body: string): ApiError {
  let parsed: Status | undefined;
  try {
    parsed = JSON.parse(body) as Status;
  } catch {
    parsed = undefined;
  }
  const reason = parsed?.reason || http.STATUS_CODES[status]?.replace(/\s+/g, '') || 'Unknown';
  const msg = parsed?.message || body.slice(0, 300).trim() || http.STATUS_CODES[status] || '';
  return new ApiError(status, reason, `${method} ${path}: ${status} ${reason}: ${msg}`, parsed?.details);
}

class Client implements KubeClient {
  private agent: { key: string; agent: http.Agent } | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs: number,
  ) {}

  /** Where to send a request and how to authenticate it, fresh for each request. */
  private async prepare(path: string): Promise<Prepared> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new ApiError(0, 'NoCluster', 'kubeconfig: no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    let agent: http.Agent;
    if (cluster.proxyUrl || url.protocol === 'http:') {
      agent = opts.agent as http.Agent; // KubeConfig's own (proxy) agent
    } else {
      // One keep-alive agent while the TLS material stays the same.
      const str = (b: unknown): string => (b === undefined ? '' : Buffer.isBuffer(b) ? b.toString('base64') : String(b));
      const key = [str(opts.ca), str(opts.cert), str(opts.key), str(opts.pfx), String(opts.rejectUnauthorized), str(opts.servername)].join('|');
      if (this.agent?.key !== key) {
        this.agent?.agent.destroy();
        this.agent = {
          key,
          agent: new https.Agent({
            keepAlive: true,
            ca: opts.ca,
            cert: opts.cert,
            key: opts.key,
            pfx: opts.pfx,
            passphrase: opts.passphrase,
            servername: opts.servername,
            ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
          }),
        };
      }
      (opts.agent as http.Agent | undefined)?.destroy?.();
      agent = this.agent.agent;
    }
    return { url, agent, headers, ...(opts.auth ? { auth: opts.auth } : {}) };
  }

  /** One request with a body answer (not a watch), parsed as JSON. 404 → null when `nullOn404`. */
  private async request<T>(method: string, path: string, init: { body?: unknown; contentType?: string; nullOn404?: boolean } & CallOptions = {}): Promise<T | null> {
    const timeoutMs = init.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const p = await withDeadline(this.prepare(path), timeoutMs, method, path, init.signal);
    const payload = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body));
    const headers: Record<string, string> = { ...p.headers, Accept: 'application/json' };
    if (payload) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const mod = p.url.protocol === 'http:' ? http : https;
    return new Promise<T | null>((resolve, reject) => {
      let settled = false;
      const finish = (err: ApiError | null, value?: T | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        init.signal?.removeEventListener('abort', onAbort);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(value ?? null);
      };
      const onAbort = (): void => finish(new ApiError(0, 'Aborted', `${method} ${path}: aborted`));
      const timer = setTimeout(() => finish(new ApiError(0, 'Timeout', `${method} ${path}: no answer within ${timeoutMs} ms`)), Math.max(1, deadline - Date.now()));
      const req = mod.request(p.url, { method, headers, agent: p.agent, ...(p.auth ? { auth: p.auth } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => finish(new ApiError(0, 'NetworkError', `${method} ${path}: ${err.message}`)));
        res.on('close', () => {
          if (!res.complete) finish(new ApiError(0, 'NetworkError', `${method} ${path}: the answer was cut off`));
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status === 404 && init.nullOn404) return finish(null, null);
          if (status < 200 || status >= 300) return finish(statusError(method, path, status, body));
          if (body === '') return finish(null, null);
          try {
            finish(null, JSON.parse(body) as T);
          } catch (err) {
            finish(new ApiError(0, 'ParseError', `${method} ${path}: unparsable answer: ${(err as Error).message}`));
          }
        });
      });
      req.on('error', (err) => finish(new ApiError(0, 'NetworkError', `${method} ${path}: ${err.message}`)));
      if (init.signal?.aborted) return onAbort();
      init.signal?.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
  }

  private async must<T>(method: string, path: string, init: { body?: unknown; contentType?: string } & CallOptions): Promise<T> {
    const res = await this.request<T>(method, path, init);
    if (res === null) throw new ApiError(0, 'ParseError', `${method} ${path}: empty answer`);
    return res;
  }

  get<T>(path: string, opts: CallOptions = {}): Promise<T | null> {
    return this.request<T>('GET', path, { ...opts, nullOn404: true });
  }

  async list<T>(path: string, opts: ListOptions = {}): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.must<{ kind?: string; apiVersion?: string; metadata?: { resourceVersion?: string; continue?: string }; items?: T[] }>(
        'GET',
        withQuery(path, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: String(opts.pageSize ?? 500), continue: cont }),
        opts,
      );
      // Items of a list carry no apiVersion/kind: give them the list's.
      const kind = page.kind?.endsWith('List') ? page.kind.slice(0, -4) : undefined;
      for (const item of page.items ?? []) {
        const o = item as KubernetesObject;
        if (kind && o && typeof o === 'object' && !o.kind) {
          o.kind = kind;
          o.apiVersion ??= page.apiVersion;
        }
        items.push(item);
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  apply<T>(obj: KubernetesObject, opts: CallOptions = {}): Promise<T> {
    return this.must<T>('PATCH', withQuery(objectPath(obj), { fieldManager: FIELD_MANAGER, force: 'true' }), { ...opts, body: obj, contentType: 'application/apply-patch+yaml' });
  }

  applyStatus<T>(obj: KubernetesObject & { status: unknown }, opts: CallOptions = {}): Promise<T> {
    return this.must<T>('PATCH', withQuery(`${objectPath(obj)}/status`, { fieldManager: FIELD_MANAGER, force: 'true' }), { ...opts, body: obj, contentType: 'application/apply-patch+yaml' });
  }

  create<T>(path: string, obj: unknown, opts: CallOptions = {}): Promise<T> {
    return this.must<T>('POST', withQuery(path, { fieldManager: FIELD_MANAGER }), { ...opts, body: obj });
  }

  replace<T>(path: string, obj: unknown, opts: CallOptions = {}): Promise<T> {
    return this.must<T>('PUT', withQuery(path, { fieldManager: FIELD_MANAGER }), { ...opts, body: obj });
  }

  async delete(path: string, opts: DeleteOptions = {}): Promise<boolean> {
    const preconditions = opts.uid !== undefined || opts.resourceVersion !== undefined ? { uid: opts.uid, resourceVersion: opts.resourceVersion } : undefined;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...(preconditions ? { preconditions } : {}), ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}) };
    try {
      await this.request('DELETE', path, { ...opts, body });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  mergePatch<T>(path: string, patch: unknown, opts: CallOptions = {}): Promise<T> {
    return this.must<T>('PATCH', withQuery(path, { fieldManager: FIELD_MANAGER }), { ...opts, body: patch, contentType: 'application/merge-patch+json' });
  }

  async watch(path: string, opts: WatchOptions, onEvent: (e: WatchEvent) => void): Promise<void> {
    const headerTimeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const full = withQuery(path, {
      watch: '1',
      resourceVersion: opts.resourceVersion || undefined,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(Math.max(1, Math.round(opts.timeoutSeconds))),
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
    });
    const p = await withDeadline(this.prepare(full), headerTimeoutMs, 'WATCH', path, opts.signal);
    const mod = p.url.protocol === 'http:' ? http : https;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err: ApiError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(headerTimer);
        clearTimeout(hardTimer);
        opts.signal.removeEventListener('abort', onAbort);
        req.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish(new ApiError(0, 'Aborted', `WATCH ${path}: aborted`));
      const headerTimer = setTimeout(() => finish(new ApiError(0, 'Timeout', `WATCH ${path}: no answer within ${headerTimeoutMs} ms`)), headerTimeoutMs);
      // The server ends the stream after timeoutSeconds; a stream it forgot is given up here.
      const hardTimer = setTimeout(
        () => finish(new ApiError(0, 'Timeout', `WATCH ${path}: the stream outlived its timeoutSeconds=${opts.timeoutSeconds}`)),
        opts.timeoutSeconds * 1000 + headerTimeoutMs,
      );
      const req = mod.request(p.url, { method: 'GET', headers: { ...p.headers, Accept: 'application/json' }, agent: p.agent, ...(p.auth ? { auth: p.auth } : {}) }, (res) => {
        clearTimeout(headerTimer);
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => finish(statusError('WATCH', path, status, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', (err) => finish(new ApiError(status, 'NetworkError', `WATCH ${path}: ${status}: ${err.message}`)));
          return;
        }
        let buf = '';
        const line = (text: string): void => {
          if (text.trim() === '') return;
          let e: WatchEvent;
          try {
            e = JSON.parse(text) as WatchEvent;
          } catch (err) {
            throw new ApiError(0, 'ParseError', `WATCH ${path}: unparsable event: ${(err as Error).message}: ${text.slice(0, 200)}`);
          }
          if (!e || typeof e.type !== 'string') throw new ApiError(0, 'ParseError', `WATCH ${path}: not an event: ${text.slice(0, 200)}`);
          onEvent(e);
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (settled) return;
          buf += chunk;
          let i: number;
          try {
            while (!settled && (i = buf.indexOf('\n')) >= 0) {
              const text = buf.slice(0, i);
              buf = buf.slice(i + 1);
              line(text);
            }
          } catch (err) {
            finish(err instanceof ApiError ? err : new ApiError(0, 'HandlerError', `WATCH ${path}: ${(err as Error).message}`));
          }
        });
        res.on('end', () => {
          if (settled) return;
          try {
            line(buf);
            finish(null);
          } catch (err) {
            finish(err instanceof ApiError ? err : new ApiError(0, 'HandlerError', `WATCH ${path}: ${(err as Error).message}`));
          }
        });
        res.on('error', (err) => finish(new ApiError(0, 'NetworkError', `WATCH ${path}: ${err.message}`)));
        res.on('close', () => {
          if (!res.complete) finish(new ApiError(0, 'NetworkError', `WATCH ${path}: the stream was cut off`));
        });
      });
      req.on('error', (err) => finish(new ApiError(0, 'NetworkError', `WATCH ${path}: ${err.message}`)));
      if (opts.signal.aborted) return onAbort();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }
}

/** `p`, or an ApiError when it takes longer than `ms` or `signal` aborts first. */
function withDeadline<T>(p: Promise<T>, ms: number, method: string, path: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (err: ApiError): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = (): void => fail(new ApiError(0, 'Aborted', `${method} ${path}: aborted`));
    const timer = setTimeout(() => fail(new ApiError(0, 'Timeout', `${method} ${path}: credentials not ready within ${ms} ms`)), ms);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => fail(err instanceof ApiError ? err : new ApiError(0, 'Credentials', `${method} ${path}: ${(err as Error).message}`)),
    );
  });
}

export function kubeClient(kc: KubeConfig, opts: { timeoutMs?: number } = {}): KubeClient {
  return new Client(kc, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}

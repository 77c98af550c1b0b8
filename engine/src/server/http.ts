/**
 * The HTTP side of an engine process, for Kubernetes probes, Prometheus and people:
 *   /livez        200 while the process serves (the event loop turns)
 *   /readyz       200 when every group has a leader and this node is a member of it
 *   /metrics      Prometheus text format
 *   /raft/status  JSON: this node and every group's state
 * and whatever `extraRoutes` serves (the SQL HTTP API, engine/src/sql/http-api.ts), any method.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { groupView } from '../node/index.js';
import type { NodeHost } from '../node/index.js';
import type { EngineMetrics } from './metrics.js';

export interface HttpDeps {
  readonly host: NodeHost;
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
  readonly node: Record<string, string>;
  /** Why the node is not ready yet (e.g. still joining), or null. */
  readonly notReadyReason: () => string | null;
  /** More routes, consulted for any path the built-in ones do not serve: true if it took the request. */
  readonly extraRoutes?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

export function readiness(host: NodeHost, extra: string | null): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (extra !== null) reasons.push(extra);
  for (const g of host.groups.values()) {
    const v = groupView(g, (id) => host.resolve(id));
    if (!v.members.some((m) => m.id === host.selfId)) reasons.push(`group ${g.id}: not a member yet`);
    else if (v.leader === null) reasons.push(`group ${g.id}: no leader`);
  }
  return { ready: reasons.length === 0, reasons };
}

export function startHttp(listen: string, deps: HttpDeps): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const builtIn = path === '/livez' || path === '/readyz' || path === '/metrics' || path === '/raft/status';
    if (!builtIn && deps.extraRoutes?.(req, res, path)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/livez':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const r = readiness(deps.host, deps.notReadyReason());
        return send(r.ready ? 200 : 503, 'text/plain', r.ready ? 'ok\n' : `${r.reasons.join('\n')}\n`);
      }
      case '/metrics':
        deps.metrics.registry.metrics().then(
          (text) => send(200, deps.metrics.registry.contentType, text),
          (err: Error) => send(500, 'text/plain', `${err.message}\n`),
        );
        return;
      case '/raft/status': {
        const groups = [...deps.host.groups.values()].map((g) => groupView(g, (id) => deps.host.resolve(id)));
        return send(200, 'application/json', `${JSON.stringify({ node: { ...deps.node, memberId: deps.host.selfId }, groups }, null, 2)}\n`);
      }
      default:
        return send(404, 'text/plain', 'not found: try /livez, /readyz, /metrics, /raft/status\n');
    }
  });
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listen.slice(i + 1)), host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

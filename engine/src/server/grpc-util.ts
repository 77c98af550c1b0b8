/** Shared plumbing of the engine's gRPC services: errors to status codes, metrics per call. */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, handleUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { NodeError, grpcStatusOf } from '../node/index.js';
import type { EngineMetrics } from './metrics.js';

/** Metadata keys that tell a client where the leader is. */
export const LEADER_ID_KEY = 'leviathan-leader-id';
export const LEADER_ADDRESS_KEY = 'leviathan-leader-address';
/** The NodeError code, so clients can tell "did not happen" from "may have happened". */
export const ERROR_CODE_KEY = 'leviathan-error-code';

export function toServiceError(err: unknown, logger: Logger): Partial<ServiceError> {
  const metadata = new Metadata();
  if (err instanceof NodeError) {
    metadata.set(ERROR_CODE_KEY, err.code);
    if (err.leaderId !== null) metadata.set(LEADER_ID_KEY, err.leaderId);
    if (err.leaderAddress !== null) metadata.set(LEADER_ADDRESS_KEY, err.leaderAddress);
    return { code: grpcStatusOf(err.code), details: err.message, metadata };
  }
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' && 'details' in err) {
    // Already a gRPC error (for example from a forwarded call): pass it through.
    return err as Partial<ServiceError>;
  }
  logger.error({ err }, 'unexpected error in a gRPC handler');
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err), metadata };
}

/** Wraps an async handler: its result or error goes to the callback, and every call is counted. */
export function unary<Req, Res>(
  service: string,
  method: string,
  deps: { readonly metrics: EngineMetrics; readonly logger: Logger },
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const end = deps.metrics.grpcDuration.startTimer({ service, method });
    fn(call.request, call).then(
      (res) => {
        end();
        deps.metrics.grpcRequests.inc({ service, method, code: 'OK' });
        callback(null, res);
      },
      (err: unknown) => {
        end();
        const e = toServiceError(err, deps.logger);
        deps.metrics.grpcRequests.inc({ service, method, code: status[e.code ?? status.UNKNOWN] ?? 'UNKNOWN' });
        callback(e);
      },
    );
  };
}

/** The time left before a call's deadline, capped by `max` (the server's own request timeout). */
export function timeLeft(call: ServerUnaryCall<unknown, unknown>, max: number): number {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : typeof deadline === 'number' && Number.isFinite(deadline) ? deadline - Date.now() : max;
  return Math.max(1, Math.min(max, ms));
}

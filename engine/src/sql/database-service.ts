/** The DatabaseService (proto/leviathan/sql/v1/sql.proto) over SqlDatabase. */
import type { ServerUnaryCall, ServerWritableStream, ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { BackupRequest, BackupResponse, DatabaseServiceServer, RestoreRequest, RestoreResponse } from '../gen/leviathan/sql/v1/sql.js';
import { NodeError } from '../node/index.js';
import { timeLeft, toServiceError, unary } from '../server/grpc-util.js';
import type { EngineMetrics } from '../server/metrics.js';
import { FORWARDED_KEY, MAX_RESTORE_BYTES } from './database.js';
import type { SqlDatabase } from './database.js';

export interface DatabaseServiceDeps {
  readonly database: SqlDatabase;
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
}

function isForwarded(call: { metadata: { get(key: string): unknown[] } }): boolean {
  return call.metadata.get(FORWARDED_KEY).length > 0;
}

export function databaseService(deps: DatabaseServiceDeps): DatabaseServiceServer {
  const db = deps.database;
  const deadline = (call: ServerUnaryCall<unknown, unknown>): number => Date.now() + timeLeft(call, deps.requestTimeoutMs);
  return {
    execute: unary('DatabaseService', 'execute', deps, (req, call) => db.execute(req, isForwarded(call), deadline(call))),
    query: unary('DatabaseService', 'query', deps, (req, call) => db.query(req, isForwarded(call), deadline(call))),
    request: unary('DatabaseService', 'request', deps, (req, call) => db.request(req, isForwarded(call), deadline(call))),
    waitForSequence: unary('DatabaseService', 'waitForSequence', deps, (req, call) => db.waitForSequence(req, deadline(call))),
    backup: (call: ServerWritableStream<BackupRequest, BackupResponse>) => {
      const end = deps.metrics.grpcDuration.startTimer({ service: 'DatabaseService', method: 'backup' });
      db.backup(Date.now() + deps.requestTimeoutMs).then(
        (chunks) => {
          for (const c of chunks) call.write(c);
          call.end();
          end();
          deps.metrics.grpcRequests.inc({ service: 'DatabaseService', method: 'backup', code: 'OK' });
        },
        (err: unknown) => {
          end();
          const e = toServiceError(err, deps.logger);
          deps.metrics.grpcRequests.inc({ service: 'DatabaseService', method: 'backup', code: status[e.code ?? status.UNKNOWN] ?? 'UNKNOWN' });
          call.destroy(Object.assign(new Error(e.details), e));
        },
      );
    },
    restore: (call: ServerReadableStream<RestoreRequest, RestoreResponse>, callback: sendUnaryData<RestoreResponse>) => {
      const parts: Buffer[] = [];
      let size = 0;
      let failed = false;
      call.on('data', (chunk: RestoreRequest) => {
        size += chunk.data.length;
        if (size > MAX_RESTORE_BYTES && !failed) {
          failed = true;
          callback(toServiceError(new NodeError('INVALID_ARGUMENT', `the database exceeds ${MAX_RESTORE_BYTES} bytes`), deps.logger));
          return;
        }
        parts.push(chunk.data);
      });
      call.on('end', () => {
        if (failed) return;
        db.restore(Buffer.concat(parts), Date.now() + Math.max(deps.requestTimeoutMs, 60_000)).then(
          (index) => callback(null, { index: BigInt(index) }),
          (err: unknown) => callback(toServiceError(err, deps.logger)),
        );
      });
    },
  };
}

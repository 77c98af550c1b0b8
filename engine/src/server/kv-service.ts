/**
 * The KvService (proto/leviathan/kv/v1/kv.proto) over the built-in key-value state machine.
 * Writes must reach the leader: elsewhere they fail with NOT_LEADER and the leader's address in
 * the trailing metadata. Linearizable reads work on any member (ReadIndex through the leader).
 */
import type { Logger } from 'pino';
import type { KvServiceServer } from '../gen/leviathan/kv/v1/kv.js';
import { ReadConsistency } from '../gen/leviathan/kv/v1/kv.js';
import { KvStateMachine, encodeKvCommand } from '../kv/kv-state-machine.js';
import type { KvResult } from '../kv/kv-state-machine.js';
import { NodeError } from '../node/index.js';
import type { NodeHost, RaftGroup } from '../node/index.js';
import { timeLeft, unary } from './grpc-util.js';
import type { EngineMetrics } from './metrics.js';

export interface KvDeps {
  readonly host: NodeHost;
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
}

function kvOf(g: RaftGroup): KvStateMachine {
  if (!(g.stateMachine instanceof KvStateMachine)) throw new NodeError('FAILED_PRECONDITION', `group ${g.id} is not a key-value group`);
  return g.stateMachine;
}

function checkResult(r: unknown): KvResult & { ok: true } {
  const res = r as KvResult;
  if (!res.ok) throw new NodeError('INVALID_ARGUMENT', res.error);
  return res;
}

export function kvService(deps: KvDeps): KvServiceServer {
  const { host } = deps;
  const write = async (groupId: number, command: Parameters<typeof encodeKvCommand>[0], timeoutMs: number) => {
    const g = host.group(groupId);
    kvOf(g);
    return checkResult(await g.propose(encodeKvCommand(command), timeoutMs));
  };
  return {
    put: unary('KvService', 'put', deps, async (req, call) => {
      if (req.key === '') throw new NodeError('INVALID_ARGUMENT', 'key is required');
      await write(req.groupId, { op: 'put', key: req.key, value: req.value }, timeLeft(call, deps.requestTimeoutMs));
      return { index: host.group(req.groupId).appliedIndex };
    }),
    compareAndSet: unary('KvService', 'compareAndSet', deps, async (req, call) => {
      if (req.key === '') throw new NodeError('INVALID_ARGUMENT', 'key is required');
      const r = await write(req.groupId, { op: 'cas', key: req.key, expected: req.expected ?? null, value: req.value }, timeLeft(call, deps.requestTimeoutMs));
      return { swapped: r.swapped === true, index: host.group(req.groupId).appliedIndex };
    }),
    get: unary('KvService', 'get', deps, async (req, call) => {
      const g = host.group(req.groupId);
      const kv = kvOf(g);
      let index = g.appliedIndex;
      if (req.consistency !== ReadConsistency.READ_CONSISTENCY_LOCAL) index = await g.linearizableRead(timeLeft(call, deps.requestTimeoutMs));
      const value = kv.get(req.key);
      return value === undefined ? { index } : { value, index };
    }),
  };
}

/** Test helper: terse constructors for key-value operations. */
import type { KvInput, KvOperation, KvOutput } from './kv-model.js';

export const INF = Number.POSITIVE_INFINITY;

export const op = (
  clientId: number,
  call: number,
  ret: number,
  input: KvInput,
  output: KvOutput | undefined,
): KvOperation => ({ clientId, input, call, return: ret, output });
export const get = (c: number, call: number, ret: number, key: string, value: string | null) =>
  op(c, call, ret, { op: 'get', key }, { value });
export const put = (c: number, call: number, ret: number, key: string, value: string) =>
  op(c, call, ret, { op: 'put', key, value }, {});
export const cas = (
  c: number,
  call: number,
  ret: number,
  key: string,
  expected: string | null,
  value: string,
  ok: boolean,
) => op(c, call, ret, { op: 'cas', key, expected, value }, { ok });
/** An operation whose outcome is unknown (timed out): it may or may not have happened. */
export const lost = (c: number, call: number, input: KvInput) => op(c, call, INF, input, undefined);

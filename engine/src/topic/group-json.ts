/**
 * JSON that keeps what plain JSON loses: bigints (priorities are int64) and bytes (payloads).
 * Used for the bodies of node-to-node topic RPCs (results and queries), where both ends are
 * this engine. A bigint is written {"$big":"<decimal>"}, bytes {"$bytes":"<base64>"}.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function replacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { $big: value.toString() };
  // A Buffer's toJSON has already run when `value` arrives: look at the holder's original.
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return { $bytes: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.$big === 'string') return BigInt(o.$big);
    if (keys.length === 1 && typeof o.$bytes === 'string') return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
  }
  return value;
}

export function encodeGroupJson(value: unknown): Buffer {
  const bytes = encoder.encode(JSON.stringify(value, replacer));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeGroupJson<T = unknown>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes), reviver) as T;
}

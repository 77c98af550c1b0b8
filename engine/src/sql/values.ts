/**
 * Conversions between JavaScript values and the SQL API's messages, for the client: parameters
 * to `Value`s, statement inputs to `Statement`s, and results back to plain rows. Pure: no I/O.
 *
 * JavaScript to SQL: null and undefined are NULL, bigints and safe integers are INTEGER, other
 * numbers REAL, strings TEXT, Uint8Arrays (Buffers included) BLOB, booleans INTEGER 0 or 1.
 * SQL to JavaScript: INTEGER is a number when it is a safe integer and a bigint otherwise (never
 * rounded), BLOB a Uint8Array.
 */
import type * as pb from '../gen/leviathan/sql/v1/sql.js';

/** A statement's parameters: positional (`?`, `?NNN`) or named (`:name`, `@name`, `$name`). */
export type Params = readonly unknown[] | Readonly<Record<string, unknown>>;

/** A SQL string, or a SQL string with parameters. */
export type StatementInput = string | { readonly sql: string; readonly params?: Params };

/** Rows a statement returned. */
export interface Rows {
  readonly columns: string[];
  /** Declared column types, where the statement has them ("" otherwise). */
  readonly types: string[];
  readonly rows: unknown[][];
}

/** The outcome of one statement. */
export interface StatementResult {
  /** Why the statement failed; null when it succeeded. */
  readonly error: string | null;
  readonly rowsAffected: number;
  readonly lastInsertId: number | bigint;
  /** The rows, when the statement returns rows (a query, or a write with RETURNING). */
  readonly rows: Rows | null;
  /** Time spent executing the statement on the replica that answered, in seconds. */
  readonly time: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Converts one parameter; `label` names it in errors ("parameter 2", "parameter :id"). */
export function toValue(v: unknown, label = 'parameter'): pb.Value {
  if (v === null || v === undefined) return { kind: { $case: 'null', value: true } };
  switch (typeof v) {
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`${label}: ${v} does not fit in a 64-bit SQLite INTEGER`);
      return { kind: { $case: 'integer', value: v } };
    case 'number':
      // -0 is a safe integer: it binds as 0, which is what SQLite would store anyway.
      return Number.isSafeInteger(v) ? { kind: { $case: 'integer', value: BigInt(v) } } : { kind: { $case: 'real', value: v } };
    case 'string':
      return { kind: { $case: 'text', value: v } };
    case 'boolean':
      return { kind: { $case: 'integer', value: v ? 1n : 0n } };
    default:
      if (v instanceof Uint8Array) {
        return { kind: { $case: 'blob', value: Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength) } };
      }
      throw new TypeError(`${label}: cannot bind ${describe(v)} (expected null, undefined, a number, bigint, string, boolean or Uint8Array)`);
  }
}

function describe(v: unknown): string {
  if (typeof v !== 'object' || v === null) return `a value of type ${typeof v}`;
  if (Array.isArray(v)) return 'an array';
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** Converts a result value (an unset `kind` is NULL). */
export function fromValue(v: pb.Value | undefined): unknown {
  const kind = v?.kind;
  if (kind === undefined) return null;
  switch (kind.$case) {
    case 'null':
      return null;
    case 'integer':
      return toJsInteger(kind.value);
    case 'real':
    case 'text':
      return kind.value;
    case 'blob':
      // A plain Uint8Array view on the received bytes (no copy).
      return new Uint8Array(kind.value.buffer, kind.value.byteOffset, kind.value.byteLength);
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** A number when the integer is safe, the bigint itself otherwise. */
export function toJsInteger(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/** Converts one statement input; `n` (1-based) names the statement in errors. */
export function toStatement(input: StatementInput, n = 1): pb.Statement {
  const where = `statement ${n}`;
  if (typeof input === 'string') return { sql: input, positional: [], named: [] };
  if (typeof input !== 'object' || input === null || typeof input.sql !== 'string') {
    throw new TypeError(`${where}: expected a SQL string or { sql, params }`);
  }
  const { sql, params } = input;
  if (params === undefined || params === null) return { sql, positional: [], named: [] };
  if (Array.isArray(params)) {
    return { sql, positional: params.map((p: unknown, i) => toValue(p, `${where}: parameter ${i + 1}`)), named: [] };
  }
  if (typeof params !== 'object' || !isPlainObject(params)) {
    throw new TypeError(`${where}: params must be an array (positional) or a plain object (named)`);
  }
  const named = Object.entries(params as Record<string, unknown>).map(([key, value]) => {
    // The API wants the name without its prefix; accept `:id`, `@id` and `$id` as well as `id`.
    const name = /^[:@$]/.test(key) ? key.slice(1) : key;
    if (name === '') throw new TypeError(`${where}: empty parameter name`);
    return { name, value: toValue(value, `${where}: parameter :${name}`) };
  });
  return { sql, positional: [], named };
}

/** Converts the statements of a request (a single input counts as a list of one). */
export function toStatements(inputs: StatementInput | readonly StatementInput[]): pb.Statement[] {
  const list: readonly StatementInput[] = Array.isArray(inputs) ? inputs : [inputs as StatementInput];
  return list.map((s, i) => toStatement(s, i + 1));
}

/** Converts a statement's outcome to plain JavaScript. */
export function fromStatementResult(r: pb.StatementResult): StatementResult {
  return {
    error: r.error === '' ? null : r.error,
    rowsAffected: Number(r.rowsAffected),
    lastInsertId: toJsInteger(r.lastInsertId),
    rows: r.rows === undefined ? null : { columns: r.rows.columns, types: r.rows.types, rows: r.rows.rows.map((row) => row.values.map(fromValue)) },
    time: r.time,
  };
}

/**
 * Whether a statement certainly only reads: its first keyword (after comments) is SELECT,
 * VALUES or EXPLAIN. Conservative (a read-only WITH or PRAGMA counts as a write): the client uses
 * it to decide whether a mixed request may be retried after an unclear failure.
 */
export function isReadOnlySql(sql: string): boolean {
  const stripped = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/, '');
  return /^(?:select|values|explain)\b/i.test(stripped);
}

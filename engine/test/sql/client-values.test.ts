import { describe, expect, it } from 'vitest';
import { fromStatementResult, fromValue, isReadOnlySql, toJsInteger, toStatement, toStatements, toValue } from '../../src/sql/values.js';

describe('JavaScript values to SQL values', () => {
  it('maps each JavaScript type to its storage class', () => {
    expect(toValue(null)).toEqual({ kind: { $case: 'null', value: true } });
    expect(toValue(undefined)).toEqual({ kind: { $case: 'null', value: true } });
    expect(toValue(42)).toEqual({ kind: { $case: 'integer', value: 42n } });
    expect(toValue(-7)).toEqual({ kind: { $case: 'integer', value: -7n } });
    expect(toValue(Number.MAX_SAFE_INTEGER)).toEqual({ kind: { $case: 'integer', value: 9007199254740991n } });
    expect(toValue(1.5)).toEqual({ kind: { $case: 'real', value: 1.5 } });
    expect(toValue(2 ** 60)).toEqual({ kind: { $case: 'real', value: 2 ** 60 } });
    expect(toValue(9223372036854775807n)).toEqual({ kind: { $case: 'integer', value: 9223372036854775807n } });
    expect(toValue('héllo')).toEqual({ kind: { $case: 'text', value: 'héllo' } });
    expect(toValue(true)).toEqual({ kind: { $case: 'integer', value: 1n } });
    expect(toValue(false)).toEqual({ kind: { $case: 'integer', value: 0n } });
  });

  it('binds Buffers and other Uint8Arrays as blobs without copying the bytes', () => {
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    const v = toValue(view);
    expect(v.kind?.$case).toBe('blob');
    const blob = v.kind?.value as Buffer;
    expect(Buffer.isBuffer(blob)).toBe(true);
    expect([...blob]).toEqual([1, 2, 3]);
    expect(blob.buffer).toBe(backing.buffer);
    const buf = Buffer.from('abc');
    expect(toValue(buf).kind?.value).toBe(buf);
  });

  it('refuses anything else with a TypeError that names the parameter', () => {
    expect(() => toValue({ a: 1 }, 'parameter 3')).toThrow(TypeError);
    expect(() => toValue({ a: 1 }, 'parameter 3')).toThrow(/parameter 3: cannot bind an object/);
    expect(() => toValue([1], 'parameter 1')).toThrow(/parameter 1: cannot bind an array/);
    expect(() => toValue(new Date(0), 'parameter :when')).toThrow(/parameter :when: cannot bind a Date/);
    expect(() => toValue(Symbol('s'), 'p')).toThrow(/cannot bind a value of type symbol/);
    expect(() => toValue(() => 1, 'p')).toThrow(TypeError);
  });

  it('refuses bigints that do not fit in 64 bits', () => {
    expect(() => toValue(2n ** 63n, 'parameter 1')).toThrow(RangeError);
    expect(() => toValue(-(2n ** 63n) - 1n, 'parameter 1')).toThrow(/parameter 1/);
    expect(toValue(-(2n ** 63n)).kind).toEqual({ $case: 'integer', value: -(2n ** 63n) });
  });
});

describe('SQL values to JavaScript values', () => {
  it('returns integers as numbers when safe and as bigints otherwise, never rounded', () => {
    expect(fromValue({ kind: { $case: 'integer', value: 5n } })).toBe(5);
    expect(fromValue({ kind: { $case: 'integer', value: -9007199254740991n } })).toBe(-9007199254740991);
    expect(fromValue({ kind: { $case: 'integer', value: 9007199254740992n } })).toBe(9007199254740992n);
    expect(fromValue({ kind: { $case: 'integer', value: -(2n ** 63n) } })).toBe(-(2n ** 63n));
    expect(toJsInteger(0n)).toBe(0);
  });

  it('returns the other storage classes as plain values', () => {
    expect(fromValue(undefined)).toBeNull();
    expect(fromValue({})).toBeNull();
    expect(fromValue({ kind: { $case: 'null', value: true } })).toBeNull();
    expect(fromValue({ kind: { $case: 'real', value: 2.5 } })).toBe(2.5);
    expect(fromValue({ kind: { $case: 'text', value: 'x' } })).toBe('x');
    const blob = fromValue({ kind: { $case: 'blob', value: Buffer.from([1, 2]) } });
    expect(blob).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(blob)).toBe(false);
    expect(blob).toEqual(new Uint8Array([1, 2]));
  });

  it('round-trips every kind of parameter', () => {
    for (const v of [null, 0, -1, 123456789, 1.25, 2n ** 62n, 'text', new Uint8Array([0, 255])]) {
      expect(fromValue(toValue(v))).toEqual(v);
    }
  });

  it('converts statement results to plain rows', () => {
    const r = fromStatementResult({
      error: '',
      rowsAffected: 0n,
      lastInsertId: 2n ** 60n,
      time: 0.001,
      rows: {
        columns: ['id', 'name', 'data'],
        types: ['INTEGER', 'TEXT', ''],
        rows: [{ values: [{ kind: { $case: 'integer', value: 1n } }, { kind: { $case: 'text', value: 'a' } }, { kind: { $case: 'null', value: true } }] }],
      },
    });
    expect(r).toEqual({ error: null, rowsAffected: 0, lastInsertId: 2n ** 60n, time: 0.001, rows: { columns: ['id', 'name', 'data'], types: ['INTEGER', 'TEXT', ''], rows: [[1, 'a', null]] } });
    const w = fromStatementResult({ error: 'UNIQUE constraint failed: t.id', rowsAffected: 3n, lastInsertId: 7n, time: 0 });
    expect(w).toMatchObject({ error: 'UNIQUE constraint failed: t.id', rowsAffected: 3, lastInsertId: 7, rows: null });
  });
});

describe('statement inputs', () => {
  it('accepts a bare SQL string', () => {
    expect(toStatement('SELECT 1')).toEqual({ sql: 'SELECT 1', positional: [], named: [] });
    expect(toStatement({ sql: 'SELECT 1' })).toEqual({ sql: 'SELECT 1', positional: [], named: [] });
  });

  it('binds an array as positional parameters', () => {
    const s = toStatement({ sql: 'INSERT INTO t VALUES (?, ?, ?)', params: [1, 'a', null] });
    expect(s.named).toEqual([]);
    expect(s.positional).toEqual([{ kind: { $case: 'integer', value: 1n } }, { kind: { $case: 'text', value: 'a' } }, { kind: { $case: 'null', value: true } }]);
  });

  it('binds an object as named parameters, with or without the prefix', () => {
    const s = toStatement({ sql: 'SELECT :a, @b, $c', params: { a: 1, '@b': 'x', $c: true } });
    expect(s.positional).toEqual([]);
    expect(s.named).toEqual([
      { name: 'a', value: { kind: { $case: 'integer', value: 1n } } },
      { name: 'b', value: { kind: { $case: 'text', value: 'x' } } },
      { name: 'c', value: { kind: { $case: 'integer', value: 1n } } },
    ]);
    expect(toStatement({ sql: 'SELECT :a', params: Object.assign(Object.create(null) as object, { ':a': 2 }) }).named[0]?.name).toBe('a');
  });

  it('names the statement and the parameter in errors', () => {
    expect(() => toStatements(['SELECT 1', { sql: 'SELECT ?, ?', params: [1, {}] }])).toThrow(/statement 2: parameter 2: cannot bind an object/);
    expect(() => toStatements([{ sql: 'SELECT :when', params: { when: new Date() } }])).toThrow(/statement 1: parameter :when: cannot bind a Date/);
    expect(() => toStatements([{ sql: 'x', params: new Map() as unknown as unknown[] }])).toThrow(/params must be an array/);
    expect(() => toStatements([42 as unknown as string])).toThrow(/statement 1: expected a SQL string/);
    expect(() => toStatements([{ sql: 'SELECT :x', params: { ':': 1 } }])).toThrow(/empty parameter name/);
  });

  it('takes a single input as a list of one', () => {
    expect(toStatements('SELECT 1')).toEqual([{ sql: 'SELECT 1', positional: [], named: [] }]);
    expect(toStatements({ sql: 'SELECT ?', params: [1] })).toHaveLength(1);
    expect(toStatements(['a', 'b'])).toHaveLength(2);
  });

  it('recognises statements that certainly only read', () => {
    expect(isReadOnlySql('SELECT 1')).toBe(true);
    expect(isReadOnlySql('  -- comment\n /* c */ select * from t')).toBe(true);
    expect(isReadOnlySql('VALUES (1)')).toBe(true);
    expect(isReadOnlySql('explain query plan select 1')).toBe(true);
    expect(isReadOnlySql('INSERT INTO t VALUES (1)')).toBe(false);
    expect(isReadOnlySql('WITH x AS (SELECT 1) DELETE FROM t')).toBe(false);
    expect(isReadOnlySql('selectivity')).toBe(false);
    expect(isReadOnlySql('')).toBe(false);
  });
});

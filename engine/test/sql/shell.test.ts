import { describe, expect, it } from 'vitest';
import { StatementBuffer, isBlank, parseDotCommand, parseNamedParams, parseParam, splitStatements } from '../../src/cli/shell-input.js';
import { displayWidth, formatTable, formatValue, toJson } from '../../src/cli/table.js';

describe('splitting statements', () => {
  it('splits at semicolons and keeps the unfinished rest', () => {
    expect(splitStatements('select 1; select 2;')).toEqual({ statements: ['select 1', 'select 2'], rest: '' });
    expect(splitStatements('select 1; select')).toEqual({ statements: ['select 1'], rest: ' select' });
    expect(splitStatements('select 1')).toEqual({ statements: [], rest: 'select 1' });
  });

  it('ignores semicolons in strings, quoted identifiers and comments', () => {
    expect(splitStatements("insert into t values ('a;b', 'it''s; fine');").statements).toEqual(["insert into t values ('a;b', 'it''s; fine')"]);
    expect(splitStatements('select "a;b", `c;d`, [e;f] from t;').statements).toEqual(['select "a;b", `c;d`, [e;f] from t']);
    expect(splitStatements('select 1 -- no; split\n, 2;').statements).toEqual(['select 1 -- no; split\n, 2']);
    expect(splitStatements('select /* ; */ 1;').statements).toEqual(['select /* ; */ 1']);
  });

  it('waits for the end of an unterminated string or comment', () => {
    expect(splitStatements("select 'a;\nb';").statements).toEqual(["select 'a;\nb'"]);
    expect(splitStatements("select 'a;").statements).toEqual([]);
    expect(splitStatements('select 1 /* ; ').statements).toEqual([]);
  });

  it('keeps a trigger body together', () => {
    const sql = 'CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE c SET n = n + 1;\n  DELETE FROM d;\nEND;';
    expect(splitStatements(`${sql} select 1;`).statements).toEqual([sql.slice(0, -1), 'select 1']);
    expect(splitStatements('CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE c SET n = 1;').statements).toEqual([]);
    // "end" as a column name does not end anything outside a trigger.
    expect(splitStatements('select 1 as end; select 2;').statements).toEqual(['select 1 as end', 'select 2']);
  });

  it('skips empty statements and comments-only text', () => {
    expect(splitStatements(';;  ; -- hi\n;').statements).toEqual([]);
    expect(isBlank(' -- c\n /* d */ ')).toBe(true);
    expect(isBlank(' x ')).toBe(false);
  });

  it('accumulates lines into multi-line statements', () => {
    const b = new StatementBuffer();
    expect(b.push('select')).toEqual([]);
    expect(b.pending).toBe(true);
    expect(b.push('  1,')).toEqual([]);
    expect(b.push("  'x;y'; select 2; select")).toEqual(["select\n  1,\n  'x;y'", 'select 2']);
    expect(b.pending).toBe(true);
    expect(b.flush()).toBe('select');
    expect(b.pending).toBe(false);
    expect(b.push('-- just a comment')).toEqual([]);
    expect(b.pending).toBe(false);
    expect(b.flush()).toBeNull();
    b.push('select 3');
    b.clear();
    expect(b.pending).toBe(false);
  });
});

describe('dot-commands and parameters', () => {
  it('parses dot-commands with quoted arguments', () => {
    expect(parseDotCommand('.tables')).toEqual({ name: 'tables', args: [] });
    expect(parseDotCommand('  .Schema users  ')).toEqual({ name: 'schema', args: ['users'] });
    expect(parseDotCommand(`.schema "my table" 'x y'`)).toEqual({ name: 'schema', args: ['my table', 'x y'] });
    expect(parseDotCommand('select 1')).toBeNull();
  });

  it('parses command-line parameters as JSON when possible', () => {
    expect(parseParam('42')).toBe(42);
    expect(parseParam('-3')).toBe(-3);
    expect(parseParam('1.5')).toBe(1.5);
    expect(parseParam('9223372036854775807')).toBe(9223372036854775807n);
    expect(parseParam('null')).toBeNull();
    expect(parseParam('true')).toBe(true);
    expect(parseParam('"42"')).toBe('42');
    expect(parseParam('hello')).toBe('hello');
    expect(parseParam('007')).toBe('007');
    expect(parseParam('')).toBe('');
    expect(parseNamedParams(['id=7', 'name=bob', 'eq=a=b'])).toEqual({ id: 7, name: 'bob', eq: 'a=b' });
    expect(() => parseNamedParams(['=1'])).toThrow(/name=value/);
  });
});

describe('table formatting', () => {
  it('formats values for cells', () => {
    expect(formatValue(null)).toBe('NULL');
    expect(formatValue(12n ** 20n)).toBe('3833759992447475122176');
    expect(formatValue(1.5)).toBe('1.5');
    expect(formatValue('a\nb\tc\u0001')).toBe('a\\nb\\tc\\x01');
    expect(formatValue(new Uint8Array([0, 171, 255]))).toBe("x'00abff'");
    expect(formatValue(new Uint8Array(40))).toBe(`x'${'00'.repeat(32)}…' (40 bytes)`);
  });

  it('aligns columns, numbers to the right', () => {
    const out = formatTable(
      ['id', 'name'],
      [
        [1, 'alice'],
        [100, null],
      ],
    );
    expect(out).toBe([' id  | name', '-----+-------', '   1 | alice', ' 100 | NULL', '(2 rows)'].join('\n'));
  });

  it('handles no rows, no columns and wide characters', () => {
    expect(formatTable(['a'], [])).toBe([' a', '---', '(0 rows)'].join('\n'));
    expect(formatTable([], [])).toBe('(0 rows)');
    expect(displayWidth('日本')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(formatTable(['x', 'y'], [['日本', 'z']])).toBe(['  x   | y', '------+---', ' 日本 | z', '(1 row)'].join('\n'));
  });

  it('writes JSON with exact big integers and base64 blobs', () => {
    expect(toJson({ a: 2n ** 63n - 1n, b: new Uint8Array([1, 2, 3]), c: Buffer.from([255]), d: null })).toBe('{"a":"9223372036854775807","b":"AQID","c":"/w==","d":null}');
  });
});

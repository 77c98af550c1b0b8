/**
 * The little SQL lexing the state machine needs, done on tokens so that string literals,
 * quoted identifiers and comments are never mistaken for keywords:
 *  - which statements a client may not send (transaction control, ATTACH, PRAGMA, ...);
 *  - whether a statement touches the state machine's own bookkeeping table;
 *  - CURRENT_TIMESTAMP / CURRENT_DATE / CURRENT_TIME, keywords SQLite evaluates from the
 *    server's clock, rewritten into calls of the (leader-time) date functions.
 * Pure functions; SQLite itself parses and checks everything else.
 */

export interface Token {
  readonly kind: 'word' | 'string' | 'quoted' | 'comment' | 'space' | 'other';
  readonly text: string;
}

/** Splits SQL into tokens; the texts concatenate back to the input exactly. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const start = i;
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      out.push({ kind: 'comment', text: sql.slice(start, i) });
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
      out.push({ kind: 'comment', text: sql.slice(start, i) });
    } else if (c === "'" || c === '"' || c === '`') {
      // A quote inside is written twice ('it''s').
      i++;
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else {
            i++;
            break;
          }
        } else i++;
      }
      out.push({ kind: c === "'" ? 'string' : 'quoted', text: sql.slice(start, i) });
    } else if (c === '[') {
      const end = sql.indexOf(']', i + 1);
      i = end === -1 ? n : end + 1;
      out.push({ kind: 'quoted', text: sql.slice(start, i) });
    } else if (/\s/.test(c)) {
      while (i < n && /\s/.test(sql[i] as string)) i++;
      out.push({ kind: 'space', text: sql.slice(start, i) });
    } else if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$]/.test(sql[i] as string)) i++;
      out.push({ kind: 'word', text: sql.slice(start, i) });
    } else {
      i++;
      out.push({ kind: 'other', text: c });
    }
  }
  return out;
}

const CLOCK_KEYWORDS: Record<string, string> = {
  CURRENT_TIMESTAMP: "(datetime('now'))",
  CURRENT_DATE: "(date('now'))",
  CURRENT_TIME: "(time('now'))",
};

/**
 * Rewrites the clock keywords into calls of the date functions, which the state machine
 * overrides to read the leader-assigned time of the entry being applied. Parenthesised, so the
 * result is valid where the keyword was (also after DEFAULT).
 */
export function rewriteClockKeywords(sql: string): string {
  const tokens = tokenize(sql);
  if (!tokens.some((t) => t.kind === 'word' && CLOCK_KEYWORDS[t.text.toUpperCase()] !== undefined)) return sql;
  return tokens.map((t) => (t.kind === 'word' ? (CLOCK_KEYWORDS[t.text.toUpperCase()] ?? t.text) : t.text)).join('');
}

/** The first keyword of a statement (upper case), skipping comments and space; '' if none. */
export function firstKeyword(sql: string): string {
  for (const t of tokenize(sql)) {
    if (t.kind === 'space' || t.kind === 'comment') continue;
    return t.kind === 'word' ? t.text.toUpperCase() : '';
  }
  return '';
}

/** Name prefix of the state machine's own tables; clients may not touch them. */
export const RESERVED_PREFIX = '_leviathan';

function unquote(t: Token): string {
  if (t.kind === 'quoted') return t.text.slice(1, -1);
  return t.text;
}

/** Whether the statement names a table or column in the reserved namespace. */
export function touchesReserved(sql: string): boolean {
  return tokenize(sql).some((t) => (t.kind === 'word' || t.kind === 'quoted') && unquote(t).toLowerCase().startsWith(RESERVED_PREFIX));
}

const READABLE_PRAGMAS = new Set([
  'table_info',
  'table_xinfo',
  'table_list',
  'index_list',
  'index_info',
  'index_xinfo',
  'foreign_key_list',
  'foreign_key_check',
  'integrity_check',
  'quick_check',
  'page_count',
  'freelist_count',
]);

/**
 * Why a statement may not be run through the database API, or null if it may. Transaction
 * control would break the state machine's own transactions (use the request's `transaction`
 * flag); ATTACH and VACUUM INTO reach other files; PRAGMA can change how replicas behave.
 */
export function refusal(sql: string, readOnly: boolean): string | null {
  if (sql.trim() === '') return 'empty statement';
  const kw = firstKeyword(sql);
  switch (kw) {
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
      return `${kw} is not allowed: send the statements in one request with transaction=true instead`;
    case 'ATTACH':
    case 'DETACH':
      return `${kw} is not allowed: a replicated database cannot reach other files`;
    case 'VACUUM':
      return 'VACUUM is not allowed through the API';
    case 'PRAGMA': {
      // Setting a pragma would change the replica it runs on in ways the log does not capture:
      // only pragmas that describe the schema or check the file may be read.
      const name = tokenize(sql).filter((t) => t.kind === 'word')[1]?.text.toLowerCase() ?? '';
      if (!readOnly || !READABLE_PRAGMAS.has(name) || sql.includes('=')) {
        return `PRAGMA ${name} is not allowed (allowed, in queries: ${[...READABLE_PRAGMAS].join(', ')})`;
      }
      break;
    }
    default:
      break;
  }
  if (touchesReserved(sql)) return `names starting with ${RESERVED_PREFIX} are reserved for the database's own bookkeeping`;
  return null;
}

/**
 * The SQL shell's input handling, pure: splitting text into statements at the `;` that end them,
 * dot-commands, and command-line parameters.
 */

/** Complete statements found in a buffer, and what is left of it (an unfinished statement). */
export interface Split {
  /** Each statement's text, trimmed, without its final `;`; blank statements are skipped. */
  readonly statements: string[];
  /** The text after the last complete statement (may be blank). */
  readonly rest: string;
}

// The token classes and states of SQLite's sqlite3_complete(), which knows that the `;` inside
// a CREATE TRIGGER ... BEGIN ... END do not end the statement.
const enum Tk {
  Semi,
  Ws,
  Other,
  Explain,
  Create,
  Temp,
  Trigger,
  End,
}

const enum St {
  Invalid,
  Start,
  Normal,
  Explain,
  Create,
  Trigger,
  Semi,
  End,
}

const TRANSITIONS: readonly (readonly St[])[] = [
  /*               SEMI      WS          OTHER       EXPLAIN     CREATE     TEMP       TRIGGER     END */
  /* Invalid */ [St.Start, St.Invalid, St.Normal,  St.Explain, St.Create, St.Normal, St.Normal,  St.Normal],
  /* Start   */ [St.Start, St.Start,   St.Normal,  St.Explain, St.Create, St.Normal, St.Normal,  St.Normal],
  /* Normal  */ [St.Start, St.Normal,  St.Normal,  St.Normal,  St.Normal, St.Normal, St.Normal,  St.Normal],
  /* Explain */ [St.Start, St.Explain, St.Explain, St.Normal,  St.Create, St.Normal, St.Normal,  St.Normal],
  /* Create  */ [St.Start, St.Create,  St.Normal,  St.Normal,  St.Normal, St.Create, St.Trigger, St.Normal],
  /* Trigger */ [St.Semi,  St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.Trigger],
  /* Semi    */ [St.Semi,  St.Semi,    St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.End],
  /* End     */ [St.Start, St.End,     St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.Trigger, St.Trigger],
];

const KEYWORDS: Readonly<Record<string, Tk>> = { explain: Tk.Explain, create: Tk.Create, temp: Tk.Temp, temporary: Tk.Temp, trigger: Tk.Trigger, end: Tk.End };

const isWordChar = (c: string): boolean => /[\p{L}\p{N}_$]/u.test(c);

/**
 * Splits `text` into complete statements: a statement ends at a `;` outside string literals,
 * quoted identifiers (`"..."`, `` `...` ``, `[...]`), comments (`--`, `/* *\/`) and trigger
 * bodies. Whatever follows the last such `;` is returned as `rest`.
 */
export function splitStatements(text: string): Split {
  const statements: string[] = [];
  let state = St.Invalid;
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    let token: Tk;
    let end = i + 1;
    if (c === ';') {
      token = Tk.Semi;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      token = Tk.Ws;
    } else if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      end = nl === -1 ? n : nl + 1;
      token = Tk.Ws;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      end = close === -1 ? n : close + 2;
      token = Tk.Ws;
    } else if (c === "'" || c === '"' || c === '`' || c === '[') {
      // A doubled quote inside a literal ('it''s') reads as two adjacent literals: same result.
      const close = text.indexOf(c === '[' ? ']' : c, i + 1);
      end = close === -1 ? n : close + 1;
      token = Tk.Other;
    } else if (isWordChar(c)) {
      while (end < n && isWordChar(text[end] as string)) end++;
      token = KEYWORDS[text.slice(i, end).toLowerCase()] ?? Tk.Other;
    } else {
      token = Tk.Other;
    }
    state = (TRANSITIONS[state] as readonly St[])[token] as St;
    if (token === Tk.Semi && state === St.Start) {
      const stmt = text.slice(start, i).trim();
      if (!isBlank(stmt)) statements.push(stmt);
      start = i + 1;
    }
    i = end;
  }
  return { statements, rest: text.slice(start) };
}

/** Whether SQL text holds nothing but whitespace and comments. */
export function isBlank(sql: string): boolean {
  return sql.replace(/--[^\n]*(\n|$)|\/\*[\s\S]*?(\*\/|$)|\s+/g, '') === '';
}

/**
 * Accumulates input lines and hands back the statements they complete, for a line-at-a-time
 * shell: `push` a line, run what it returns; `pending` says whether a statement is unfinished.
 */
export class StatementBuffer {
  private text = '';

  push(line: string): string[] {
    this.text += `${line}\n`;
    const { statements, rest } = splitStatements(this.text);
    this.text = isBlank(rest) ? '' : rest;
    return statements;
  }

  /** Whether an unfinished statement is waiting for more lines. */
  get pending(): boolean {
    return this.text !== '';
  }

  /** Returns the unfinished statement (without a final `;`), and forgets it. */
  flush(): string | null {
    const rest = this.text.trim();
    this.text = '';
    return isBlank(rest) ? null : rest;
  }

  clear(): void {
    this.text = '';
  }
}

/** A dot-command line (`.schema users`): its name (without the dot) and arguments. */
export interface DotCommand {
  readonly name: string;
  readonly args: string[];
}

/** Parses a dot-command; arguments may be quoted with ' or ". Null when the line is not one. */
export function parseDotCommand(line: string): DotCommand | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith('.')) return null;
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(trimmed.slice(1)); m !== null; m = re.exec(trimmed.slice(1))) {
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3] ?? ''));
  }
  const [name, ...args] = words;
  return { name: (name ?? '').toLowerCase(), args };
}

/**
 * Parses a parameter given on the command line: JSON when it is valid JSON (`42`, `null`,
 * `"text"`, `true`), else the string itself. Integers beyond 2^53 become bigints, exactly.
 */
export function parseParam(s: string): unknown {
  const t = s.trim();
  if (/^-?(?:0|[1-9]\d*)$/.test(t)) {
    const big = BigInt(t);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** Parses `name=value` named parameters (value as in parseParam). */
export function parseNamedParams(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new TypeError(`expected name=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = parseParam(pair.slice(eq + 1));
  }
  return out;
}

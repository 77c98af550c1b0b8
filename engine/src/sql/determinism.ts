/**
 * Makes SQLite's non-deterministic functions deterministic, so that every replica applying the
 * same entry computes the same values and replicas never diverge:
 *
 *  - `random()` and `randomblob(n)` draw from a generator seeded by the entry's (index, term):
 *    the same numbers on every replica, different for every entry;
 *  - `date`, `time`, `datetime`, `julianday`, `unixepoch`, `strftime` and `timediff` read "now"
 *    as the leader-assigned time of the entry being applied (never decreasing along the log);
 *    the clock keywords CURRENT_TIMESTAMP/DATE/TIME are rewritten into these calls
 *    (sql-text.ts);
 *  - the 'localtime' and 'utc' modifiers depend on the server's time zone, so they fail with a
 *    clear error: convert on the client.
 *
 * The overrides are registered on the state machine's connection; the built-in date functions
 * stay available on a private in-memory connection, which does the actual date arithmetic once
 * "now" has been replaced by a fixed time.
 */
import Database from 'better-sqlite3';

/** What the overrides read while an entry is applied (or a read is served). */
export interface ApplyContext {
  /** Milliseconds since the epoch: the entry's leader-assigned time. */
  time: number;
  /** State of the entry's random generator (splitmix64). */
  seed: bigint;
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64: small, fast, and well distributed; enough for SQL's random(). */
function nextRandom(ctx: ApplyContext): bigint {
  ctx.seed = (ctx.seed + 0x9e3779b97f4a7c15n) & MASK64;
  let z = ctx.seed;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** The generator's starting state for the entry at (index, term). */
export function seedFor(index: number, term: number): bigint {
  return ((BigInt(index) << 20n) ^ BigInt(term) ^ 0x5eed5eed5eedn) & MASK64;
}

const DATE_FUNCTIONS = ['date', 'time', 'datetime', 'julianday', 'unixepoch', 'strftime', 'timediff'] as const;

/** An ISO-like time string SQLite's date functions accept, with milliseconds. */
function sqliteTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export class DeterministicFunctions {
  private readonly builtins = new Database(':memory:');
  private readonly calls = new Map<string, Database.Statement>();

  constructor(private readonly ctx: ApplyContext) {}

  /** Registers the overrides on `db`. */
  install(db: Database.Database): void {
    const ctx = this.ctx;
    db.function('random', { deterministic: false }, () => {
      // SQLite's random() is a signed 64-bit integer.
      const u = nextRandom(ctx);
      return u >= 1n << 63n ? u - (1n << 64n) : u;
    });
    db.function('randomblob', { deterministic: false, safeIntegers: true }, (n: unknown) => {
      const len = Math.max(1, Math.min(1 << 20, Number(n ?? 1)));
      const out = Buffer.alloc(len);
      for (let i = 0; i < len; i += 8) {
        const r = nextRandom(ctx);
        for (let b = 0; b < 8 && i + b < len; b++) out[i + b] = Number((r >> BigInt(8 * b)) & 0xffn);
      }
      return out;
    });
    for (const name of DATE_FUNCTIONS) {
      db.function(name, { deterministic: false, varargs: true }, (...args: unknown[]) => this.dateCall(name, args));
    }
  }

  private dateCall(name: (typeof DATE_FUNCTIONS)[number], args: unknown[]): unknown {
    const now = sqliteTime(this.ctx.time);
    // strftime(format, time, ...): the time is the second argument.
    const timeAt = name === 'strftime' ? 1 : 0;
    const a = [...args];
    if (a.length <= timeAt) a.push(now); // date() with no time means now
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (typeof v !== 'string') continue;
      const lower = v.trim().toLowerCase();
      if (i >= timeAt && lower === 'now') a[i] = now;
      else if (i > timeAt && (lower === 'localtime' || lower === 'utc')) {
        throw new Error(`the '${lower}' modifier depends on the server's time zone, which replicas may not share: convert times on the client`);
      }
    }
    const key = `${name}/${a.length}`;
    let stmt = this.calls.get(key);
    if (stmt === undefined) {
      stmt = this.builtins.prepare(`SELECT ${name}(${a.map(() => '?').join(', ')})`).pluck();
      this.calls.set(key, stmt);
    }
    return stmt.get(...a);
  }

  close(): void {
    this.builtins.close();
  }
}

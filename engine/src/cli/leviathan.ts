#!/usr/bin/env node
/**
 * `leviathan`: the SQL client of a Leviathan cluster. Without a command it opens an interactive
 * shell (or, when stdin is not a terminal, runs the statements it reads from stdin); `exec`,
 * `query`, `backup` and `restore` do one thing and exit. `--help` on any command.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONSISTENCIES, LeviathanClient, LeviathanError } from '../sql/client.js';
import type { Consistency, StatementInput, StatementResult } from '../sql/client.js';
import { StatementBuffer, parseDotCommand, parseNamedParams, parseParam, splitStatements } from './shell-input.js';
import type { DotCommand } from './shell-input.js';
import { formatTable, toJson } from './table.js';

interface Globals {
  endpoints: string[];
  consistency: Consistency;
  timeoutMs: number;
  json?: boolean;
}

const program = new Command('leviathan')
  .description('Use a Leviathan replicated SQLite database: an interactive SQL shell (the default), one-shot statements, backups.')
  .addOption(
    new Option('--endpoints <host:port,...>', 'engine gRPC addresses (any member: requests are forwarded to the leader)')
      .env('LEVIATHAN_ENDPOINTS')
      .default(['127.0.0.1:7400', '127.0.0.1:7410', '127.0.0.1:7420'])
      .argParser((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  )
  .addOption(new Option('--consistency <level>', 'how fresh reads must be').choices(CONSISTENCIES).default('linearizable'))
  .addOption(new Option('--timeout-ms <ms>', 'give up on a request after').default(10_000).argParser(intArg))
  .option('--json', 'print results as JSON (integers beyond 2^53 as strings, blobs as base64)')
  .showHelpAfterError();

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

const globals = (): Globals => program.opts<Globals>();

const connect = (): LeviathanClient => new LeviathanClient(globals().endpoints, { timeoutMs: globals().timeoutMs, consistency: globals().consistency });

/** Runs `fn` with a client, and closes it (open channels would keep the process alive). */
async function withClient<T>(fn: (c: LeviathanClient) => Promise<T>): Promise<T> {
  const c = connect();
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** The statements of a one-shot command: several `;`-separated ones, or one with parameters. */
function statementsOf(sql: string, params: string[], named: string[]): StatementInput[] {
  const { statements, rest } = splitStatements(sql);
  const all = [...statements, ...(rest.trim() === '' ? [] : [rest.trim()])];
  if (params.length > 0 && named.length > 0) throw new InvalidArgumentError('give positional parameters or --param name=value, not both');
  const hasParams = params.length > 0 || named.length > 0;
  if (all.length > 1 && hasParams) throw new InvalidArgumentError('parameters need a single statement');
  if (all.length === 0) throw new InvalidArgumentError('no statement given');
  if (!hasParams) return all;
  return [{ sql: all[0] as string, params: named.length > 0 ? parseNamedParams(named) : params.map(parseParam) }];
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Prints statement results: rows as tables, errors on stderr, and (if `affected`) row counts. */
function printResults(results: readonly StatementResult[], affected: boolean): void {
  for (const r of results) {
    if (r.error !== null) {
      console.error(`Error: ${r.error}`);
    } else if (r.rows !== null) {
      console.log(formatTable(r.rows.columns, r.rows.rows));
    } else if (affected) {
      const id = r.rowsAffected > 0 && r.lastInsertId !== 0 ? `, last insert id ${r.lastInsertId}` : '';
      console.log(`OK, ${plural(r.rowsAffected, 'row')} affected${id}`);
    }
  }
}

function describeError(e: unknown): string {
  if (e instanceof LeviathanError) return e.definite ? e.message : `${e.message} (the statement may or may not have taken effect)`;
  return e instanceof Error ? e.message : String(e);
}

// --- the shell ---------------------------------------------------------------------------------

const PROMPT = 'leviathan> ';
const CONTINUATION = '      ...> ';
const HISTORY_SIZE = 1000;

const historyFile = (): string => process.env.LEVIATHAN_HISTORY ?? join(homedir(), '.leviathan_history');

/** The saved history, most recent first (as readline wants it). */
function loadHistory(): string[] {
  try {
    return readFileSync(historyFile(), 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function saveHistory(history: readonly string[]): void {
  try {
    writeFileSync(historyFile(), [...history].reverse().join('\n') + '\n', { mode: 0o600 });
  } catch {
    // A read-only home directory should not stop the shell.
  }
}

const HELP = `Statements end with ";" and may span lines. Dot-commands:
  .help                  this help
  .tables                list the tables and views
  .schema [table]        show CREATE statements (of one table and its indexes)
  .timer on|off          show how long each statement took
  .consistency [level]   show or set the read consistency (${CONSISTENCIES.join(', ')})
  .quit                  leave (Ctrl-D works too)`;

interface ShellState {
  consistency: Consistency;
  timer: boolean;
  failed: boolean;
}

async function runStatement(client: LeviathanClient, sql: string, state: ShellState, interactive: boolean): Promise<void> {
  const started = performance.now();
  try {
    const res = await client.request([sql], { consistency: state.consistency });
    if (globals().json) console.log(toJson(res));
    else printResults(res.results, interactive);
    if (res.results.some((r) => r.error !== null)) state.failed = true;
    if (state.timer) console.log(`Run Time: ${((performance.now() - started) / 1000).toFixed(3)} s (server ${res.time.toFixed(3)} s)`);
  } catch (e) {
    console.error(`Error: ${describeError(e)}`);
    state.failed = true;
  }
}

/** Runs a dot-command; returns true to leave the shell. */
async function runDot(client: LeviathanClient, cmd: DotCommand, state: ShellState): Promise<boolean> {
  const [arg, ...extra] = cmd.args;
  const usage = (text: string): void => {
    console.error(`Usage: ${text}`);
    state.failed = true;
  };
  switch (cmd.name) {
    case 'quit':
    case 'exit':
    case 'q':
      return true;
    case 'help':
      console.log(HELP);
      return false;
    case 'timer':
      if (arg === 'on' || arg === 'off') state.timer = arg === 'on';
      else usage('.timer on|off');
      return false;
    case 'consistency':
      if (arg === undefined) console.log(state.consistency);
      else if ((CONSISTENCIES as readonly string[]).includes(arg) && extra.length === 0) state.consistency = arg as Consistency;
      else usage(`.consistency ${CONSISTENCIES.join('|')}`);
      return false;
    case 'tables':
    case 'schema': {
      if (cmd.name === 'tables' ? cmd.args.length > 0 : extra.length > 0) {
        usage(cmd.name === 'tables' ? '.tables' : '.schema [table]');
        return false;
      }
      const sql =
        cmd.name === 'tables'
          ? "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND tbl_name NOT LIKE '!_leviathan%' ESCAPE '!' ORDER BY name"
          : `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND tbl_name NOT LIKE '!_leviathan%' ESCAPE '!'${arg === undefined ? '' : ' AND tbl_name = ? COLLATE NOCASE'} ORDER BY tbl_name, type NOT IN ('table', 'view'), name`;
      try {
        const res = await client.query([{ sql, params: arg === undefined ? [] : [arg] }], { consistency: state.consistency });
        const r = res.results[0];
        if (r?.error) throw new Error(r.error);
        for (const row of r?.rows?.rows ?? []) console.log(cmd.name === 'tables' ? String(row[0]) : `${String(row[0])};`);
      } catch (e) {
        console.error(`Error: ${describeError(e)}`);
        state.failed = true;
      }
      return false;
    }
    default:
      console.error(`Error: unknown command or invalid arguments: "${cmd.name}". Enter ".help" for help`);
      state.failed = true;
      return false;
  }
}

/**
 * The SQL shell. On a terminal: prompts, line editing, history in ~/.leviathan_history. Otherwise
 * it reads statements from stdin, runs them in order (going on after errors), and exits 1 if any
 * failed.
 */
async function shell(): Promise<void> {
  const interactive = process.stdin.isTTY === true;
  const client = connect();
  const state: ShellState = { consistency: globals().consistency, timer: false, failed: false };
  const rl = createInterface({
    input: process.stdin,
    output: interactive ? process.stdout : undefined,
    terminal: interactive,
    history: interactive ? loadHistory() : [],
    historySize: interactive ? HISTORY_SIZE : 0,
    removeHistoryDuplicates: true,
    prompt: PROMPT,
  });
  const buffer = new StatementBuffer();
  const prompt = (): void => {
    if (!interactive) return;
    rl.setPrompt(buffer.pending ? CONTINUATION : PROMPT);
    rl.prompt();
  };
  if (interactive) {
    rl.on('history', saveHistory);
    rl.on('SIGINT', () => {
      // Ctrl-C drops an unfinished statement; on an empty prompt it leaves.
      if (!buffer.pending) return rl.close();
      buffer.clear();
      process.stdout.write('^C\n');
      prompt();
    });
    console.log(`Leviathan SQL shell on ${globals().endpoints.join(', ')} (reads: ${state.consistency}).`);
    console.log('Statements end with ";". Enter ".help" for help.');
    prompt();
  }
  try {
    for await (const line of rl) {
      if (!buffer.pending) {
        const dot = parseDotCommand(line);
        if (dot !== null) {
          if (await runDot(client, dot, state)) break;
          prompt();
          continue;
        }
      }
      for (const sql of buffer.push(line)) await runStatement(client, sql, state, interactive);
      prompt();
    }
    // Piped input may leave out the final ";".
    const rest = buffer.flush();
    if (rest !== null && !interactive) await runStatement(client, rest, state, interactive);
  } finally {
    rl.close();
    client.close();
  }
  if (interactive) process.stdout.write('\n');
  else if (state.failed) process.exitCode = 1;
}

// --- commands ----------------------------------------------------------------------------------

program
  .command('shell', { isDefault: true })
  .description('interactive SQL shell (the default); reads statements from stdin when it is not a terminal')
  .action(shell);

const paramsHelp = 'parameters bind to ? in order; each is JSON when it parses (42, null, true, "text"), else the string itself';

program
  .command('exec <sql> [params...]')
  .description('run statements that write (several may be given, separated by ";")')
  .option('-p, --param <name=value>', 'a named parameter (:name), repeatable', collect, [])
  .option('--transaction', 'all statements take effect or none')
  .option('--queued', 'return once the write is in the log (prints the sequence to wait for)')
  .addHelpText('after', `\n${paramsHelp}.`)
  .action(async (sql: string, params: string[], o: { param: string[]; transaction?: boolean; queued?: boolean }) => {
    const statements = statementsOf(sql, params, o.param);
    const res = await withClient((c) => c.execute(statements, { transaction: o.transaction ?? false, queued: o.queued ?? false }));
    if (globals().json) console.log(toJson(res, 2));
    else if (o.queued) console.log(`queued at index ${res.index}, term ${res.term}`);
    else printResults(res.results, true);
    if (res.results.some((r) => r.error !== null)) process.exitCode = 1;
  });

program
  .command('query <sql> [params...]')
  .description('run read-only statements at --consistency')
  .option('-p, --param <name=value>', 'a named parameter (:name), repeatable', collect, [])
  .addHelpText('after', `\n${paramsHelp}.`)
  .action(async (sql: string, params: string[], o: { param: string[] }) => {
    const statements = statementsOf(sql, params, o.param);
    const res = await withClient((c) => c.query(statements));
    if (globals().json) console.log(toJson(res, 2));
    else printResults(res.results, false);
    if (res.results.some((r) => r.error !== null)) process.exitCode = 1;
  });

program
  .command('backup <file>')
  .description('write a consistent copy of the database to a SQLite file')
  .action(async (file: string) => {
    const index = await withClient((c) => c.backup(file));
    console.log(globals().json ? toJson({ file, index }) : `backed up to ${file} at index ${index}`);
  });

program
  .command('restore <file>')
  .description('replace the whole database, on every replica, with a SQLite file')
  .action(async (file: string) => {
    const index = await withClient((c) => c.restore(file));
    console.log(globals().json ? toJson({ file, index }) : `restored from ${file} at index ${index}`);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`leviathan: ${describeError(err)}`);
  process.exitCode = 1;
});

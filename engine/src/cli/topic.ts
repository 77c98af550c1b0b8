#!/usr/bin/env node
/**
 * `leviathan-topic`: the command line of Leviathan's priority topics (Disheap's API): create and
 * list topics, enqueue, pop, ack, peek, stats, tail a topic through PopStream, replay a
 * partition's log. `--help` on any command.
 *
 * Exit codes: 0 done, 1 the server (or the network) refused or failed, 2 a usage error.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { TopicClient, TopicClientError } from '../topic/client.js';
import type { EnqueueOptions, HeapInfo, PeekedMessage, TopicMessage, TopicStats } from '../topic/client.js';
import { formatTable, toJson } from './table.js';

/** make dev's topic nodes. */
export const DEFAULT_ENDPOINTS = ['127.0.0.1:7500', '127.0.0.1:7510', '127.0.0.1:7520'];

/** What the commands need of a client (a TopicClient; tests pass a fake). */
export type TopicClientLike = Pick<
  TopicClient,
  'makeHeap' | 'deleteHeap' | 'updateHeapConfig' | 'listHeaps' | 'stats' | 'statsAll' | 'purge' | 'moveToDlq' | 'enqueue' | 'ack' | 'nack' | 'extend' | 'peek' | 'pop' | 'read' | 'commitOffset' | 'fetchOffset' | 'consume' | 'close'
>;

export interface CliDeps {
  readonly connect: (endpoints: string[], timeoutMs: number) => TopicClientLike;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly readStdin: () => Promise<Buffer>;
  /** Resolves on Ctrl-C (tail, read --follow). */
  readonly interrupted: () => Promise<void>;
}

/** A usage error found after parsing (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

// ----- argument parsers (pure) ----------------------------------------------------------------

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds: `500ms`, `30s`, `5m`, `1h30m`, `2d`; a bare number is seconds. */
export function parseDurationMs(text: string): number {
  const t = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(t)) throw new InvalidArgumentError(`expected a duration such as 500ms, 30s, 5m or 1h (a bare number is seconds), got "${text}"`);
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * (UNITS[unit as string] as number);
  return Math.round(ms);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An int64 priority, exact. */
export function parsePriorityArg(text: string): bigint {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new InvalidArgumentError(`expected an integer, got "${text}"`);
  const p = BigInt(t);
  if (p < INT64_MIN || p > INT64_MAX) throw new InvalidArgumentError(`${t} does not fit in a 64-bit integer`);
  return p;
}

export function parseIntArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}]`);
    return n;
  };
}

/** `host:port,host:port` as a list; refuses an empty one or a missing port. */
export function parseEndpoints(text: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new InvalidArgumentError('expected host:port[,host:port...]');
  for (const e of list) if (!/^(?:\[[^\]]+\]|[^:[\]]+):\d{1,5}$/.test(e)) throw new InvalidArgumentError(`"${e}" is not host:port`);
  return list;
}

const collectInt = (min: number) => (v: string, prev: number[] | undefined): number[] => [...(prev ?? []), parseIntArg(min)(v)];

interface EnqueueFlags {
  priority?: bigint;
  key?: string;
  producer?: string;
  epoch?: number;
  sequence?: number;
  delay?: number;
  maxRetries?: number;
}

/** Enqueue options from the command's flags (the producer triple comes whole or not at all). */
export function enqueueOptions(f: EnqueueFlags): EnqueueOptions {
  const triple = [f.producer, f.epoch, f.sequence].filter((v) => v !== undefined).length;
  if (triple !== 0 && triple !== 3) throw new UsageError('--producer, --epoch and --sequence go together (the triple makes the enqueue idempotent)');
  return {
    priority: f.priority ?? 0n,
    ...(f.key === undefined ? {} : { partitionKey: f.key }),
    ...(triple === 3 ? { producer: { id: f.producer as string, epoch: f.epoch as number, sequence: f.sequence as number } } : {}),
    ...(f.delay === undefined ? {} : { delayMs: f.delay }),
    ...(f.maxRetries === undefined ? {} : { maxRetries: f.maxRetries }),
  };
}

// ----- output (pure) --------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A payload for a table cell: its text when it is UTF-8, else the bytes (shown as x'..'). */
export function payloadCell(p: Uint8Array): string | Uint8Array {
  try {
    return utf8.decode(p);
  } catch {
    return p;
  }
}

/** A message as JSON-ready data: the payload as text when it is UTF-8, and always as base64. */
export function messageData(m: TopicMessage | PeekedMessage): Record<string, unknown> {
  const text = payloadCell(m.payload);
  const { payload, ...rest } = m;
  return { ...rest, ...(typeof text === 'string' ? { payload: text } : {}), payloadBase64: Buffer.from(payload).toString('base64') };
}

const iso = (d: Date | null): string => (d === null ? '' : d.toISOString());

/** Popped messages as a table; `acked` (when given) fills an "acked" column. */
export function messagesTable(ms: readonly TopicMessage[], acked: ((m: TopicMessage) => string) | null = null): string {
  const cols = ['partition', 'message id', 'lease token', 'priority', 'attempts', 'payload', ...(acked === null ? [] : ['acked'])];
  return formatTable(
    cols,
    ms.map((m) => [m.partition, m.messageId, m.leaseToken, m.priority, m.attempts, payloadCell(m.payload), ...(acked === null ? [] : [acked(m)])]),
  );
}

export function statsText(topic: string, s: TopicStats): string {
  const head = [
    `topic ${topic}: ${s.totalMessages} messages (${s.inflightMessages} in flight), ${s.dlqMessages} dead letters`,
    `enqueued ${s.totalEnqueues}, popped ${s.totalPops}, acked ${s.totalAcks}, nacked ${s.totalNacks}, retries ${s.totalRetries}, lease timeouts ${s.totalTimeouts}`,
  ];
  const table = formatTable(
    ['partition', 'messages', 'inflight', 'leader', 'replicas', 'healthy'],
    s.partitions.map((p) => [p.partition, p.messages, p.inflight, p.leader === '' ? '(none)' : p.leader, p.replicas.join(' '), p.healthy ? 'yes' : 'NO']),
  );
  return `${head.join('\n')}\n${table}`;
}

export function heapsTable(hs: readonly HeapInfo[]): string {
  return formatTable(
    ['topic', 'mode', 'partitions', 'replicas', 'messages', 'inflight', 'dlq'],
    hs.map((h) => [h.topic, h.mode, h.partitions, h.replicationFactor, h.stats?.totalMessages ?? 0, h.stats?.inflightMessages ?? 0, h.stats?.dlqMessages ?? 0]),
  );
}

/** One line per message, for tail. */
export function messageLine(m: TopicMessage): string {
  const cell = payloadCell(m.payload);
  const shown = typeof cell === 'string' ? JSON.stringify(cell) : `x'${Buffer.from(cell).toString('hex')}'`;
  return `p${m.partition} ${m.messageId} priority=${m.priority} attempts=${m.attempts} ${shown}`;
}

/** What to print for a failure. */
export function describeFailure(e: unknown): string {
  if (e instanceof TopicClientError) {
    let text = `${e.code}: ${e.message}`;
    if (e.mayHaveTakenEffect) text += ' (it may or may not have taken effect)';
    if (e.code === 'UNIMPLEMENTED') text += '\nhint: that node does not serve topics (topic nodes run with --state-machine topic; make dev starts them on 127.0.0.1:7500,7510,7520)';
    if (e.code === 'UNAVAILABLE' && /No connection established|ECONNREFUSED/.test(e.message)) text += '\nhint: no topic node answers at --endpoints (is `make dev` running?)';
    return text;
  }
  return e instanceof Error ? e.message : String(e);
}

// ----- the program ----------------------------------------------------------------------------

interface Globals {
  endpoints: string[];
  timeoutMs: number;
  json?: boolean;
}

const DURATION_HELP = 'e.g. 500ms, 30s, 5m (a bare number is seconds)';

export function buildProgram(deps: CliDeps): Command {
  const program = new Command('leviathan-topic')
    .description("Use Leviathan's priority topics (Disheap's API): topics, enqueue, pop, ack, peek, stats, tail.")
    .addOption(
      new Option('--endpoints <host:port,...>', 'topic node gRPC addresses (any node: requests are forwarded to partition leaders)')
        .env('LEVIATHAN_ENDPOINTS')
        .default(DEFAULT_ENDPOINTS, DEFAULT_ENDPOINTS.join(','))
        .argParser(parseEndpoints),
    )
    .addOption(new Option('--timeout-ms <ms>', 'give up on a request after this long').default(15_000).argParser(parseIntArg(1)))
    .option('--json', 'print JSON (int64 priorities as strings, binary payloads as base64)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.out(s.replace(/\n$/, '')), writeErr: (s) => deps.err(s.replace(/\n$/, '')) });

  const g = (): Globals => program.opts<Globals>();
  const print = (human: () => string, data: () => unknown): void => deps.out(g().json === true ? toJson(data(), 2) : human());
  const withClient = async <T>(fn: (c: TopicClientLike) => Promise<T>): Promise<T> => {
    const c = deps.connect(g().endpoints, g().timeoutMs);
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  };
  const duration = (v: string): number => parseDurationMs(v);

  program
    .command('create <topic>')
    .description('create a topic (MakeHeap)')
    .addOption(new Option('--partitions <n>', 'partitions').default(1).argParser(parseIntArg(1)))
    .addOption(new Option('--replication-factor <n>', 'copies of each partition (default: 3, or the number of topic nodes if fewer)').argParser(parseIntArg(1)))
    .addOption(new Option('--mode <mode>', 'which end pops first: min (lowest priority value) or max').choices(['min', 'max']).default('min'))
    .addOption(new Option('--top-k <n>', 'candidates per partition a cross-partition pop compares').argParser(parseIntArg(1)))
    .addOption(new Option('--retention <duration>', `how long messages are kept (${DURATION_HELP}; default: forever)`).argParser(duration))
    .addOption(new Option('--visibility <duration>', `default lease length (${DURATION_HELP})`).argParser(duration))
    .addOption(new Option('--max-retries <n>', 'default retries before a message is dead-lettered').argParser(parseIntArg(0)))
    .addOption(new Option('--max-payload-bytes <n>', 'largest payload accepted').argParser(parseIntArg(1)))
    .option('--dlq', 'keep messages out of retries in a dead-letter queue (default: they are dropped)')
    .addOption(new Option('--dlq-retention <duration>', `how long dead letters are kept (default: forever; implies --dlq)`).argParser(duration))
    .option('--if-not-exists', 'succeed if the topic already exists')
    .action(async (topic: string, o: { partitions: number; replicationFactor?: number; mode: 'min' | 'max'; topK?: number; retention?: number; visibility?: number; maxRetries?: number; maxPayloadBytes?: number; dlq?: boolean; dlqRetention?: number; ifNotExists?: boolean }) => {
      await withClient(async (c) => {
        try {
          const r = await c.makeHeap(topic, {
            mode: o.mode,
            partitions: o.partitions,
            ...(o.replicationFactor === undefined ? {} : { replicationFactor: o.replicationFactor }),
            ...(o.topK === undefined ? {} : { topKBound: o.topK }),
            ...(o.retention === undefined ? {} : { retentionMs: o.retention }),
            ...(o.visibility === undefined ? {} : { visibilityTimeoutMs: o.visibility }),
            ...(o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries }),
            ...(o.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: o.maxPayloadBytes }),
            ...(o.dlq === true || o.dlqRetention !== undefined ? { dlq: { enabled: true, ...(o.dlqRetention === undefined ? {} : { retentionMs: o.dlqRetention }) } } : {}),
          });
          print(() => `created topic ${r.topic} (${o.partitions} partition${o.partitions === 1 ? '' : 's'}, heap id ${r.heapId})`, () => ({ ...r, created: true }));
        } catch (e) {
          if (o.ifNotExists === true && e instanceof TopicClientError && e.code === 'ALREADY_EXISTS') {
            print(() => `topic ${topic} already exists`, () => ({ topic, created: false }));
            return;
          }
          throw e;
        }
      });
    });

  program
    .command('delete <topic>')
    .description('delete a topic and every message in it (DeleteHeap)')
    .option('--yes', 'really delete')
    .action(async (topic: string, o: { yes?: boolean }) => {
      if (o.yes !== true) throw new UsageError(`deleting ${topic} drops every message in it: add --yes`);
      await withClient((c) => c.deleteHeap(topic));
      print(() => `deleted topic ${topic}`, () => ({ topic, deleted: true }));
    });

  program
    .command('update <topic>')
    .description("change a topic's settings (UpdateHeapConfig); the others keep their value")
    .addOption(new Option('--retention <duration>', `how long messages are kept (${DURATION_HELP})`).argParser(duration))
    .addOption(new Option('--visibility <duration>', 'default lease length').argParser(duration))
    .addOption(new Option('--max-retries <n>', 'default retries').argParser(parseIntArg(0)))
    .addOption(new Option('--max-payload-bytes <n>', 'largest payload accepted').argParser(parseIntArg(1)))
    .option('--dlq', 'turn the dead-letter queue on')
    .option('--no-dlq', 'turn the dead-letter queue off')
    .addOption(new Option('--dlq-retention <duration>', 'how long dead letters are kept (implies --dlq)').argParser(duration))
    .action(async (topic: string, o: { retention?: number; visibility?: number; maxRetries?: number; maxPayloadBytes?: number; dlq?: boolean; dlqRetention?: number }) => {
      const dlq = o.dlqRetention !== undefined ? { enabled: true, retentionMs: o.dlqRetention } : o.dlq === undefined ? undefined : { enabled: o.dlq };
      const changes = {
        ...(o.retention === undefined ? {} : { retentionMs: o.retention }),
        ...(o.visibility === undefined ? {} : { visibilityTimeoutMs: o.visibility }),
        ...(o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries }),
        ...(o.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: o.maxPayloadBytes }),
        ...(dlq === undefined ? {} : { dlq }),
      };
      if (Object.keys(changes).length === 0) throw new UsageError('nothing to change: give at least one option (see --help)');
      await withClient((c) => c.updateHeapConfig(topic, changes));
      print(() => `updated topic ${topic}`, () => ({ topic, updated: true }));
    });

  program
    .command('list')
    .description('list the topics with their sizes (ListHeaps)')
    .action(async () => {
      const heaps = await withClient(async (c) => {
        const all: HeapInfo[] = [];
        let pageToken = '';
        do {
          const page = await c.listHeaps({ pageToken });
          all.push(...page.heaps);
          pageToken = page.nextPageToken;
        } while (pageToken !== '');
        return all;
      });
      print(() => heapsTable(heaps), () => heaps);
    });

  program
    .command('enqueue <topic> [payload]')
    .description('add a message; the payload is the argument, or stdin when it is missing or "-"')
    .addOption(new Option('--priority <int64>', 'priority (the topic mode says which end pops first)').argParser(parsePriorityArg))
    .option('--key <partition-key>', 'messages with the same key go to the same partition')
    .option('--producer <id>', 'producer id (with --epoch and --sequence: an idempotent enqueue)')
    .addOption(new Option('--epoch <n>', 'producer epoch').argParser(parseIntArg(0)))
    .addOption(new Option('--sequence <n>', 'producer sequence').argParser(parseIntArg(0)))
    .addOption(new Option('--delay <duration>', `not delivered before this long from now (${DURATION_HELP})`).argParser(duration))
    .addOption(new Option('--max-retries <n>', "retries before dead-lettering (default: the topic's)").argParser(parseIntArg(0)))
    .action(async (topic: string, payloadArg: string | undefined, o: EnqueueFlags) => {
      const options = enqueueOptions(o);
      const payload = payloadArg === undefined || payloadArg === '-' ? await deps.readStdin() : payloadArg;
      const r = await withClient((c) => c.enqueue(topic, payload, options));
      print(() => `enqueued ${r.messageId} to partition ${r.partition}${r.duplicate ? ' (a duplicate: already enqueued before)' : ''}`, () => r);
    });

  program
    .command('pop <topic>')
    .description('lease the best messages (long-poll Pop); prints their ids and lease tokens')
    .addOption(new Option('--max <n>', 'at most this many').default(1).argParser(parseIntArg(1, 1000)))
    .addOption(new Option('--wait <duration>', `wait this long for a first message (${DURATION_HELP}; at most 30s)`).default(0).argParser(duration))
    .addOption(new Option('--visibility <duration>', "lease length (default: the topic's)").argParser(duration))
    .addOption(new Option('--partition <p>', 'only this partition (repeatable)').argParser(collectInt(0)))
    .option('--ack', 'ack each message right away (consume it)')
    .action(async (topic: string, o: { max: number; wait: number; visibility?: number; partition?: number[]; ack?: boolean }) => {
      const failed = new Map<string, unknown>();
      const messages = await withClient(async (c) => {
        const ms = await c.pop(topic, { max: o.max, waitMs: o.wait, ...(o.visibility === undefined ? {} : { visibilityTimeoutMs: o.visibility }), ...(o.partition === undefined ? {} : { partitions: o.partition }) });
        if (o.ack === true) {
          for (const m of ms) {
            try {
              await c.ack(m);
            } catch (e) {
              failed.set(m.messageId, e);
            }
          }
        }
        return ms;
      });
      // Printed even when an ack failed: the lease tokens are what is needed to retry.
      print(
        () => (messages.length === 0 ? '(no messages)' : messagesTable(messages, o.ack === true ? (m) => (failed.has(m.messageId) ? 'FAILED' : 'yes') : null)),
        () => messages.map((m) => ({ ...messageData(m), ...(o.ack === true ? { acked: !failed.has(m.messageId) } : {}) })),
      );
      if (failed.size > 0) {
        for (const [id, e] of failed) deps.err(`could not ack ${id}: ${describeFailure(e)}`);
        throw new TopicClientError(`${failed.size} of ${messages.length} acks failed`, 'ACK_FAILED', null, false);
      }
    });

  program
    .command('ack <topic> <message-id> <lease-token>')
    .description('confirm a popped message was processed: it is removed')
    .action(async (topic: string, messageId: string, leaseToken: string) => {
      await withClient((c) => c.ack({ topic, messageId, leaseToken }));
      print(() => `acked ${messageId}`, () => ({ messageId, acked: true }));
    });

  program
    .command('nack <topic> <message-id> <lease-token>')
    .description('give a popped message back for a retry (or to the dead-letter queue once out of retries)')
    .addOption(new Option('--backoff <duration>', "visible again after this long (default: the server's exponential backoff)").argParser(duration))
    .option('--reason <text>', 'recorded with the message')
    .action(async (topic: string, messageId: string, leaseToken: string, o: { backoff?: number; reason?: string }) => {
      await withClient((c) => c.nack({ topic, messageId, leaseToken }, { ...(o.backoff === undefined ? {} : { backoffMs: o.backoff }), ...(o.reason === undefined ? {} : { reason: o.reason }) }));
      print(() => `nacked ${messageId}`, () => ({ messageId, nacked: true }));
    });

  program
    .command('extend <topic> <lease-token> <duration>')
    .description(`push a lease's deadline further out (${DURATION_HELP})`)
    .action(async (topic: string, leaseToken: string, extension: string) => {
      let ms: number;
      try {
        ms = parseDurationMs(extension);
      } catch (e) {
        throw new UsageError(`duration: ${(e as Error).message}`);
      }
      if (ms <= 0) throw new UsageError('the extension must be positive');
      await withClient((c) => c.extend({ topic, leaseToken }, ms));
      print(() => `extended the lease by ${ms} ms`, () => ({ leaseToken, extendedMs: ms }));
    });

  program
    .command('peek <topic>')
    .description('look at the best messages without leasing them')
    .addOption(new Option('--limit <n>', 'how many').default(10).argParser(parseIntArg(1, 1000)))
    .addOption(new Option('--partition <p>', 'only this partition').argParser(parseIntArg(0)))
    .option('--dlq', 'include dead letters (after the live messages)')
    .action(async (topic: string, o: { limit: number; partition?: number; dlq?: boolean }) => {
      const r = await withClient((c) => c.peek(topic, { limit: o.limit, includeDlq: o.dlq === true, ...(o.partition === undefined ? {} : { partition: o.partition }) }));
      print(
        () =>
          formatTable(
            ['partition', 'message id', 'priority', 'attempts', 'state', 'enqueued', 'payload'],
            r.items.map((m) => [m.partition, m.messageId, m.priority, m.attempts, m.inDlq ? 'dead letter' : m.isLeased ? `leased until ${iso(m.leaseDeadline)}` : 'ready', iso(m.enqueuedAt), payloadCell(m.payload)]),
          ) + (r.hasMore ? '\n(more beyond --limit)' : ''),
        () => ({ items: r.items.map(messageData), hasMore: r.hasMore }),
      );
    });

  program
    .command('stats [topic]')
    .description("a topic's counters and partitions (every topic's totals without one)")
    .addOption(new Option('--partition <p>', 'only this partition').argParser(parseIntArg(0)))
    .action(async (topic: string | undefined, o: { partition?: number }) => {
      if (topic === undefined) {
        if (o.partition !== undefined) throw new UsageError('--partition needs a topic');
        const all = await withClient((c) => c.statsAll());
        print(
          () =>
            formatTable(
              ['topic', 'messages', 'inflight', 'dlq', 'enqueued', 'acked'],
              Object.entries(all.topics).map(([name, s]) => [name, s.totalMessages, s.inflightMessages, s.dlqMessages, s.totalEnqueues, s.totalAcks]),
            ),
          () => all,
        );
        return;
      }
      const s = await withClient((c) => c.stats(topic, o.partition === undefined ? {} : { partition: o.partition }));
      print(() => statsText(topic, s), () => ({ topic, ...s }));
    });

  program
    .command('tail <topic>')
    .description('stream messages as they come (PopStream with credits), printing and acking each; Ctrl-C stops')
    .addOption(new Option('--credits <n>', 'messages in flight at most').default(10).argParser(parseIntArg(1, 10_000)))
    .addOption(new Option('--partition <p>', 'only this partition (repeatable)').argParser(collectInt(0)))
    .addOption(new Option('--visibility <duration>', "lease length (default: the topic's)").argParser(duration))
    .addOption(new Option('--count <n>', 'stop after this many messages').argParser(parseIntArg(1)))
    .option('--no-ack', 'print only: messages stay leased and come back when their lease ends')
    .action(async (topic: string, o: { credits: number; partition?: number[]; visibility?: number; count?: number; ack: boolean }) => {
      const json = g().json === true;
      let shown = 0;
      let failures = 0;
      await withClient(async (c) => {
        let stopRequested = false;
        let stop = (): void => {
          stopRequested = true;
        };
        const consumer = c.consume(
          topic,
          {
            credits: o.count === undefined ? o.credits : Math.min(o.credits, o.count),
            ...(o.partition === undefined ? {} : { partitions: o.partition }),
            ...(o.visibility === undefined ? {} : { visibilityTimeoutMs: o.visibility }),
            autoAck: false,
          },
          async (m, ctx) => {
            if (stopRequested) {
              // Over --count (it arrived with the last credits): give it back at once.
              await ctx.nack({ backoffMs: 0, reason: 'tail stopped' }).catch(() => undefined);
              return;
            }
            shown++;
            if (o.count !== undefined && shown >= o.count) stop();
            // Printed in delivery order, then acked (a failed ack is reported, and the message comes back).
            deps.out(json ? toJson(messageData(m)) : messageLine(m));
            if (o.ack) {
              try {
                await ctx.ack();
              } catch (e) {
                failures++;
                deps.err(`could not ack ${m.messageId}: ${describeFailure(e)}`);
              }
            }
          },
        );
        stop = (): void => {
          stopRequested = true;
          void consumer.stop();
        };
        void deps.interrupted().then(stop);
        await consumer.done;
      });
      if (!json) deps.err(`tail: ${shown} message${shown === 1 ? '' : 's'}${o.ack ? ' acked' : ' (not acked)'}`);
      if (failures > 0) throw new TopicClientError(`${failures} ack${failures === 1 ? '' : 's'} failed`, 'ACK_FAILED', null, false);
    });

  program
    .command('read <topic> <partition>')
    .description("replay a partition's log from an offset (nothing is leased or removed)")
    .addOption(new Option('--from <offset>', 'first offset').default(0).argParser(parseIntArg(0)))
    .addOption(new Option('--limit <n>', 'records per request').default(100).argParser(parseIntArg(1, 1000)))
    .option('--follow', 'keep reading new records until Ctrl-C')
    .action(async (topic: string, partitionText: string, o: { from: number; limit: number; follow?: boolean }) => {
      let partition: number;
      try {
        partition = parseIntArg(0)(partitionText);
      } catch (e) {
        throw new UsageError(`partition: ${(e as Error).message}`);
      }
      const json = g().json === true;
      await withClient(async (c) => {
        if (o.follow !== true) {
          const r = await c.read(topic, partition, o.from, { limit: o.limit });
          print(
            () =>
              `${formatTable(
                ['offset', 'message id', 'priority', 'enqueued', 'payload'],
                r.records.map((x) => [x.offset, x.messageId, x.priority, iso(x.enqueuedAt), payloadCell(x.payload)]),
              )}\nnext offset: ${r.nextOffset}`,
            () => ({ records: r.records.map((x) => ({ ...x, payload: payloadCell(x.payload), payloadBase64: x.payload.toString('base64') })), nextOffset: r.nextOffset }),
          );
          return;
        }
        let stopped = false;
        void deps.interrupted().then(() => (stopped = true));
        let from = o.from;
        while (!stopped) {
          const r = await c.read(topic, partition, from, { limit: o.limit });
          for (const x of r.records) {
            const cell = payloadCell(x.payload);
            deps.out(json ? toJson({ ...x, payload: cell, payloadBase64: x.payload.toString('base64') }) : `${x.offset} ${x.messageId} priority=${x.priority} ${typeof cell === 'string' ? JSON.stringify(cell) : `x'${Buffer.from(cell).toString('hex')}'`}`);
          }
          from = r.nextOffset;
          if (r.records.length === 0) await Promise.race([new Promise((res) => setTimeout(res, 500)), deps.interrupted()]);
        }
      });
    });

  program
    .command('purge <topic>')
    .description('drop every message of a topic (or one partition), dead letters included')
    .option('--yes', 'really purge')
    .addOption(new Option('--partition <p>', 'only this partition').argParser(parseIntArg(0)))
    .action(async (topic: string, o: { yes?: boolean; partition?: number }) => {
      if (o.yes !== true) throw new UsageError(`purging ${topic} drops its messages: add --yes`);
      await withClient((c) => c.purge(topic, o.partition === undefined ? {} : { partition: o.partition }));
      print(() => `purged ${topic}${o.partition === undefined ? '' : ` partition ${o.partition}`}`, () => ({ topic, purged: true }));
    });

  program
    .command('move-to-dlq <topic> <message-id>')
    .description('move a message to the dead-letter queue by hand')
    .option('--reason <text>', 'recorded with the dead letter')
    .action(async (topic: string, messageId: string, o: { reason?: string }) => {
      await withClient((c) => c.moveToDlq(topic, messageId, o.reason === undefined ? {} : { reason: o.reason }));
      print(() => `moved ${messageId} to the dead-letter queue`, () => ({ messageId, movedToDlq: true }));
    });

  program
    .command('offset <topic> <partition> <group>')
    .description("show a consumer group's stored offset in a partition's log, or set it with --set")
    .addOption(new Option('--set <offset>', 'store this offset').argParser(parseIntArg(0)))
    .action(async (topic: string, partitionText: string, group: string, o: { set?: number }) => {
      let partition: number;
      try {
        partition = parseIntArg(0)(partitionText);
      } catch (e) {
        throw new UsageError(`partition: ${(e as Error).message}`);
      }
      if (o.set !== undefined) {
        const offset = o.set;
        await withClient((c) => c.commitOffset(group, topic, partition, offset));
        print(() => `group ${group}: offset ${offset} stored`, () => ({ group, topic, partition, offset }));
        return;
      }
      const offset = await withClient((c) => c.fetchOffset(group, topic, partition));
      print(() => (offset === null ? `group ${group}: no offset stored` : `group ${group}: offset ${offset}`), () => ({ group, topic, partition, offset }));
    });

  return program;
}

/** Runs the command line; resolves with the exit code (0 done, 1 server/network error, 2 usage). */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; everything else is a usage error (already printed).
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      deps.err(`error: ${e.message}`);
      return 2;
    }
    deps.err(`Error: ${describeFailure(e)}`);
    return 1;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  let interrupt: Promise<void> | null = null;
  const deps: CliDeps = {
    connect: (endpoints, timeoutMs) => new TopicClient(endpoints, { timeoutMs }),
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    readStdin: () => {
      if (process.stdin.isTTY) process.stderr.write('reading the payload from stdin (end it with Ctrl-D)\n');
      return readAll(process.stdin);
    },
    interrupted: () =>
      (interrupt ??= new Promise<void>((resolve) => {
        const on = (): void => {
          process.stderr.write('stopping (Ctrl-C again to quit at once)\n');
          process.once('SIGINT', () => process.exit(130));
          resolve();
        };
        process.once('SIGINT', on);
        process.once('SIGTERM', on);
      })),
  };
  runCli(process.argv.slice(2), deps).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`leviathan-topic: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

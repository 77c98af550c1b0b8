/**
 * `leviathan-admin`: a command-line client for engine nodes. Membership and status through the
 * AdminService, reads and writes through the built-in key-value store. `--help` on any command.
 * (The SQL shell comes with the SQL database.)
 */
import * as grpc from '@grpc/grpc-js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AdminServiceClient, MemberRole, RaftRole } from '../gen/leviathan/admin/v1/admin.js';
import type { StatusResponse } from '../gen/leviathan/admin/v1/admin.js';
import { KvClient } from '../kv/kv-client.js';

type Unary = (req: unknown, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

interface Globals {
  endpoints: string[];
  group: number;
  timeoutMs: number;
}

const program = new Command('leviathan-admin')
  .description('Administer a Leviathan engine cluster and use its built-in key-value store.')
  .addOption(
    new Option('--endpoints <host:port,...>', 'engine gRPC addresses (any member: changes are forwarded to the leader)')
      .env('LEVIATHAN_ENDPOINTS')
      .default(['127.0.0.1:7400', '127.0.0.1:7410', '127.0.0.1:7420'])
      .argParser((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  )
  .addOption(new Option('--group <id>', 'Raft group').default(0).argParser(intArg))
  .addOption(new Option('--timeout-ms <ms>', 'give up after').default(10_000).argParser(intArg))
  .showHelpAfterError();

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function globals(): Globals {
  return program.opts<Globals>();
}

/** Calls an AdminService method on the first endpoint that answers. */
async function admin<Res>(method: string, req: unknown): Promise<Res> {
  const g = globals();
  let last: Error | null = null;
  for (const ep of g.endpoints) {
    const client = new AdminServiceClient(ep, grpc.credentials.createInsecure());
    const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
    try {
      return await new Promise<Res>((resolve, reject) => {
        fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + g.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as Res)));
      });
    } catch (err) {
      last = err as Error;
      const code = (err as grpc.ServiceError).code;
      // Only a node we could not reach is worth skipping; any other answer is the answer.
      if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) break;
    } finally {
      client.close();
    }
  }
  throw last ?? new Error('no endpoint');
}

const ROLE: Record<number, string> = {
  [RaftRole.RAFT_ROLE_FOLLOWER]: 'follower',
  [RaftRole.RAFT_ROLE_PRE_CANDIDATE]: 'pre-candidate',
  [RaftRole.RAFT_ROLE_CANDIDATE]: 'candidate',
  [RaftRole.RAFT_ROLE_LEADER]: 'leader',
};

program
  .command('status')
  .description("every endpoint's view of the group: role, term, indices, members")
  .action(async () => {
    const g = globals();
    for (const ep of g.endpoints) {
      try {
        const st = await withEndpoint(ep, () => admin<StatusResponse>('status', { groupId: g.group }));
        for (const grp of st.groups) {
          console.log(`${st.node?.memberId ?? ep} (${ep}): group ${grp.groupId} ${ROLE[grp.role] ?? '?'} term ${grp.term} commit ${grp.commitIndex} applied ${grp.appliedIndex} snapshot ${grp.snapshotIndex}${grp.recoveryFence ? ` fence ${grp.recoveryFence}` : ''}`);
          if (grp.role === RaftRole.RAFT_ROLE_LEADER) {
            for (const m of grp.members) {
              console.log(`    ${m.role === MemberRole.MEMBER_ROLE_VOTER ? 'voter  ' : 'learner'} ${m.id.padEnd(28)} ${m.address.padEnd(22)} match ${m.matchIndex} lag ${m.lag} ${m.replicationState}${m.active ? '' : ' (inactive)'}`);
            }
          }
        }
      } catch (err) {
        console.log(`${ep}: unreachable (${(err as Error).message})`);
      }
    }
  });

/** Runs `fn` with the endpoint list narrowed to one endpoint. */
async function withEndpoint<T>(ep: string, fn: () => Promise<T>): Promise<T> {
  const opts = program.opts<Globals>();
  const saved = opts.endpoints;
  opts.endpoints = [ep];
  try {
    return await fn();
  } finally {
    opts.endpoints = saved;
  }
}

const kv = (): KvClient => new KvClient(globals().endpoints, { timeoutMs: globals().timeoutMs, groupId: globals().group });

program
  .command('put <key> <value>')
  .description('write a key (through the leader)')
  .action(async (key: string, value: string) => {
    const c = kv();
    await c.put(key, value).finally(() => c.close());
    console.log('OK');
  });

program
  .command('get <key>')
  .description('read a key (linearizable unless --local)')
  .option('--local', "read the first endpoint's replica as it is (may be stale)")
  .action(async (key: string, o: { local?: boolean }) => {
    const c = kv();
    const v = await c.get(key, o.local ? { consistency: 'local', endpoint: globals().endpoints[0] as string } : {}).finally(() => c.close());
    console.log(v ?? '(missing)');
  });

program
  .command('add-learner <member-id> <address>')
  .description('add a member as a learner')
  .action(async (memberId: string, address: string) => {
    const r = await admin<{ index: number }>('addLearner', { groupId: globals().group, memberId, address });
    console.log(r.index === 0 ? 'already a member' : `added at index ${r.index}`);
  });

program
  .command('promote <member-id>')
  .description('promote a caught-up learner to voter')
  .option('--max-lag <n>', 'allowed lag behind the commit index', intArg, 0)
  .action(async (memberId: string, o: { maxLag: number }) => {
    const r = await admin<{ index: number }>('promote', { groupId: globals().group, memberId, maxLag: o.maxLag });
    console.log(r.index === 0 ? 'already a voter' : `promoted at index ${r.index}`);
  });

program
  .command('remove <member-id>')
  .description('remove a member')
  .action(async (memberId: string) => {
    const r = await admin<{ index: number }>('removeMember', { groupId: globals().group, memberId });
    console.log(r.index === 0 ? 'not a member' : `removed at index ${r.index}`);
  });

program
  .command('transfer-leadership [target-id]')
  .description('hand leadership to a voter (default: the most caught-up one)')
  .action(async (targetId?: string) => {
    const r = await admin<{ leaderId: string }>('transferLeadership', { groupId: globals().group, targetId: targetId ?? '' });
    console.log(`leader is now ${r.leaderId}`);
  });

program.parseAsync().catch((err: unknown) => {
  const e = err as grpc.ServiceError;
  console.error(`leviathan-admin: ${e.details || e.message}`);
  process.exit(1);
});

/**
 * kubectl and helm, run as child processes against $KUBECONFIG: the e2e tests drive the cluster
 * the way a person does, so a failing step can be replayed by hand from the log.
 */
import { spawn } from 'node:child_process';

export const KUBECTL = process.env.KUBECTL ?? 'kubectl';
export const HELM = process.env.HELM ?? 'helm';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`${command} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/** Runs a command; resolves with its output whatever the exit code. */
export function run(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a command and returns its stdout; throws CommandError on a non-zero exit. */
export async function must(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) throw new CommandError(`${cmd} ${args.join(' ')}`, res);
  return res.stdout;
}

export const kubectl = (args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<string> => must(KUBECTL, args, opts);
export const kubectlRaw = (args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult> => run(KUBECTL, args, opts);
export const helm = (args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<string> => must(HELM, args, opts);

/** `kubectl get -o json`, parsed. */
export async function getJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

/** Applies manifests (YAML text) server-side, in a namespace when given. */
export async function apply(manifest: string, namespace?: string): Promise<string> {
  return kubectl(['apply', '--server-side', '--field-manager=leviathan-e2e', ...(namespace ? ['-n', namespace] : []), '-f', '-'], { input: manifest });
}

/** Runs a command in a pod's container and returns its stdout. */
export function execIn(namespace: string, pod: string, command: readonly string[], container?: string): Promise<string> {
  return kubectl(['-n', namespace, 'exec', pod, ...(container ? ['-c', container] : []), '--', ...command], { timeoutMs: 60_000 });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs` with
 * `what` and the last thing the probe saw (its last error or `describe()`).
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, opts: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = opts.describe?.() ?? '';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeoutMs ?? 120_000} ms waiting for ${what}${last ? `; last seen: ${last}` : ''}`);
    await sleep(opts.intervalMs ?? 1_000);
  }
}

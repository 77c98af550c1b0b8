/**
 * A namespace per test, deleted afterwards. When the test failed, everything that explains why
 * is printed and saved first: events, pod descriptions, and every container's logs (current and
 * previous) — in $E2E_ARTIFACTS (default ~/.cache/leviathan/e2e-artifacts/<namespace>/).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { getJson, kubectl, kubectlRaw } from './kubectl.js';

interface PodList {
  items: { metadata: { name: string }; spec: { containers: { name: string }[]; initContainers?: { name: string }[] } }[];
}

export const artifactsRoot = process.env.E2E_ARTIFACTS ?? join(homedir(), '.cache', 'leviathan', 'e2e-artifacts');

/** Collects the namespace's events, pod descriptions and logs; prints and saves them. */
export async function dumpNamespace(namespace: string): Promise<string> {
  const dir = join(artifactsRoot, namespace);
  mkdirSync(dir, { recursive: true });
  const parts: string[] = [];
  const section = async (title: string, file: string, args: string[]): Promise<void> => {
    const res = await kubectlRaw(args, { timeoutMs: 30_000 });
    const text = res.code === 0 ? res.stdout : `(${res.stderr.trim()})`;
    writeFileSync(join(dir, file), text);
    parts.push(`----- ${title}\n${text}`);
  };
  await section('events', 'events.txt', ['-n', namespace, 'get', 'events', '--sort-by=.lastTimestamp', '-o', 'wide']);
  await section('objects', 'objects.txt', ['-n', namespace, 'get', 'all,pvc,configmaps,leviathanclusters,disheaptopics', '-o', 'wide']);
  await section('pod descriptions', 'pods-describe.txt', ['-n', namespace, 'describe', 'pods']);
  const pods = await getJson<PodList>(['-n', namespace, 'get', 'pods']).catch(() => ({ items: [] }) as PodList);
  for (const pod of pods.items) {
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      const base = `${pod.metadata.name}.${c.name}`;
      await section(`logs ${pod.metadata.name}/${c.name}`, `${base}.log`, ['-n', namespace, 'logs', pod.metadata.name, '-c', c.name, '--tail=300']);
      const prev = await kubectlRaw(['-n', namespace, 'logs', pod.metadata.name, '-c', c.name, '--previous', '--tail=300']);
      if (prev.code === 0 && prev.stdout.trim() !== '') {
        writeFileSync(join(dir, `${base}.previous.log`), prev.stdout);
        parts.push(`----- logs ${pod.metadata.name}/${c.name} (previous container)\n${prev.stdout}`);
      }
    }
  }
  const text = parts.join('\n');
  console.log(`\n===== ${namespace}: the test failed; what the cluster shows (saved in ${dir})\n${text}`);
  return dir;
}

/**
 * Registers hooks that give each test of the file its own namespace. Returns a getter for the
 * current test's namespace.
 */
export function useNamespace(prefix: string): () => string {
  let current = '';
  beforeEach(async () => {
    current = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
    await kubectl(['create', 'namespace', current]);
    await kubectl(['label', 'namespace', current, 'app.kubernetes.io/part-of=leviathan-e2e']);
  });
  afterEach(async (ctx) => {
    if (!current) return;
    if (ctx.task.result?.state === 'fail') await dumpNamespace(current);
    if (process.env.E2E_KEEP_NAMESPACES === '1') console.log(`keeping namespace ${current} (E2E_KEEP_NAMESPACES=1)`);
    else await kubectl(['delete', 'namespace', current, '--wait=false']);
    current = '';
  });
  return () => {
    if (!current) throw new Error('useNamespace: no namespace outside a test');
    return current;
  };
}

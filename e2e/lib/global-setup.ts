/**
 * Once before the e2e tests: checks that $KUBECONFIG reaches a cluster with a default
 * StorageClass, and installs the CRDs and the operator chart (helm upgrade --install), as a user
 * would.
 *
 * The operator runs as the chart deploys it (one replica; E2E_OPERATOR_REPLICAS overrides, e.g. 0
 * to test the CRDs or the plumbing with no operator reconciling).
 */
import { fileURLToPath } from 'node:url';
import { getJson, helm, kubectl, waitFor } from './kubectl.js';

export const RELEASE = 'leviathan';
export const OPERATOR_NAMESPACE = 'leviathan-system';
const chart = fileURLToPath(new URL('../../charts/leviathan-operator', import.meta.url));

function splitImage(image: string): { repository: string; tag: string } {
  const i = image.lastIndexOf(':');
  return i > image.lastIndexOf('/') ? { repository: image.slice(0, i), tag: image.slice(i + 1) } : { repository: image, tag: 'latest' };
}

export default async function setup(): Promise<void> {
  const t0 = Date.now();
  if (!process.env.KUBECONFIG) throw new Error('KUBECONFIG is not set: run `make e2e` (local cluster) or `make e2e KUBECONFIG=...`');
  const version = await kubectl(['version', '-o', 'json']);
  const server = (JSON.parse(version) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion;
  console.log(`e2e: cluster ${server} (KUBECONFIG=${process.env.KUBECONFIG})`);

  const classes = await getJson<{ items: { metadata: { name: string; annotations?: Record<string, string> } }[] }>(['get', 'storageclass']);
  const dflt = classes.items.find((c) => c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');
  if (!dflt) throw new Error('the cluster has no default StorageClass: the engine StatefulSets need one');

  const operator = splitImage(process.env.OPERATOR_IMAGE ?? 'leviathan/operator:dev');
  const engine = splitImage(process.env.ENGINE_IMAGE ?? 'leviathan/engine:dev');
  await helm(
    [
      'upgrade', '--install', RELEASE, chart,
      '--namespace', OPERATOR_NAMESPACE, '--create-namespace',
      '--set', `image.repository=${operator.repository}`, '--set', `image.tag=${operator.tag}`,
      '--set', `engineImage.repository=${engine.repository}`, '--set', `engineImage.tag=${engine.tag}`,
      '--set', `replicaCount=${process.env.E2E_OPERATOR_REPLICAS ?? '1'}`,
      '--wait', '--timeout', '3m',
    ],
    { timeoutMs: 240_000 },
  );
  for (const crd of ['leviathanclusters.leviathan.dev', 'disheaptopics.leviathan.dev']) {
    await kubectl(['wait', '--for=condition=Established', `crd/${crd}`, '--timeout=60s']);
  }
  // The API server serves a new CRD's schema to `kubectl explain` a moment after Established.
  await waitFor('the CRDs in the OpenAPI documents', async () => ((await kubectl(['explain', 'leviathancluster.spec'])).includes('replicas') ? true : undefined), { timeoutMs: 60_000 });
  console.log(`e2e: chart ${RELEASE} installed in ${OPERATOR_NAMESPACE} in ${Date.now() - t0} ms`);
}

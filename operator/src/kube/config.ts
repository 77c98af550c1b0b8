import { KubeConfig } from '@kubernetes/client-node';

/** $KUBECONFIG, ~/.kube/config or the in-cluster service account, as kubectl would choose. */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

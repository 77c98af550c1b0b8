/** Resources as the API server would hand them to the operator (stored: name, namespace, uid). */
import type { DisheapTopic, DisheapTopicSpec, LeviathanCluster, LeviathanClusterSpec } from '../../src/api/index.js';
import type { OperatorConfig } from '../../src/resources/index.js';

export const CONFIG: OperatorConfig = { engineImage: 'registry.example/leviathan-engine:1.0.0', clusterDomain: 'cluster.local' };

export function cluster(spec: LeviathanClusterSpec = {}, name = 'people'): LeviathanCluster {
  return { apiVersion: 'leviathan.dev/v1alpha1', kind: 'LeviathanCluster', metadata: { name, namespace: 'prod', uid: 'uid-people', generation: 1 }, spec };
}

export function topic(spec: DisheapTopicSpec = {}, name = 'jobs'): DisheapTopic {
  return { apiVersion: 'leviathan.dev/v1alpha1', kind: 'DisheapTopic', metadata: { name, namespace: 'prod', uid: 'uid-jobs', generation: 1 }, spec };
}

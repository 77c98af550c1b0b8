/** Fixed facts of the engine image and of the objects the operator owns. */

/** gRPC: peers, admin, SQL or Disheap, health (engine --listen). */
export const GRPC_PORT = 7400;
/** HTTP: /livez, /readyz, /metrics, /raft/status and the HTTP APIs (engine --http-listen). */
export const HTTP_PORT = 7401;
/** The image's data directory (engine/Dockerfile), the member's volume. */
export const DATA_DIR = '/var/lib/leviathan';
/** The image's user and group (engine/Dockerfile). */
export const ENGINE_UID = 1000;
export const ENGINE_GID = 1000;

export const CONTAINER_NAME = 'engine';
export const DATA_VOLUME = 'data';
export const TMP_VOLUME = 'tmp';

/** Pod template annotation: a hash of the rest of the template (rollout detection). */
export const TEMPLATE_HASH_ANNOTATION = 'leviathan.dev/template-hash';
/** ConfigMap key naming the one pod that may found the cluster (see configmap.ts). */
export const BOOTSTRAP_MEMBER_KEY = 'bootstrap-member';

export const FIELD_MANAGER = 'leviathan-operator';

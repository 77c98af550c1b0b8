/**
 * The engine's probes, all on its HTTP port (engine/src/server/http.ts).
 *
 * - startup: /livez, generous (10 minutes). Opening a data directory verifies the checksum of every
 *   stored row and rebuilds the state machine from the snapshot plus the log; a large database
 *   must not be killed for taking its time. Liveness starts counting only after it succeeds.
 * - liveness: /livez, the event loop turns. A minute of failures before a restart: a stalled fsync
 *   is not cured by a restart, and a restart costs a catch-up.
 * - readiness: /readyz, every group has a leader and this node is a member (not while joining).
 *   Clients reach only ready pods; peers reach all of them (the headless Service publishes
 *   not-ready addresses).
 */
import type { V1Probe } from '@kubernetes/client-node';

const httpGet = (path: string): Pick<V1Probe, 'httpGet'> => ({ httpGet: { path, port: 'http', scheme: 'HTTP' } });

export const startupProbe = (): V1Probe => ({ ...httpGet('/livez'), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 120 });
export const livenessProbe = (): V1Probe => ({ ...httpGet('/livez'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 });
export const readinessProbe = (): V1Probe => ({ ...httpGet('/readyz'), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2, successThreshold: 1 });

/**
 * Security contexts matching the image (engine/Dockerfile): uid/gid 1000, writes only to the data
 * volume and /tmp, needs no capability. fsGroup makes a fresh volume writable by uid 1000;
 * OnRootMismatch skips the recursive chown of a large volume on every start.
 */
import type { V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';
import { ENGINE_GID, ENGINE_UID } from './constants.js';

export function podSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: ENGINE_UID,
    runAsGroup: ENGINE_GID,
    fsGroup: ENGINE_GID,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function containerSecurityContext(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: ENGINE_UID,
    runAsGroup: ENGINE_GID,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
  };
}

/**
 * The engine pod: one container running the image's entrypoint (tini, then the engine), configured
 * by environment (engine-settings.ts), with its volume at the image's data directory.
 *
 * From the spec: scheduling (affinity, tolerations, nodeSelector, topologySpreadConstraints,
 * priorityClassName), extra labels and annotations, extra env. Every one is part of the template,
 * so a change rolls the pods (under updateStrategy RollingUpdate). Fields the spec leaves empty are
 * left out of the template, so that resources which do not use them keep their template hash.
 *
 * Defaults: a preferred anti-affinity that spreads members over nodes (preferred, not required, so
 * a one-node cluster still works), replaced as a whole by spec.affinity; the operator's labels win
 * over spec.podLabels (the selector must keep matching). Fixed: no service links, because a Service
 * named e.g. "leviathan" would inject LEVIATHAN_* variables the engine reads as its own flags; no
 * service account token, because the engine never calls the Kubernetes API.
 */
import type { V1Affinity, V1Container, V1PodSpec, V1PodTemplateSpec, V1ResourceRequirements, V1TopologySpreadConstraint } from '@kubernetes/client-node';
import type { Quantity, ResourceRequirements } from '../api/index.js';
import type { OperatorConfig } from './config.js';
import { CONTAINER_NAME, DATA_DIR, DATA_VOLUME, GRPC_PORT, HTTP_PORT, TMP_VOLUME } from './constants.js';
import { engineEnv, terminationGracePeriodSeconds } from './engine-settings.js';
import { commonLabels, selectorLabels } from './labels.js';
import { livenessProbe, readinessProbe, startupProbe } from './probes.js';
import { containerSecurityContext, podSecurityContext } from './security.js';
import { withTemplateHash } from './template-hash.js';
import type { Workload } from './workload.js';

export function engineImage(w: Workload, cfg: OperatorConfig): string {
  return w.image ?? cfg.engineImage;
}

function spreadOverNodes(w: Workload): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels(w) } } },
      ],
    },
  };
}

/** The user's requests and limits as quantities (the CRD also allows plain integers). */
function containerResources(r: ResourceRequirements): V1ResourceRequirements {
  const quantities = (m: Readonly<Record<string, Quantity>>): Record<string, string> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  return { ...(r.requests ? { requests: quantities(r.requests) } : {}), ...(r.limits ? { limits: quantities(r.limits) } : {}) };
}

/** A constraint without a labelSelector selects nothing useful: give it the pods' selector. */
function spreadConstraints(w: Workload): V1TopologySpreadConstraint[] {
  return w.topologySpreadConstraints.map((c) => (c.labelSelector === undefined ? { ...c, labelSelector: { matchLabels: selectorLabels(w) } } : { ...c }));
}

/** The spec's scheduling fields, each only when set. */
function scheduling(w: Workload): Partial<V1PodSpec> {
  return {
    affinity: w.affinity ?? spreadOverNodes(w),
    ...(w.tolerations.length === 0 ? {} : { tolerations: [...w.tolerations] }),
    ...(Object.keys(w.nodeSelector).length === 0 ? {} : { nodeSelector: { ...w.nodeSelector } }),
    ...(w.topologySpreadConstraints.length === 0 ? {} : { topologySpreadConstraints: spreadConstraints(w) }),
    ...(w.priorityClassName === null ? {} : { priorityClassName: w.priorityClassName }),
  };
}

function engineContainer(w: Workload, cfg: OperatorConfig): V1Container {
  return {
    name: CONTAINER_NAME,
    image: engineImage(w, cfg),
    imagePullPolicy: w.imagePullPolicy,
    env: engineEnv(w, cfg),
    ports: [
      { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
    ],
    startupProbe: startupProbe(),
    livenessProbe: livenessProbe(),
    readinessProbe: readinessProbe(),
    securityContext: containerSecurityContext(),
    ...(w.resources === null ? {} : { resources: containerResources(w.resources) }),
    volumeMounts: [
      { name: DATA_VOLUME, mountPath: DATA_DIR },
      { name: TMP_VOLUME, mountPath: '/tmp' },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** The pod template, with its hash annotation. */
export function podTemplate(w: Workload, cfg: OperatorConfig): V1PodTemplateSpec {
  return withTemplateHash({
    metadata: { labels: { ...w.podLabels, ...commonLabels(w) }, annotations: { ...w.podAnnotations } },
    spec: {
      containers: [engineContainer(w, cfg)],
      securityContext: podSecurityContext(),
      terminationGracePeriodSeconds: terminationGracePeriodSeconds(w),
      ...scheduling(w),
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      volumes: [{ name: TMP_VOLUME, emptyDir: { sizeLimit: '256Mi' } }],
    },
  });
}

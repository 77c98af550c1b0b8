/**
 * A hash of the pod template, stored as an annotation on the template (so every pod carries the
 * hash of the template it was created from). The StatefulSet's update strategy is OnDelete, so a
 * changed template changes no pod by itself: the planner compares each pod's hash with the
 * desired one and restarts pods one at a time. The hash covers the template without the
 * annotation itself, over canonical JSON (sorted keys), so it depends on content, not on the
 * order in which a builder happened to set fields.
 */
import { createHash } from 'node:crypto';
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { TEMPLATE_HASH_ANNOTATION } from './constants.js';

function canonical(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** 16 hex digits of SHA-256 over the template minus its hash annotation. */
export function templateHash(template: V1PodTemplateSpec): string {
  const annotations = { ...(template.metadata?.annotations ?? {}) };
  delete annotations[TEMPLATE_HASH_ANNOTATION];
  const bare: V1PodTemplateSpec = { ...template, metadata: { ...template.metadata, annotations } };
  return createHash('sha256').update(canonical(bare)).digest('hex').slice(0, 16);
}

/** The template with its hash annotation set. */
export function withTemplateHash(template: V1PodTemplateSpec): V1PodTemplateSpec {
  const hash = templateHash(template);
  return { ...template, metadata: { ...template.metadata, annotations: { ...(template.metadata?.annotations ?? {}), [TEMPLATE_HASH_ANNOTATION]: hash } } };
}

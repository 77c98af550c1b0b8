/**
 * Labels of every owned object, and the selector of the pods. The selector uses only labels that
 * derive from the resource's kind and name: a StatefulSet's selector is immutable, and a PDB or
 * Service that selected differently from the StatefulSet would guard or route the wrong pods.
 */
import type { Workload } from './workload.js';

export const NAME_LABEL = 'app.kubernetes.io/name';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';

export const APP_NAME = 'leviathan';
export const MANAGER = 'leviathan-operator';

/** The pod selector: application, instance (the resource's name) and component (its kind). */
export function selectorLabels(w: Pick<Workload, 'name' | 'component'>): Record<string, string> {
  return { [NAME_LABEL]: APP_NAME, [INSTANCE_LABEL]: w.name, [COMPONENT_LABEL]: w.component };
}

export function commonLabels(w: Pick<Workload, 'name' | 'component'>): Record<string, string> {
  return { ...selectorLabels(w), [MANAGED_BY_LABEL]: MANAGER, [PART_OF_LABEL]: APP_NAME };
}

/** The selector as a string, for the scale subresource (`status.selector`). */
export function selectorString(w: Pick<Workload, 'name' | 'component'>): string {
  return Object.entries(selectorLabels(w))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

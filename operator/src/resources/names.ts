/**
 * Names of the objects a resource owns. They derive from the resource's name only, never from
 * its spec, so they never change for the life of the resource.
 */

/** The StatefulSet; its pods are `<name>-<ordinal>`, which is also each engine's member name. */
export const statefulSetName = (resource: string): string => resource;
export const podName = (resource: string, ordinal: number): string => `${resource}-${ordinal}`;
/** Headless Service for peer discovery and stable pod DNS names. */
export const peerServiceName = (resource: string): string => `${resource}-peers`;
/** The Service clients use. */
export const clientServiceName = (resource: string): string => resource;
export const configMapName = (resource: string): string => `${resource}-config`;
export const pdbName = (resource: string): string => resource;
/** PVCs a StatefulSet creates are `<template>-<statefulset>-<ordinal>`. */
export const pvcName = (resource: string, ordinal: number): string => `data-${resource}-${ordinal}`;

/** The ordinal of a pod or PVC name of this resource, or null when the name is not one of them. */
export function ordinalOf(resource: string, name: string): number | null {
  for (const prefix of [`${resource}-`, `data-${resource}-`]) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    if (/^(0|[1-9][0-9]*)$/.test(rest)) return Number(rest);
  }
  return null;
}

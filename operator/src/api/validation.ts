/**
 * Checks the owned objects need of a resource. The CRDs enforce the name's length and first
 * letter too (CEL rules at their root); this is for objects that bypassed them (tests, older
 * CRDs). Returns a message saying what to change, or null.
 */

/**
 * The StatefulSet is named after the resource, and Kubernetes labels each pod with
 * `controller-revision-hash: <name>-<10 characters>`, a label value of at most 63 characters; the
 * peer Service (`<name>-peers`) must be a DNS-1035 label (a letter first). Hence at most 52
 * characters, starting with a letter.
 */
export const MAX_NAME_LENGTH = 52;

export function validateResourceName(name: string): string | null {
  if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    return `name "${name}" must start with a lower-case letter and hold only lower-case letters, digits and '-' (it names a Service)`;
  }
  if (name.length > MAX_NAME_LENGTH) return `name "${name}" is ${name.length} characters long; at most ${MAX_NAME_LENGTH} fit the StatefulSet's pod labels`;
  return null;
}

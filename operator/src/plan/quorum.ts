/** Majority arithmetic, as in engine/src/raft/quorum.ts. */

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * How many more voters may fail before commits stop: up-to-date voters beyond a quorum.
 * Negative when the group is already below quorum.
 */
export function faultTolerance(voters: number, caughtUpVoters: number): number {
  return caughtUpVoters - quorum(voters);
}

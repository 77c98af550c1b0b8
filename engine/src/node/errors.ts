/**
 * Errors the node host gives its API layers. Each code maps to one gRPC status (and one HTTP
 * status), and says whether the outcome of a write is known: a client may retry a write only if
 * it did not take effect, or if the write is idempotent.
 */
import { status } from '@grpc/grpc-js';

export type NodeErrorCode =
  /** This node does not lead the group; `leaderId`/`leaderAddress` say who does, if known. */
  | 'NOT_LEADER'
  /** No leader right now, or leadership changed during a read: retry shortly. */
  | 'UNAVAILABLE'
  /** The write's entry was overwritten by a new leader: it did not take effect. */
  | 'PROPOSAL_DROPPED'
  /** Timed out; a write may or may not have taken effect. */
  | 'TIMEOUT'
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'SHUTTING_DOWN';

export class NodeError extends Error {
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    readonly leaderId: string | null = null,
    readonly leaderAddress: string | null = null,
  ) {
    super(message);
    this.name = 'NodeError';
  }

  /** Whether a write that failed with this error certainly did not take effect. */
  get writeNotApplied(): boolean {
    return this.code !== 'TIMEOUT' && this.code !== 'SHUTTING_DOWN';
  }
}

export function grpcStatusOf(code: NodeErrorCode): status {
  switch (code) {
    case 'NOT_LEADER':
    case 'FAILED_PRECONDITION':
      return status.FAILED_PRECONDITION;
    case 'UNAVAILABLE':
    case 'PROPOSAL_DROPPED':
    case 'SHUTTING_DOWN':
      return status.UNAVAILABLE;
    case 'TIMEOUT':
      return status.DEADLINE_EXCEEDED;
    case 'NOT_FOUND':
      return status.NOT_FOUND;
    case 'INVALID_ARGUMENT':
      return status.INVALID_ARGUMENT;
    default: {
      const never: never = code;
      return never;
    }
  }
}

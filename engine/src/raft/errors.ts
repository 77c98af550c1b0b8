/**
 * Errors the core raises to its driver. Each has a stable code, so the runtime can map it to one
 * gRPC status and one HTTP status without parsing messages.
 */
export type RaftErrorCode =
  | 'NOT_LEADER'
  | 'TRANSFER_IN_PROGRESS'
  | 'CONF_CHANGE_PENDING'
  | 'CONF_CHANGE_INVALID'
  | 'LEADER_NOT_READY'
  | 'COMPACTED'
  | 'UNAVAILABLE'
  | 'SNAPSHOT_OUT_OF_DATE'
  | 'INVALID_ARGUMENT';

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}

/** A proposal was refused; the caller may retry elsewhere (the leader hint says where). */
export class ProposalDroppedError extends RaftError {
  constructor(
    code: 'NOT_LEADER' | 'TRANSFER_IN_PROGRESS',
    readonly leaderHint: string | null,
  ) {
    super(code, code === 'NOT_LEADER' ? `not the leader (leader: ${leaderHint ?? 'unknown'})` : 'leadership transfer in progress');
    this.name = 'ProposalDroppedError';
  }
}

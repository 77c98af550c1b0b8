/** The Raft consensus core: pure and deterministic. Everything outside imports from here. */
export * from './types.js';
export { RaftError, ProposalDroppedError } from './errors.js';
export type { RaftErrorCode } from './errors.js';
export { RaftInvariantError } from './log.js';
export { MemoryStorage, entrySize } from './storage.js';
export type { Storage } from './storage.js';
export { RawNode } from './raw-node.js';
export { Raft } from './raft.js';
export type { RaftOptions, RaftStatus, RaftTestingKnobs } from './raft.js';
export { applyConfChange, isVoter, isLearner, isMember, configsEqual } from './membership.js';
export { quorumSize } from './quorum.js';
export { Random } from './random.js';
export { checksum } from './snapshot-transfer.js';

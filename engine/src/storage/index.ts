/** The durable Raft log of one engine node, in SQLite. */
export { LogStore, memberId } from './log-store.js';
export type { GroupWrite, Identity, LogStoreOptions, RecoveredTail } from './log-store.js';
export { GroupLog } from './group-log.js';
export { CorruptStorageError } from './verify.js';

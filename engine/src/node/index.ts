/** The node host: Raft groups driven together over one durable store and one transport. */
export { NodeHost } from './node-host.js';
export type { HostMetrics, NodeHostOptions } from './node-host.js';
export { RaftGroup } from './raft-group.js';
export { NodeError, grpcStatusOf } from './errors.js';
export type { NodeErrorCode } from './errors.js';
export type { StateMachine, AppliedCommand } from './state-machine.js';
export { groupView } from './status.js';
export type { GroupView, MemberView } from './status.js';

export type { MaybePromise } from '../maybe-promise.js';
export { createEvict, Evict } from './evict.js';
export type { EvictOptions } from './options.js';
export {
  type Actor,
  type CheckResult,
  CLOSE_CODES,
  type CloseReason,
  type ConnectionClosedEvent,
  type ConnectionCloseInfo,
  type ConnectionHandle,
  type Credential,
  type EvictEvents,
  type IssuedSession,
  type LocalConnectionInfo,
  type RegisterConnectionOptions,
  type RevocationAction,
  type RevocationContext,
  type RevocationEvent,
  type RevocationResult,
  type SessionRegistration,
  type SessionStatus,
  type StatelessCredential,
} from './types.js';

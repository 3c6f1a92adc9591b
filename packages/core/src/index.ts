export { type AdminApi, type AdminApiOptions, type AdminRoute, createAdminApi } from './admin-api.js';
export type { CacheStats } from './cache.js';
export { type Clock, systemClock } from './clock.js';
export {
  type Actor,
  type CheckResult,
  CLOSE_CODES,
  type CloseReason,
  type ConnectionClosedEvent,
  type ConnectionCloseInfo,
  type ConnectionHandle,
  type Credential,
  createEvict,
  Evict,
  type EvictEvents,
  type EvictOptions,
  type IssuedSession,
  type RegisterConnectionOptions,
  type RevocationAction,
  type RevocationContext,
  type RevocationEvent,
  type RevocationResult,
  type SessionStatus,
} from './engine.js';
export {
  ConnectionNotFoundError,
  DeviceNotFoundError,
  EvictError,
  type EvictErrorCode,
  InvalidTokenError,
  isEvictError,
  isStoreFailure,
  StoreCorruptError,
  StoreTimeoutError,
  StoreUnavailableError,
  UnknownUserError,
} from './errors.js';
export { FAMILY_NAMES, type FamilyName } from './families/family.js';
export type { LancensOptions } from './families/lancens.js';
export { TENCENT_ERRORS, type TencentErrorCode, type TencentOptions } from './families/tencent.js';
export type { WukongimOptions } from './families/wukongim.js';
export {
  type CredentialExtractor,
  type CredentialSource,
  createGuard,
  type Guard,
  type GuardOptions,
  type GuardRequest,
  type GuardResult,
  type Principal,
  sessionTokenOf,
} from './guard.js';
export { parsedBodyOf, parseRawBody, readNodeBody } from './http/body.js';
export {
  attachPrincipal,
  createUpgradeCheck,
  fromNodeRequest,
  guardRequestOf,
  queryOf,
  writeNodeResponse,
} from './http/node.js';
export {
  type BodyResult,
  type EvictHandler,
  type EvictRequest,
  type EvictResponse,
  type HeaderValue,
  MAX_BODY_BYTES,
} from './http/types.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export type {
  ClusterMessage,
  ConnectionRecord,
  ConnectionRef,
  Cutoff,
  CutoffReason,
  DeviceRecord,
  NodeRecord,
  PushTokenKind,
  PushTokenRecord,
  RejectionReason,
  SessionRecord,
  UserRecord,
} from './model.js';
export { PUSH_TOKEN_KINDS } from './model.js';
export { hashToken } from './secrets.js';
export { type ClosableSocket, registerSocket, rejectUpgrade } from './sockets.js';
export { assertIncarnation, type EvictStore, type KickOutcome, type KickRequest } from './store.js';
export {
  MAX_USERSIG_LENGTH,
  type SignUserSigOptions,
  signUserSig,
  type UserSigClaims,
  type UserSigFailure,
  type UserSigResult,
  type VerifyUserSigOptions,
  verifyUserSig,
} from './usersig.js';

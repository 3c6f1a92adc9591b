/**
 * `@evict/core`: the revocation engine, its stores, credentials and guard, the admin API families,
 * errors and events. Node HTTP plumbing for adapters is in `@evict/core/node`; the store conformance
 * suite in `@evict/core/testing`.
 */
export { type AdminApi, type AdminApiOptions, type AdminRoute, createAdminApi } from './admin-api.js';
export type { CacheStats } from './cache.js';
export { type Clock, systemClock } from './clock.js';
export type { ConsoleOptions } from './console/console-api.js';
export { createEvict, Evict } from './engine/evict.js';
export {
  type AdmissionOutcome,
  type AdmissionRequest,
  admissionRequestOf,
  admit,
  deviceClassOf,
  LOGIN_POLICY_PRESETS,
  type LoginPolicy,
  type LoginPolicyPreset,
  loginPolicyPreset,
  type OverLimit,
  type PresetOptions,
} from './engine/login-policy.js';
export type { EvictObserver } from './engine/observer.js';
export type { EvictOptions } from './engine/options.js';
export {
  type Actor,
  type CheckResult,
  CLOSE_CODES,
  type CloseReason,
  type ConnectionClosedEvent,
  type ConnectionCloseInfo,
  type ConnectionEndedEvent,
  type ConnectionHandle,
  type ConnectionOpenedEvent,
  type Credential,
  type EvictEvents,
  type IssuedSession,
  type IssueSessionOptions,
  type LocalConnectionInfo,
  MAX_LISTED_CONNECTIONS,
  MAX_LISTED_SESSIONS,
  MAX_PRESENCE_UIDS,
  type RegisterConnectionOptions,
  type RevocationAction,
  type RevocationContext,
  type RevocationEvent,
  type RevocationResult,
  type SessionInfo,
  type SessionRegistration,
  type SessionStatus,
  type StatelessCredential,
  type UserPresence,
} from './engine/types.js';
export {
  ConnectionNotFoundError,
  DeviceNotFoundError,
  EvictError,
  type EvictErrorCode,
  InvalidTokenError,
  isEvictError,
  isStoreFailure,
  LoginRefusedError,
  SessionNotFoundError,
  StoreCorruptError,
  StoreNotReplicatedError,
  StoreTimeoutError,
  StoreUnavailableError,
  UnknownUserError,
} from './errors.js';
export { FAMILY_NAMES, type FamilyName } from './families/family.js';
export type { LancensOptions } from './families/lancens.js';
export type {
  JsonSchema,
  ParameterDoc,
  ResponseDoc,
  RouteDoc,
  SecuritySchemeName,
} from './families/route-doc.js';
export { SECURITY_SCHEMES } from './families/route-doc.js';
export {
  DEFAULT_TENCENT_PLATFORMS,
  MAX_USERSIG_LENGTH,
  type SignUserSigOptions,
  signUserSig,
  TENCENT_ERRORS,
  type TencentErrorCode,
  type TencentOptions,
  type UserSigClaims,
  type UserSigFailure,
  type UserSigResult,
  type UserSigSourceOptions,
  userSigSource,
  type VerifyUserSigOptions,
  verifyUserSig,
} from './families/tencent/index.js';
export type { WukongimOptions } from './families/wukongim.js';
export {
  bearerOf,
  type CredentialExtractor,
  type CredentialSource,
  createGuard,
  type Guard,
  type GuardOptions,
  type GuardRejection,
  type GuardRequest,
  type GuardResult,
  guardRejection,
  loginRefusal,
  type Principal,
  requestHeader,
  sessionSource,
  sessionTokenOf,
} from './guard.js';
export { parseRawBody } from './http/body.js';
export {
  type BodyResult,
  type EvictHandler,
  type EvictRequest,
  type EvictResponse,
  type HeaderValue,
  MAX_BODY_BYTES,
} from './http/types.js';
export { isThenable, type MaybePromise, mapMaybePromise } from './maybe-promise.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export type { MetricsRouteOptions, MetricsSource } from './metrics-route.js';
export type {
  Admission,
  ClusterMessage,
  ConnectionDetails,
  ConnectionRecord,
  ConnectionRef,
  Cutoff,
  CutoffReason,
  DeviceConnections,
  DeviceLevel,
  DeviceRecord,
  NodeRecord,
  PushTokenKind,
  PushTokenRecord,
  RejectionReason,
  SessionDetails,
  SessionRecord,
  UserRecord,
} from './model.js';
export { PUSH_TOKEN_KINDS } from './model.js';
export { type OpenApiOptions, openApiDocument } from './openapi.js';
export { definedOptions } from './options.js';
export { hashToken, sessionIdOf } from './secrets.js';
export {
  assertIncarnation,
  countByDevice,
  type EvictStore,
  type KickOutcome,
  type KickRequest,
  readAllPages,
  type ScanPage,
} from './store.js';

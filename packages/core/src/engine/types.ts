import type {
  ConnectionDetails,
  DeviceConnections,
  DeviceLevel,
  PushTokenKind,
  RejectionReason,
  SessionDetails,
} from '../model.js';
import type { LoginPolicy, LoginPolicyPreset } from './login-policy.js';

/** A credential the guard checks. */
export type Credential =
  /** An opaque login token, issued by evict or registered by the host. */
  | { type: 'session'; token: string }
  /**
   * A credential evict never saw issued (a JWT, a Tencent UserSig), already verified by its own
   * signature: evict only knows its user, device and issue time. Give `issuedAtSec` for
   * second-resolution times (JWT `iat`, UserSig `TLS.time`): such a credential issued in the same
   * second as a kick is rejected.
   */
  | {
      type: 'stateless';
      uid: string;
      deviceFlag?: number;
      issuedAtMs?: number;
      issuedAtSec?: number;
      expiresAtMs?: number;
    };

export type StatelessCredential = Extract<Credential, { type: 'stateless' }>;

export type CheckResult =
  | {
      ok: true;
      uid: string;
      /** Absent for a stateless credential not bound to a device. */
      deviceFlag?: number;
      credential: 'session' | 'stateless';
      /** True when the store could not be read and `failOpen` let the credential through. */
      degraded?: boolean;
    }
  | { ok: false; reason: RejectionReason; uid?: string };

/** Who asked for a revocation. */
export interface Actor {
  type: 'manager' | 'admin' | 'user' | 'host';
  /** The admin's identifier, the user's uid; absent for a shared manager token. */
  id?: string;
}

/** Where a revocation came from, for the audit event. */
export interface RevocationContext {
  actor?: Actor;
  /** The endpoint that served it, e.g. `POST /user/device_quit`. */
  endpoint?: string;
  /** The API family whose endpoint served it (`wukongim`, `tencent`, `lancens`, `sessions`); absent for the host's own calls. */
  family?: string;
}

export type RevocationAction =
  | 'kick_user'
  | 'quit_device'
  | 'remove_connection'
  | 'kick_connection'
  | 'logout'
  | 'revoke_session'
  | 'replace'
  | 'clear_push_token';

/** The audit event every revocation emits. It never carries a raw token. */
export interface RevocationEvent {
  action: RevocationAction;
  uid: string;
  /** For `quit_device`: the device, or `all`. For `logout`: the session's device. */
  deviceFlag?: number | 'all';
  connId?: number;
  nodeId?: number;
  /** For `logout`, `revoke_session` and `replace`: the session's public id. */
  sessionId?: string;
  /** For `replace`: the login that pushed the session out (as Tencent's `KickedDevice` names devices). */
  replacedBy?: { sessionId: string; deviceFlag: number };
  /** For `logout` and `clear_push_token`: the push-token kinds that were cleared. */
  pushTokenKinds?: PushTokenKind[];
  actor: Actor;
  endpoint?: string;
  /** The API family whose endpoint served it; absent for the host's own calls. */
  family?: string;
  atMs: number;
  /** The node that served the revocation. */
  servedByNodeId: number;
  /**
   * Connections closed on this node plus those whose node was told to close them. For a logout or
   * a `revoke_session`, those of this node only: every node closes its own connections of the
   * session on the revocation's message, and none of them are listed in the store by session.
   */
  connectionsClosed: number;
}

export interface ConnectionClosedEvent {
  uid: string;
  deviceFlag: number;
  connId: number;
  nodeId: number;
  code: number;
  reason: string;
  /** When this node closed it: its `close` had returned (a WebSocket's close frame handed to the socket). */
  atMs: number;
}

/**
 * A connection of this node counts: registered, its credential (if given) checked and its device's
 * rule applied. The counts are this node's, the new connection included: each node knows its own
 * connections without a store trip (`countConnections` counts the cluster's).
 */
export interface ConnectionOpenedEvent {
  uid: string;
  deviceFlag: number;
  connId: number;
  nodeId: number;
  atMs: number;
  /** The public id of the session it was opened with, if it was. */
  sessionId?: string;
  deviceId?: string;
  /** This node's live connections of the user on this device flag. */
  deviceConnectionsOnNode: number;
  /** This node's live connections of the user, on every device flag. */
  userConnectionsOnNode: number;
}

/**
 * A connection of this node that `connectionOpened` announced stopped counting, for any reason:
 * evict closed it (`endedBy: 'evict'`, with the code and reason `connectionClosed` gave), or the host
 * unregistered it (`endedBy: 'host'`: the client went away). The counts are this node's, after it left.
 */
export interface ConnectionEndedEvent {
  uid: string;
  deviceFlag: number;
  connId: number;
  nodeId: number;
  atMs: number;
  endedBy: 'evict' | 'host';
  /** When evict closed it: the close code and reason. */
  code?: number;
  reason?: string;
  deviceConnectionsOnNode: number;
  userConnectionsOnNode: number;
}

export interface EvictEvents {
  revocation: RevocationEvent;
  connectionClosed: ConnectionClosedEvent;
  /** A connection of this node was registered and admitted: presence's "online". */
  connectionOpened: ConnectionOpenedEvent;
  /** A connection `connectionOpened` announced left this node, closed by evict or unregistered: presence's "offline". */
  connectionEnded: ConnectionEndedEvent;
  /** A background task failed (a heartbeat, a close). Requests report their own failures. */
  error: Error;
}

export interface RevocationResult {
  atMs: number;
  connectionsClosed: number;
}

/** WebSocket close codes (application range) and reasons evict closes connections with. */
export const CLOSE_CODES = {
  kicked: 4001,
  device_quit: 4002,
  connection_removed: 4003,
  /** The session the connection was opened with was logged out. */
  session_revoked: 4004,
  /** The session the connection was opened with was pushed out by a login policy (a newer login). */
  replaced: 4005,
  /** Kicked alone (WuKongIM's `/conn/kick`): told first, closed after a grace period. */
  connection_kicked: 4006,
} as const;

export type CloseReason = keyof typeof CLOSE_CODES;

export interface ConnectionCloseInfo {
  code: number;
  reason: CloseReason;
  /**
   * When set, tell the client why first and close it this many milliseconds later (as WuKongIM
   * does on `/conn/kick`); otherwise close at once. `registerSocket` does both.
   */
  graceMs?: number;
}

export interface RegisterConnectionOptions extends ConnectionDetails {
  uid: string;
  deviceFlag: number;
  /** A positive integer unique on this node; default: one is assigned. */
  connId?: number;
  /** Closes the live connection (e.g. `ws.close(code, reason)`). Called at most once. */
  close: (info: ConnectionCloseInfo) => void;
  /**
   * The credential the connection authenticated with. When given, it is checked again after the
   * connection is registered, so a kick that lands between the guard and the registration still
   * closes it.
   */
  credential?: Credential;
}

export interface ConnectionHandle {
  readonly uid: string;
  readonly deviceFlag: number;
  readonly connId: number;
  readonly nodeId: number;
  /** Call when the connection closes for any reason; idempotent. */
  unregister(): Promise<void>;
}

/** One of this node's live connections, as `localConnections` lists it. */
export interface LocalConnectionInfo extends ConnectionDetails {
  uid: string;
  deviceFlag: number;
  connId: number;
  connectedAtMs: number;
  /** The public id of the session it was opened with, if it was. */
  sessionId?: string;
}

/** A session as `sessionsOf` lists it: no token, only its hash. */
export interface SessionStatus {
  tokenHash: string;
  deviceFlag: number;
  issuedAtMs: number;
  expiresAtMs: number;
  live: boolean;
  reason?: RejectionReason;
}

/** A login token the host issued itself, as `registerSession` takes it. */
export interface SessionRegistration extends SessionDetails {
  /** This login's policy, in place of the engine's `loginPolicy`; `null`: none. */
  loginPolicy?: LoginPolicy | LoginPolicyPreset | null;
  token: string;
  uid: string;
  deviceFlag: number;
  /** Default: now (later than any cutoff of the device on file). */
  issuedAtMs?: number;
  expiresAtMs: number;
  /**
   * WuKongIM's device level (\`SessionRecord.deviceLevel\`): set, each connection opened with this
   * token applies it to the device's earlier connections as it registers. Default: none.
   */
  deviceLevel?: DeviceLevel;
}

export interface IssueSessionOptions extends SessionDetails {
  uid: string;
  deviceFlag: number;
  ttlMs?: number;
  /** This login's policy, in place of the engine's `loginPolicy`; `null`: none. */
  loginPolicy?: LoginPolicy | LoginPolicyPreset | null;
}

export interface IssuedSession {
  token: string;
  /** The session's public id (`sessionIdOf`): what `listSessions` and `revokeSession` name it by. */
  sessionId: string;
  uid: string;
  deviceFlag: number;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** A live session as `listSessions` shows it: never its token, nor its hash. */
export interface SessionInfo extends SessionDetails {
  sessionId: string;
  deviceFlag: number;
  issuedAtMs: number;
  expiresAtMs: number;
  /** When it was last seen in use, as coarsely as `lastSeenResolutionMs`; absent if never since it was issued. */
  lastSeenAtMs?: number;
  /** WuKongIM's device level of a token set through `/user/token` (`setDeviceToken`); absent for others. */
  deviceLevel?: DeviceLevel;
}

/** `listSessions` shows at most this many sessions, newest first. */
export const MAX_LISTED_SESSIONS = 1_000;

/** `listConnections` lists at most this many of a user's connections, those with the lowest connIds. */
export const MAX_LISTED_CONNECTIONS = 10_000;

/** `Evict.presence` takes at most this many users (Tencent's query_online_status takes 500). */
export const MAX_PRESENCE_UIDS = 500;

/** One user's presence (`Evict.presence`). */
export interface UserPresence {
  uid: string;
  /** Known to evict or to the host's `userExists` hook. */
  exists: boolean;
  /** A live connection on some node. */
  online: boolean;
  /** The live connections by device flag, in ascending flag order; empty when offline. */
  devices: DeviceConnections[];
  /** No live connection, but a push token on file: reachable by push. */
  pushOnline: boolean;
  /** The device flags of those push tokens (ascending); empty when online or offline. */
  pushDevices: number[];
}

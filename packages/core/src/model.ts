/** What evict knows about users, devices, sessions, connections and push tokens. All times are ms since the epoch. */

/**
 * Why a credential is not accepted. `unavailable`: the store could not be read and the guard fails
 * closed. `replaced`: a login policy pushed the session out (a newer login on another device).
 */
export type RejectionReason =
  | 'kicked'
  | 'device_quit'
  | 'logged_out'
  | 'replaced'
  | 'expired'
  | 'unknown'
  | 'unavailable';

/** Why a cutoff was set: a kick of the user, or a device quit (of one device, or of all). */
export type CutoffReason = 'kicked' | 'device_quit';

/** Every credential of the scope issued at or before `atMs` is rejected. */
export interface Cutoff {
  atMs: number;
  reason: CutoffReason;
}

/** A login session. Only the hash of its token is ever stored. */
export interface SessionRecord {
  tokenHash: string;
  uid: string;
  deviceFlag: number;
  issuedAtMs: number;
  expiresAtMs: number;
  /**
   * When the store may drop the record (at or after `expiresAtMs`): until then an expired or
   * logged-out session is still on file, so checks answer `expired` or `logged_out`, not `unknown`.
   */
  retainUntilMs: number;
  /** Set by logout. */
  revokedAtMs?: number;
  /** What a person recognises the session by, as given at sign-in. */
  details?: SessionDetails;
  /** When it was last seen in use, coarsely (`EvictOptions.lastSeenResolutionMs`); only grows. */
  lastSeenAtMs?: number;
  /**
   * Made under a login policy: live only while its user's admission list holds it
   * (`UserRecord.admissions`); once a newer login pushes it out, it is `replaced`.
   */
  governed?: boolean;
  /**
   * WuKongIM's device level of a token set through \`/user/token\` (\`Evict.setDeviceToken\`): what a
   * connection opened with it does, as it registers, to the device's connections that came before
   * it (\`EvictStore.joinDevice\`).
   */
  deviceLevel?: DeviceLevel;
}

/**
 * WuKongIM's device levels: a \`master\` connection closes the other connections of its user and
 * device flag (telling those of another \`device_id\` first); a \`slave\` one closes only those of its
 * own \`device_id\` (many web tabs may share a device flag).
 */
export type DeviceLevel = 'master' | 'slave';

/** A session a login policy admitted, on its user's admission list (`EvictStore.admitSession`). */
export interface Admission {
  tokenHash: string;
  deviceFlag: number;
  /** Its class under the policy it was admitted by. */
  deviceClass: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** What a person recognises a session by (all optional, all given at sign-in). */
export interface SessionDetails {
  /** The client's install id (WuKongIM's `device_id`). */
  deviceId?: string;
  userAgent?: string;
  /** The client's IP address. */
  ip?: string;
  /** A free label ("Anna's phone"). */
  label?: string;
}

/** What the store keeps of one device of a user, to answer "does this device have a session". */
export interface DeviceRecord {
  /** When the newest session of this device was issued. */
  lastIssuedAtMs: number;
  /** When the longest-lived session of this device expires. */
  expiresAtMs: number;
}

export interface UserRecord {
  uid: string;
  /** Cutoff for all of the user's devices (a kick, or a device quit of every device). */
  cutoff?: Cutoff;
  /** Cutoffs per device flag. */
  deviceCutoffs: Record<number, Cutoff>;
  devices: Record<number, DeviceRecord>;
  /**
   * The governed sessions a login policy admitted and has not pushed out, oldest first; absent when
   * none. Entries past their expiry, or issued at or before a cutoff that applies to them, no longer
   * count (a store drops them at its next admission).
   */
  admissions?: Admission[];
  /** When nothing on file for this user can matter any more; the store may drop the record then. */
  expiresAtMs: number;
}

/**
 * A node of the cluster as the store knows it: alive while `now < expiresAtMs`, kept so by its
 * heartbeat. Its connections live exactly as long as this record does, with the same incarnation.
 */
export interface NodeRecord {
  nodeId: number;
  /**
   * A random id of one run of the node (a new one at every start): a node that restarts with the
   * same `nodeId` never brings its previous run's connections back.
   */
  incarnation: string;
  expiresAtMs: number;
}

/** How many live connections a user holds on one device flag, on every node. */
export interface DeviceConnections {
  deviceFlag: number;
  connections: number;
}

/**
 * A connection, as the cluster knows it. The close function lives only on the node that holds it.
 * It is live while its node's record is live with the same `incarnation` (see `EvictStore`), however
 * long ago it was registered: no record of its own is ever refreshed.
 */
export interface ConnectionRecord extends ConnectionDetails {
  uid: string;
  deviceFlag: number;
  nodeId: number;
  connId: number;
  connectedAtMs: number;
  /** The incarnation of the node that registered it. */
  incarnation: string;
  /** The public id (`sessionIdOf`) of the session it was opened with, if it was. */
  sessionId?: string;
}

/** What an operator tells a connection by, as the host registered it (all optional). */
export interface ConnectionDetails {
  /** The client's install id (WuKongIM's `device_id`). */
  deviceId?: string;
  /** The client's address, as the socket saw it. */
  ip?: string;
  /** The client's port, as the socket saw it. */
  port?: number;
}

/** Which connection: a connection is keyed by its user, node and connId together. */
export interface ConnectionRef {
  uid: string;
  nodeId: number;
  connId: number;
}

export type PushTokenKind = 'ring' | 'message';
export const PUSH_TOKEN_KINDS: readonly PushTokenKind[] = ['ring', 'message'];

export interface PushTokenRecord {
  kind: PushTokenKind;
  /** The device's push token as the push service needs it (it must be readable, so it is not hashed). */
  token: string;
  deviceFlag: number;
  updatedAtMs: number;
  expiresAtMs: number;
}

/** Messages the nodes of a cluster send each other through the store. */
export type ClusterMessage =
  | {
      type: 'close-connections';
      /** The node that must close them. */
      nodeId: number;
      connections: { uid: string; connId: number }[];
      code: number;
      reason: string;
      /** Tell the clients first, close them this much later (`ConnectionCloseInfo.graceMs`). */
      graceMs?: number;
      fromNodeId: number;
      /** When the sending node made it (its clock), for the lag a receiver observes. */
      sentAtMs?: number;
    }
  | {
      /** Something that can reject credentials changed for this user (a cutoff, a logout): drop cached copies. */
      type: 'revoked';
      uid: string;
      /** For a logout: the session that was revoked. */
      tokenHash?: string;
      /** The session was pushed out by a login policy: its connections close with `4005 replaced`. */
      replaced?: boolean;
      fromNodeId: number;
      /** When the sending node made it (its clock), for the lag a receiver observes. */
      sentAtMs?: number;
    };

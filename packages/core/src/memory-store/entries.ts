import { deviceRecordIsCurrent, laterCutoff } from '../engine/rules.js';
import type {
  Admission,
  ConnectionRecord,
  Cutoff,
  DeviceLevel,
  DeviceRecord,
  PushTokenKind,
  PushTokenRecord,
  SessionDetails,
  SessionRecord,
  UserRecord,
} from '../model.js';

// Memory per session is a benchmark target (BENCHMARKS.md, section 6). Hence classes with fixed
// fields instead of spread copies and nested objects (every instance shares one hidden class), and
// nothing allocated for what most users never have: a second session or device, connections, push
// tokens, device cutoffs. What goes out is always a fresh `SessionRecord` / `UserRecord`, never these.

/** A session on file. `tokenHash` is also its key in the sessions map. */
export class StoredSession {
  readonly tokenHash: string;
  readonly uid: string;
  readonly deviceFlag: number;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly retainUntilMs: number;
  revokedAtMs: number | undefined;
  readonly details: SessionDetails | undefined;
  lastSeenAtMs: number | undefined;
  readonly governed: boolean;
  readonly deviceLevel: DeviceLevel | undefined;

  constructor(session: SessionRecord) {
    this.tokenHash = session.tokenHash;
    this.uid = session.uid;
    this.deviceFlag = session.deviceFlag;
    this.issuedAtMs = session.issuedAtMs;
    this.expiresAtMs = session.expiresAtMs;
    this.retainUntilMs = session.retainUntilMs;
    this.revokedAtMs = session.revokedAtMs;
    this.details = session.details === undefined ? undefined : { ...session.details };
    this.lastSeenAtMs = session.lastSeenAtMs;
    this.governed = session.governed === true;
    this.deviceLevel = session.deviceLevel;
  }

  toRecord(): SessionRecord {
    const record: SessionRecord = {
      tokenHash: this.tokenHash,
      uid: this.uid,
      deviceFlag: this.deviceFlag,
      issuedAtMs: this.issuedAtMs,
      expiresAtMs: this.expiresAtMs,
      retainUntilMs: this.retainUntilMs,
    };
    if (this.revokedAtMs !== undefined) record.revokedAtMs = this.revokedAtMs;
    if (this.details !== undefined) record.details = { ...this.details };
    if (this.lastSeenAtMs !== undefined) record.lastSeenAtMs = this.lastSeenAtMs;
    if (this.governed) record.governed = true;
    if (this.deviceLevel !== undefined) record.deviceLevel = this.deviceLevel;
    return record;
  }
}

/** What is on file of one device of a user (a `DeviceRecord` plus its flag). */
export class StoredDevice implements DeviceRecord {
  constructor(
    readonly flag: number,
    public lastIssuedAtMs: number,
    public expiresAtMs: number,
  ) {}
}

/**
 * What is on file of one user: the `UserRecord` fields, and the user's connections and push tokens.
 * The collections are created on first use and are undefined until then: a user with one session has
 * one device and nothing else, and an empty Map costs more than the rest of the user.
 */
export class UserEntry {
  readonly uid: string;
  cutoff: Cutoff | undefined = undefined;
  /** Cutoffs per device flag; created by the first device cutoff. */
  deviceCutoffs: Map<number, Cutoff> | undefined = undefined;
  /**
   * The device itself while the user has one (nearly every user), an array (one entry per flag, at
   * most 256) from the second on: an array of one would cost as much again as the device.
   */
  devices: StoredDevice | StoredDevice[] | undefined = undefined;
  expiresAtMs = 0;
  /**
   * The expiry bucket (`bucketOf`) its uid is filed in, or 0 while it is filed nowhere: expired, and
   * kept by connections only. Extending the user does not move it: the bucket files it again.
   */
  sweepBucket = 0;
  /**
   * Keyed by `nodeId:connId`; created by the first connection, dropped when the last one goes. May
   * hold connections of dead node incarnations until `sweepConnections` drops them.
   */
  connections: Map<string, ConnectionRecord> | undefined = undefined;
  /** Created by the first push token, dropped when the last one goes. */
  pushTokens: Map<PushTokenKind, PushTokenRecord> | undefined = undefined;
  /** Per device flag, the keys of the connections that joined it (`EvictStore.joinDevice`), in join order. */
  rosters: Map<number, string[]> | undefined = undefined;
  /** The admission list of a login policy (`UserRecord.admissions`), oldest first; created by the first admission. */
  admissions: Admission[] | undefined = undefined;

  constructor(uid: string) {
    this.uid = uid;
  }

  allDevices(): StoredDevice[] {
    const devices = this.devices;
    return devices === undefined ? [] : devices instanceof StoredDevice ? [devices] : devices;
  }

  device(flag: number): StoredDevice | undefined {
    return this.allDevices().find((device) => device.flag === flag);
  }

  addDevice(device: StoredDevice): void {
    const devices = this.devices;
    if (devices === undefined) this.devices = device;
    else if (devices instanceof StoredDevice) this.devices = [devices, device];
    else devices.push(device);
  }

  /** A fresh copy, in the store's public shape (past its expiry, a connection keeps it: `Infinity`). */
  toRecord(now: number): UserRecord {
    const record: UserRecord = {
      uid: this.uid,
      deviceCutoffs: {},
      devices: {},
      expiresAtMs: this.expiresAtMs <= now ? Number.POSITIVE_INFINITY : this.expiresAtMs,
    };
    if (this.cutoff !== undefined) record.cutoff = copyCutoff(this.cutoff);
    for (const [flag, cutoff] of this.deviceCutoffs ?? []) record.deviceCutoffs[flag] = copyCutoff(cutoff);
    for (const device of this.allDevices())
      record.devices[device.flag] = {
        lastIssuedAtMs: device.lastIssuedAtMs,
        expiresAtMs: device.expiresAtMs,
      };
    if (this.admissions !== undefined && this.admissions.length > 0)
      record.admissions = this.admissions.map((a) => ({ ...a }));
    return record;
  }
}

/** `raiseCutoff`'s cutoff on an entry that is live (or new): an atomic maximum. */
export function raiseCutoffOf(entry: UserEntry, deviceFlag: number | null, cutoff: Cutoff): void {
  const current = deviceFlag === null ? entry.cutoff : entry.deviceCutoffs?.get(deviceFlag);
  if (current === undefined || current.atMs < cutoff.atMs) {
    if (deviceFlag === null) {
      entry.cutoff = copyCutoff(cutoff);
    } else {
      entry.deviceCutoffs ??= new Map();
      entry.deviceCutoffs.set(deviceFlag, copyCutoff(cutoff));
    }
  }
}

/**
 * Whether the device is present, as the engine defines it (`EvictStore.kick`): a live device record
 * issued after every cutoff that applies to it (the user's and the device's), or a live connection of
 * the device. `entry` is the live user, or undefined.
 */
export function devicePresent(
  entry: UserEntry | undefined,
  deviceFlag: number,
  now: number,
  isLive: (connection: ConnectionRecord) => boolean,
): boolean {
  if (entry === undefined) return false;
  const cutoff = laterCutoff(entry.cutoff, entry.deviceCutoffs?.get(deviceFlag));
  if (deviceRecordIsCurrent(entry.device(deviceFlag), cutoff, now)) return true;
  for (const connection of entry.connections?.values() ?? []) {
    if (connection.deviceFlag === deviceFlag && isLive(connection)) return true;
  }
  return false;
}

export function copyCutoff(cutoff: Cutoff): Cutoff {
  return { atMs: cutoff.atMs, reason: cutoff.reason };
}

export function connectionKey(nodeId: number, connId: number): string {
  return `${nodeId}:${connId}`;
}

export function indexKey(nodeId: number, incarnation: string): string {
  return `${nodeId}:${incarnation}`;
}

export function splitIndexKey(key: string): [number, string] {
  const colon = key.indexOf(':');
  return [Number(key.slice(0, colon)), key.slice(colon + 1)];
}

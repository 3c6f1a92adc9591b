import {
  type Admission,
  type ClusterMessage,
  type ConnectionRecord,
  type Cutoff,
  type DeviceLevel,
  type DeviceRecord,
  type PushTokenRecord,
  type SessionDetails,
  type SessionRecord,
  StoreCorruptError,
  type UserRecord,
} from '@evict/core';
import { text } from './replies.js';

// Records in and out. Everything read back is checked: a record evict cannot read is StoreCorruptError.

/** A connection's field in its user's hash: `<nodeId>:<connId in base 36>` (see `keys.ts`). */
export function connectionField(nodeId: number, connId: number): string {
  return `${nodeId}:${connId.toString(36)}`;
}

/**
 * A connection's value in its user's hash: `<deviceFlag> <connectedAt> <generation>`, the generation
 * being its node incarnation's (see `keys.ts`), then, if it has any of them, a line each for its
 * session id, device id, IP and port (empty when absent). Details hold no control characters
 * (checked when registered), so a newline ends each; the scripts read the first line only.
 */
export function encodeConnection(c: ConnectionRecord, generation: string): string {
  const head = `${c.deviceFlag} ${encodeTime(c.connectedAtMs)} ${generation}`;
  const { sessionId, deviceId, ip, port } = c;
  if (sessionId === undefined && deviceId === undefined && ip === undefined && port === undefined)
    return head;
  return `${head}\n${sessionId ?? ''}\n${deviceId ?? ''}\n${ip ?? ''}\n${port ?? ''}`;
}

/** A connection as stored: its record, with its node incarnation's generation for the incarnation. */
export type StoredConnection = Omit<ConnectionRecord, 'incarnation'> & { generation: string };

/** An instant in base 36 when it is a safe integer, else in decimal after `~`. */
function encodeTime(atMs: number): string {
  return Number.isSafeInteger(atMs) ? atMs.toString(36) : `~${atMs}`;
}

function decodeTime(raw: string | undefined): number | undefined {
  if (raw?.startsWith('~')) return numberOf(raw.slice(1));
  return decodeBase36(raw);
}

/**
 * A session as stored (see `keys.ts`): `<deviceFlag>:<issuedAt>:<expiresAt>:<retainUntil>:<revokedAt
 * or - or +>:<uid>`, each instant as `encodeTime` writes it (base 36 when a safe integer), then, if it
 * has details or was seen, a line with the details' JSON (or `-`), then, if it was seen, a line with
 * `lastSeenAtMs` (decimal). Short on purpose: for a uid of up to 13 characters the first line stays
 * within the 44 bytes Redis keeps in one allocation with its object (`embstr`). The token hash is
 * the key's; the uid comes after the numbers, as it may hold colons and spaces, and never holds a
 * newline (no control characters), so the scripts that rewrite the numbers keep the rest as it is.
 * `governed`: whether a login policy admitted it (passed, rather than a copy of the record with it
 * set, which would cost every governed login an object, and this function a second shape of
 * record). Records written before this layout (space-separated decimals) are read as they are.
 */
export function encodeSession(session: SessionRecord, governed = session.governed === true): string {
  const { deviceFlag, issuedAtMs, expiresAtMs, retainUntilMs, revokedAtMs, uid, details, lastSeenAtMs } =
    session;
  // The fifth field: when it was revoked, else `-`, or `+` for a live session a login policy governs.
  const state = revokedAtMs === undefined ? (governed ? '+' : '-') : encodeTime(revokedAtMs);
  const head = `${deviceFlag}:${encodeTime(issuedAtMs)}:${encodeTime(expiresAtMs)}:${encodeTime(retainUntilMs)}:${state}:${uid}`;
  // The device level rides in the details' line (which no script reads), beside the details.
  const extra =
    session.deviceLevel === undefined ? details : { ...details, [DEVICE_LEVEL]: session.deviceLevel };
  if (extra === undefined && lastSeenAtMs === undefined) return head;
  const detailsLine = extra === undefined ? '-' : JSON.stringify(extra);
  return lastSeenAtMs === undefined ? `${head}\n${detailsLine}` : `${head}\n${detailsLine}\n${lastSeenAtMs}`;
}

const DETAIL_FIELDS: readonly (keyof SessionDetails)[] = ['deviceId', 'userAgent', 'ip', 'label'];
/** The name `SessionRecord.deviceLevel` has in the details' line. */
const DEVICE_LEVEL = 'deviceLevel';

/** The details' line: the session's details (none: undefined) and its device level, if any. */
function decodeDetails(
  key: string,
  raw: string,
): { details: SessionDetails | undefined; deviceLevel: DeviceLevel | undefined } {
  const value = parseJson(key, raw, 'session details');
  const details: SessionDetails = {};
  let deviceLevel: DeviceLevel | undefined;
  let named = false;
  for (const [name, field] of Object.entries(value)) {
    if (name === DEVICE_LEVEL && (field === 'master' || field === 'slave')) {
      deviceLevel = field;
    } else if (DETAIL_FIELDS.includes(name as keyof SessionDetails) && typeof field === 'string') {
      details[name as keyof SessionDetails] = field;
      named = true;
    } else {
      throw new StoreCorruptError(`unreadable session details in Redis at ${key}`);
    }
  }
  return { details: named || deviceLevel === undefined ? details : undefined, deviceLevel };
}

/** A cutoff as stored: `<atMs> <reason>`. */
export function encodeCutoff(cutoff: Cutoff): string {
  return `${cutoff.atMs} ${cutoff.reason}`;
}

function parseJson(key: string, raw: unknown, what: string): Record<string, unknown> {
  const s = text(raw);
  let value: unknown;
  try {
    value = s === undefined ? undefined : JSON.parse(s);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoreCorruptError(`unreadable ${what} in Redis at ${key}`);
  }
  return value as Record<string, unknown>;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A number as the store writes them (JavaScript's String, Lua's %.17g); anything else is undefined. */
const NUMBER = /^-?\d+(?:\.\d+)?(?:e[+-]\d+)?$/;

export function numberOf(raw: string | undefined): number | undefined {
  if (raw === undefined || !NUMBER.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A record's fields and how to read its instants: `layout` (instants as `encodeTime` writes them),
 * else `before`, the layout written before it (decimal instants).
 */
function matchLayout(
  raw: string,
  layout: RegExp,
  before: RegExp,
): [RegExpExecArray | null, (raw: string | undefined) => number | undefined] {
  const match = layout.exec(raw);
  return match === null ? [before.exec(raw), numberOf] : [match, decodeTime];
}

/** A session's first line, its instants as `encodeTime` writes them (see `encodeSession`). */
const SESSION = /^([^:\s]+):([^:]*):([^:]*):([^:]*):([^:]*):([\s\S]*)$/;
/** A session's first line as written before `SESSION`: space-separated decimals. */
const DECIMAL_SESSION = /^(\S+) (\S+) (\S+) (\S+) (\S+) ([\s\S]*)$/;

export function decodeSession(key: string, tokenHash: string, raw: unknown): SessionRecord {
  const [match, time] = matchLayout(text(raw) ?? '', SESSION, DECIMAL_SESSION);
  const deviceFlag = numberOf(match?.[1]);
  const issuedAtMs = time(match?.[2]);
  const expiresAtMs = time(match?.[3]);
  const retainUntilMs = time(match?.[4]);
  const live = match?.[5] === '-' || match?.[5] === '+';
  const revokedAtMs = live ? undefined : time(match?.[5]);
  if (
    match === null ||
    deviceFlag === undefined ||
    issuedAtMs === undefined ||
    expiresAtMs === undefined ||
    retainUntilMs === undefined ||
    (revokedAtMs === undefined && !live)
  ) {
    throw new StoreCorruptError(`unreadable session in Redis at ${key}`);
  }
  const [uid, detailsLine, seenLine, ...extra] = match[6]!.split('\n');
  const lastSeenAtMs = seenLine === undefined ? undefined : numberOf(seenLine);
  if (extra.length > 0 || (seenLine !== undefined && lastSeenAtMs === undefined))
    throw new StoreCorruptError(`unreadable session in Redis at ${key}`);
  const session: SessionRecord = {
    tokenHash,
    uid: uid!,
    deviceFlag,
    issuedAtMs,
    expiresAtMs,
    retainUntilMs,
  };
  if (revokedAtMs !== undefined) session.revokedAtMs = revokedAtMs;
  if (detailsLine !== undefined && detailsLine !== '-') {
    const { details, deviceLevel } = decodeDetails(key, detailsLine);
    if (details !== undefined) session.details = details;
    if (deviceLevel !== undefined) session.deviceLevel = deviceLevel;
  }
  if (match[5] === '+') session.governed = true;
  if (lastSeenAtMs !== undefined) session.lastSeenAtMs = lastSeenAtMs;
  return session;
}

const CUTOFF = /^(\S+) (kicked|device_quit)$/;
const DEVICE = /^([^:\s]+):([^:\s]+)$/;
const DECIMAL_DEVICE = /^(\S+) (\S+)$/;

function decodeCutoff(key: string, field: string, raw: string): Cutoff {
  const match = CUTOFF.exec(raw);
  const atMs = numberOf(match?.[1]);
  if (match === null || atMs === undefined)
    throw new StoreCorruptError(`unreadable ${field} in Redis at ${key}`);
  return { atMs, reason: match[2] as Cutoff['reason'] };
}

/** A device record: `<lastIssuedAt>:<expiresAt>` as `encodeTime` writes them, or decimal and space-separated as written before. */
function decodeDevice(key: string, field: string, raw: string): DeviceRecord {
  const [match, time] = matchLayout(raw, DEVICE, DECIMAL_DEVICE);
  const lastIssuedAtMs = time(match?.[1]);
  const expiresAtMs = time(match?.[2]);
  if (lastIssuedAtMs === undefined || expiresAtMs === undefined) {
    throw new StoreCorruptError(`unreadable ${field} in Redis at ${key}`);
  }
  return { lastIssuedAtMs, expiresAtMs };
}

const DEVICE_FIELD = /^([cd]):(\d+)$/;
const ADMISSION_VALUE = /^(\S+) (\d+) (\S+) (\S+)$/;

/**
 * The field of an admitted session in its user's hash: `a:<tokenHash>`, its value `<deviceClass>
 * <deviceFlag> <issuedAtMs> <expiresAtMs>` (see `keys.ts`). A field each, not one list: every field
 * and value stays under Redis's `hash-max-listpack-value` (64 bytes), so the user's hash stays a
 * listpack, which every read of the user walks faster than a hash table.
 */
export function admissionField(tokenHash: string): string {
  return `a:${tokenHash}`;
}

/** An admission from its token hash and its field's value (see `admissionField`). */
export function decodeAdmission(key: string, tokenHash: string, raw: string): Admission {
  const match = ADMISSION_VALUE.exec(raw);
  const issuedAtMs = numberOf(match?.[3]);
  const expiresAtMs = numberOf(match?.[4]);
  if (match === null || issuedAtMs === undefined || expiresAtMs === undefined)
    throw new StoreCorruptError(`unreadable admission a:${tokenHash} in Redis at ${key}`);
  return { tokenHash, deviceClass: match[1]!, deviceFlag: Number(match[2]), issuedAtMs, expiresAtMs };
}

/** Oldest first: by issue time, then by token hash (as `byAge` in @evict/core and the admission script). */
const byAge = (a: Admission, b: Admission) =>
  a.issuedAtMs - b.issuedAtMs || (a.tokenHash < b.tokenHash ? -1 : a.tokenHash > b.tokenHash ? 1 : 0);

/**
 * The user from its hash's fields. `connectionsLeftOut`: how many connection fields the hash holds
 * that `fields` leaves out (`getUser` reads the user's own fields only).
 */
export function decodeUser(
  key: string,
  uid: string,
  fields: [string, string][],
  nowMs: number,
  connectionsLeftOut = 0,
): UserRecord {
  const user: UserRecord = { uid, deviceCutoffs: {}, devices: {}, expiresAtMs: Number.NaN };
  let connections: number | undefined;
  let connectionFields = connectionsLeftOut;
  let others = 0;
  let admissions: Admission[] | undefined;
  for (const [field, raw] of fields) {
    if (CONNECTION_FIELD.test(field)) {
      connectionFields += 1;
      continue;
    }
    others += 1;
    if (field === 'e') {
      user.expiresAtMs = numberOf(raw) ?? Number.NaN;
    } else if (field === 'n') {
      connections = numberOf(raw) ?? Number.NaN;
    } else if (field === 'c') {
      user.cutoff = decodeCutoff(key, field, raw);
    } else if (field === 's') {
      // The user's session index entry (scanSessions reads it), not the user's record.
    } else if (field.startsWith('a:')) {
      const admission = decodeAdmission(key, field.slice(2), raw);
      if (admissions === undefined) admissions = [admission];
      else admissions.push(admission);
    } else {
      const match = DEVICE_FIELD.exec(field);
      if (match === null) continue; // a field a later version may add
      const flag = Number(match[2]);
      if (match[1] === 'c') user.deviceCutoffs[flag] = decodeCutoff(key, field, raw);
      else user.devices[flag] = decodeDevice(key, field, raw);
    }
  }
  if (admissions !== undefined) user.admissions = admissions.sort(byAge);
  if (!fields.some(([field]) => field === 'e')) {
    // A hash without `e` holds connections alone, and is on file through them.
    if (others > 0 || connectionFields === 0)
      throw new StoreCorruptError(`unreadable user in Redis at ${key}`);
    user.expiresAtMs = Number.POSITIVE_INFINITY;
    return user;
  }
  connections ??= 0;
  if (!isNumber(connections) || !isNumber(user.expiresAtMs)) {
    throw new StoreCorruptError(`unreadable user in Redis at ${key}`);
  }
  // A connection on file keeps the user past its own expiry, with no end (see `EvictStore`).
  if (connections > 0 && user.expiresAtMs <= nowMs) user.expiresAtMs = Number.POSITIVE_INFINITY;
  return user;
}

export const CONNECTION_FIELD = /^(\d+):(-?[0-9a-z]+)$/;
const CONNECTION = /^(\S+) (\S+) ([0-9a-z]+)(?:\n([^\n]*)\n([^\n]*)\n([^\n]*)\n(\d*))?$/;

/** A connection as stored in its user's hash (see `keys.ts`). */
export function decodeConnection(key: string, uid: string, field: string, raw: string): StoredConnection {
  const name = CONNECTION_FIELD.exec(field);
  const value = CONNECTION.exec(raw);
  const nodeId = numberOf(name?.[1]);
  const connId = decodeBase36(name?.[2]);
  const deviceFlag = numberOf(value?.[1]);
  const connectedAtMs = decodeTime(value?.[2]);
  if (
    value === null ||
    nodeId === undefined ||
    connId === undefined ||
    deviceFlag === undefined ||
    connectedAtMs === undefined
  ) {
    throw new StoreCorruptError(`unreadable connection ${field} in Redis at ${key}`);
  }
  const stored: StoredConnection = { uid, deviceFlag, nodeId, connId, connectedAtMs, generation: value[3]! };
  const [, , , , sessionId, deviceId, ip, port] = value;
  if (sessionId) stored.sessionId = sessionId;
  if (deviceId) stored.deviceId = deviceId;
  if (ip) stored.ip = ip;
  if (port) stored.port = Number(port);
  return stored;
}

/** An integer written by `toString(36)`, else undefined (only the one spelling of each is taken). */
function decodeBase36(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number.parseInt(raw, 36);
  return Number.isSafeInteger(n) && n.toString(36) === raw ? n : undefined;
}

export function decodePushToken(key: string, raw: unknown): PushTokenRecord {
  const v = parseJson(key, raw, 'push token');
  if (
    (v.kind !== 'ring' && v.kind !== 'message') ||
    typeof v.token !== 'string' ||
    !isNumber(v.deviceFlag) ||
    !isNumber(v.updatedAtMs) ||
    !isNumber(v.expiresAtMs)
  ) {
    throw new StoreCorruptError(`unreadable push token in Redis at ${key}`);
  }
  return {
    kind: v.kind,
    token: v.token,
    deviceFlag: v.deviceFlag,
    updatedAtMs: v.updatedAtMs,
    expiresAtMs: v.expiresAtMs,
  };
}

export function parseMessage(raw: string): ClusterMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return type === 'close-connections' || type === 'revoked' ? (value as ClusterMessage) : undefined;
}

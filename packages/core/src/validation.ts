import type { ConnectionDetails, SessionDetails } from './model.js';
/** The engine's own rules for identifiers (docs/engine.md); each family may add its own. */

export const MAX_UID_BYTES = 255;
export const MAX_DEVICE_FLAG = 255;

// C0 and C1 control characters, DEL included.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** Why a uid is not acceptable, or undefined when it is. */
export function uidProblem(uid: unknown): string | undefined {
  if (typeof uid !== 'string') return 'must be a string';
  if (uid.length === 0) return 'must not be empty';
  if (Buffer.byteLength(uid, 'utf8') > MAX_UID_BYTES)
    return `must be at most ${MAX_UID_BYTES} bytes of UTF-8`;
  if (CONTROL_CHARACTER.test(uid)) return 'must not contain control characters';
  if (!uid.isWellFormed()) return 'must be well-formed unicode';
  return undefined;
}

export function isDeviceFlag(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_DEVICE_FLAG;
}

export function isPositiveSafeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

export function assertUid(uid: unknown, name = 'uid'): asserts uid is string {
  const problem = uidProblem(uid);
  if (problem !== undefined) throw new TypeError(`${name} ${problem}`);
}

export function assertDeviceFlag(deviceFlag: unknown, name = 'deviceFlag'): asserts deviceFlag is number {
  if (!isDeviceFlag(deviceFlag))
    throw new TypeError(`${name} must be an integer from 0 to ${MAX_DEVICE_FLAG}`);
}

/** The longest token evict accepts (session tokens and push tokens): longer is never one it issued. */
export const MAX_TOKEN_LENGTH = 4096;

/** A non-empty string of at most `MAX_TOKEN_LENGTH` characters. */
export function isTokenString(token: unknown): token is string {
  return typeof token === 'string' && token.length > 0 && token.length <= MAX_TOKEN_LENGTH;
}

export function assertToken(token: unknown, name = 'token'): asserts token is string {
  if (!isTokenString(token))
    throw new TypeError(`${name} must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`);
}

/** What is wrong with a list of user ids (not an array, too long, a bad id, a repeat), or undefined. */
export function uidListProblem(value: unknown, max: number): string | undefined {
  if (!Array.isArray(value)) return 'must be an array of user ids';
  if (value.length > max) return `must hold at most ${max} user ids`;
  for (const [i, uid] of value.entries()) {
    const problem = uidProblem(uid);
    if (problem !== undefined) return `[${i}] ${problem}`;
  }
  if (new Set(value).size !== value.length) return 'must not repeat a user id';
  return undefined;
}

/** The longest of each session detail; a longer user agent is cut (the client chose it), anything else refused. */
const DETAIL_LIMITS: Readonly<Record<keyof SessionDetails, number>> = {
  deviceId: 128,
  userAgent: 512,
  ip: 64,
  label: 128,
};

/** A detail as given (a non-empty string without control characters, at most `max`), else a `TypeError`. */
function detailString(name: string, value: unknown, max: number, cut = false): string {
  if (typeof value !== 'string' || value.length === 0 || CONTROL_CHARACTER.test(value))
    throw new TypeError(`${name} must be a non-empty string without control characters`);
  if (value.length <= max) return value;
  if (!cut) throw new TypeError(`${name} must be at most ${max} characters`);
  return value.slice(0, max).toWellFormed();
}

/** The session details given at sign-in, checked (`TypeError` for a bad one); undefined when none. */
export function sessionDetailsOf(input: SessionDetails): SessionDetails | undefined {
  const details: SessionDetails = {};
  for (const [name, max] of Object.entries(DETAIL_LIMITS) as [keyof SessionDetails, number][]) {
    const value: unknown = input[name];
    // A user agent is the client's to choose: a longer one is cut rather than refused.
    if (value !== undefined) details[name] = detailString(name, value, max, name === 'userAgent');
  }
  return Object.keys(details).length === 0 ? undefined : details;
}

/** A connection's details as registered, checked (`TypeError` for a bad one); undefined when none. */
export function connectionDetailsOf(input: ConnectionDetails): ConnectionDetails | undefined {
  // A registration's hot path: most come without any.
  if (input.deviceId === undefined && input.ip === undefined && input.port === undefined) return undefined;
  const details: ConnectionDetails = {};
  if (input.deviceId !== undefined)
    details.deviceId = detailString('deviceId', input.deviceId, DETAIL_LIMITS.deviceId);
  if (input.ip !== undefined) details.ip = detailString('ip', input.ip, DETAIL_LIMITS.ip);
  if (input.port !== undefined) {
    if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65_535)
      throw new TypeError('port must be an integer from 1 to 65535');
    details.port = input.port;
  }
  return Object.keys(details).length === 0 ? undefined : details;
}

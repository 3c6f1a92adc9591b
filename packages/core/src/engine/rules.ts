/**
 * The engine's pure rules: when a session is live, which cutoff applies to a credential, and the
 * same-second rule for credentials whose issue time has second resolution. No I/O, no clock: every
 * "now" is an argument.
 */
import type {
  Admission,
  Cutoff,
  DeviceRecord,
  RejectionReason,
  SessionRecord,
  UserRecord,
} from '../model.js';
import type { CheckResult } from './types.js';

/** A session that is live, or why it is not. */
export type LiveSession =
  | { ok: true; session: SessionRecord }
  | { ok: false; reason: RejectionReason; uid?: string };

/** The later of two cutoffs (on a tie, the first). */
export function laterCutoff(a: Cutoff | undefined, b: Cutoff | undefined): Cutoff | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.atMs > a.atMs ? b : a;
}

/** The latest cutoff that applies to a credential of `deviceFlag` (undefined: not bound to a device). */
export function applicableCutoff(
  user: UserRecord | undefined,
  deviceFlag: number | undefined,
): Cutoff | undefined {
  if (user === undefined) return undefined;
  const device = deviceFlag === undefined ? undefined : user.deviceCutoffs[deviceFlag];
  return laterCutoff(user.cutoff, device);
}

/**
 * Whether a device record counts as signed in: live at `nowMs` and issued after the cutoff that
 * applies to it. (A device is also present through a live connection: see `EvictStore.kick`.)
 */
export function deviceRecordIsCurrent(
  device: Pick<DeviceRecord, 'lastIssuedAtMs' | 'expiresAtMs'> | undefined,
  cutoff: Cutoff | undefined,
  nowMs: number,
): boolean {
  if (device === undefined || device.expiresAtMs <= nowMs) return false;
  return cutoff === undefined || device.lastIssuedAtMs > cutoff.atMs;
}

/** Why a session is not live at `nowMs`, or undefined when it is. Without `user`, cutoffs are not looked at. */
export function sessionRejection(
  session: SessionRecord,
  user: UserRecord | undefined,
  nowMs: number,
): RejectionReason | undefined {
  if (session.revokedAtMs !== undefined) return 'logged_out';
  if (session.expiresAtMs <= nowMs) return 'expired';
  if (user === undefined) return undefined;
  const cutoff = applicableCutoff(user, session.deviceFlag);
  if (cutoff !== undefined && session.issuedAtMs <= cutoff.atMs) return cutoff.reason;
  return session.governed && !isAdmitted(user, session.tokenHash) ? 'replaced' : undefined;
}

/** Whether the user's admission list holds the session (a governed session is live only then). */
export function isAdmitted(user: UserRecord | undefined, tokenHash: string): boolean {
  const admissions = user?.admissions;
  if (admissions === undefined) return false;
  for (const admission of admissions) if (admission.tokenHash === tokenHash) return true;
  return false;
}

/** Whether an admission on file still counts: live, and issued after every cutoff that applies to it. */
export function admissionCounts(user: UserRecord | undefined, admission: Admission, nowMs: number): boolean {
  if (admission.expiresAtMs <= nowMs) return false;
  const cutoff = applicableCutoff(user, admission.deviceFlag);
  return cutoff === undefined || admission.issuedAtMs > cutoff.atMs;
}

/** Why a session read with its user's record (`undefined`: none on file) is not live, or undefined when it is. */
export function sessionRejectionWithUser(
  session: SessionRecord,
  user: UserRecord | undefined,
  nowMs: number,
): RejectionReason | undefined {
  const reason = sessionRejection(session, user, nowMs);
  // A governed session whose user has no record was pushed out with it (the list lives there).
  return reason === undefined && user === undefined && session.governed ? 'replaced' : reason;
}

/** Whether a session is live, read with its user's record (`undefined`: none on file). */
export function sessionLiveness(
  session: SessionRecord,
  user: UserRecord | undefined,
  nowMs: number,
): LiveSession {
  const reason = sessionRejectionWithUser(session, user, nowMs);
  return reason === undefined ? { ok: true, session } : { ok: false, reason, uid: session.uid };
}

/** The verdict on a live session's token. */
export function acceptedSession(session: SessionRecord): CheckResult {
  return { ok: true, uid: session.uid, deviceFlag: session.deviceFlag, credential: 'session' };
}

export function sessionVerdict(found: LiveSession): CheckResult {
  return found.ok ? acceptedSession(found.session) : found;
}

/**
 * The verdict on a stateless credential issued at `issuedAtMs`, known to `resolutionMs` (1 or 1000).
 * The comparison is made at that resolution: a credential issued in the kick's own second is rejected.
 */
export function statelessVerdict(
  user: UserRecord | undefined,
  uid: string,
  deviceFlag: number | undefined,
  issuedAtMs: number,
  resolutionMs: number,
): CheckResult {
  const cutoff = applicableCutoff(user, deviceFlag);
  if (
    cutoff !== undefined &&
    Math.floor(issuedAtMs / resolutionMs) <= Math.floor(cutoff.atMs / resolutionMs)
  ) {
    return { ok: false, reason: cutoff.reason, uid };
  }
  return deviceFlag === undefined
    ? { ok: true, uid, credential: 'stateless' }
    : { ok: true, uid, deviceFlag, credential: 'stateless' };
}

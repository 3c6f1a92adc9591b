/** The answers the contract cases expect: each family's bodies, the guard's rejections, principals. */

import { ADMIN } from '../support/fixtures.js';
import { asSession } from './requests.js';
import type { Step } from './table.js';

export const OK = '{"status":"ok"}';
export const TENCENT_OK = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';
export const wkError = (status: number, msg: string) => ({ msg, status });
export const fail = (code: number, info: string) => ({
  ActionStatus: 'FAIL',
  ErrorCode: code,
  ErrorInfo: info,
});
export const invalid = (detail: string) => fail(70402, `invalid parameter: ${detail}`);
export const lancens = (error: string | number) => ({ error });
export const unauthorized = (reason: string, message: string) => ({ error: 'unauthorized', reason, message });
export const usersigRejected = (code: number, info: string, reason: string) => ({
  ...fail(code, info),
  reason,
});

export const KICKED = unauthorized('kicked', 'the user was kicked; log in again');
export const DEVICE_QUIT_REJECTED = unauthorized('device_quit', 'the device was signed out; log in again');
export const LOGGED_OUT = unauthorized('logged_out', 'the session was logged out');
export const EXPIRED = unauthorized('expired', 'the credential has expired');
export const UNKNOWN = unauthorized('unknown', 'the credential is not known');
export const NO_CREDENTIAL = unauthorized(
  'unknown',
  // The contract apps' guard reads sessions, UserSigs and a custom credential: the message names all three.
  'no credential: send a session token in the `token` header or `Authorization: Bearer`, or a UserSig in the `identifier` and `usersig` query parameters, or a credential',
);
// An upgrade check reads the session token from `?token=` too, and says so.
export const NO_CREDENTIAL_UPGRADE = unauthorized(
  'unknown',
  'no credential: send a session token in the `token` header or `Authorization: Bearer` (or `?token=`)',
);
export const UNAVAILABLE = unauthorized('unavailable', 'the session store is unavailable; try again later');
export const INTERNAL = wkError(500, 'internal server error');
export const TENCENT_INTERNAL = fail(70500, 'internal server error, please try again later');
export const TENCENT_TIMEOUT = fail(70169, 'internal server timeout, please try again later');
export const DEVICE_FLAG_MSG = 'device_flag must be -1 (all devices) or an integer from 0 to 255';
export const RANDOM_MSG = 'random must be a 32-bit unsigned integer';

export const principal = (uid: string, deviceFlag: number | undefined, credential: string) =>
  deviceFlag === undefined ? { uid, credential } : { uid, deviceFlag, credential };
export const ALICE_WEB = principal('alice01', 1, 'session');
export const ALICE_APP = principal('alice01', 0, 'session');
export const SOCKET_CLOSED = {
  kicked: { code: 4001, reason: 'kicked' },
  device_quit: { code: 4002, reason: 'device_quit' },
  connection_removed: { code: 4003, reason: 'connection_removed' },
  session_revoked: { code: 4004, reason: 'session_revoked' },
  replaced: { code: 4005, reason: 'replaced' },
  connection_kicked: { code: 4006, reason: 'connection_kicked' },
} as const;

/** A follow-up: the session `name` on `/protected` answers `status` with `body`. */
export const sessionNow = (name: string, status: number, body: unknown): Step => ({
  request: asSession(name),
  expect: { status, body },
});

export const tamper = (sig: string) => {
  const at = Math.floor(sig.length / 2);
  return `${sig.slice(0, at)}${sig[at] === 'A' ? 'B' : 'A'}${sig.slice(at + 1)}`;
};

export const json = (value: unknown) => JSON.stringify(value);

/** The event a kick by `admin` emits. */
export const kickEvent = (uid: string, admin = ADMIN) => ({
  action: 'kick_user',
  uid,
  actor: { type: 'admin', id: admin },
  endpoint: 'POST /v4/im_open_login_svc/kick',
});

import type { RejectionReason } from '../../model.js';
import type { UserSigFailure } from './usersig.js';

/** Tencent's error codes this family answers, with the text it sends. */
export const TENCENT_ERRORS = {
  60003: 'request body is not valid JSON',
  60006: 'SDKAppID is invalid',
  60007: 'REST API call frequency exceeds the limit',
  70001: 'usersig is expired',
  70003: 'usersig is invalid',
  70013: 'identifier does not match the usersig',
  70014: 'sdkappid does not match the usersig',
  70052: 'usersig has been invalidated',
  70107: 'the requested account does not exist',
  70169: 'internal server timeout, please try again later',
  70402: 'invalid parameter',
  70403: 'the request requires App admin rights',
  70500: 'internal server error, please try again later',
} as const;

export type TencentErrorCode = keyof typeof TENCENT_ERRORS;

/** The Tencent code for a UserSig verification failure. */
export const USERSIG_FAILURE_CODES: Record<UserSigFailure, TencentErrorCode> = {
  expired: 70001,
  invalid: 70003,
  identifier_mismatch: 70013,
  sdkappid_mismatch: 70014,
};

export function tencentBody(code: 0 | TencentErrorCode, detail?: string) {
  if (code === 0) return { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };
  const info = TENCENT_ERRORS[code];
  return {
    ActionStatus: 'FAIL',
    ErrorCode: code,
    ErrorInfo: detail === undefined ? info : `${info}: ${detail}`,
  };
}

/** The code for a UserSig that verifies but that the engine rejects (kicked, expired, store down). */
export function codeOfRejection(reason: RejectionReason): TencentErrorCode {
  if (reason === 'unavailable') return 70500;
  return reason === 'expired' ? 70001 : 70052;
}

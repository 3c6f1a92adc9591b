import type { CredentialSource } from '../../guard.js';
import { jsonResponse } from '../../http/types.js';
import type { RejectionReason } from '../../model.js';
import { isPositiveSafeInteger } from '../../validation.js';
import { codeOfRejection, TENCENT_ERRORS, type TencentErrorCode, USERSIG_FAILURE_CODES } from './codes.js';
import { verifyUserSig } from './usersig.js';

export interface UserSigSourceOptions {
  /** The Tencent app whose UserSigs are accepted. */
  sdkAppId: number;
  secretKey: string;
}

/** A rejection of a UserSig in Tencent's shape, plus evict's reason. */
function rejection(reason: RejectionReason, code: TencentErrorCode) {
  const status = reason === 'unavailable' ? 503 : 401;
  const body = { ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: TENCENT_ERRORS[code], reason };
  return { ok: false as const, reason, response: jsonResponse(status, body) };
}

/**
 * A Tencent UserSig in the `identifier` and `usersig` query parameters, as Tencent's REST calls carry
 * them: verified with the app's key (a bad signature answers Tencent's own code), then checked by
 * the engine as a stateless credential issued at `TLS.time`.
 */
export function userSigSource(options: UserSigSourceOptions): CredentialSource {
  if (typeof options !== 'object' || options === null || typeof options.secretKey !== 'string') {
    throw new TypeError('evict: userSigSource needs { sdkAppId, secretKey }');
  }
  if (!isPositiveSafeInteger(options.sdkAppId))
    throw new TypeError('evict: userSigSource: sdkAppId must be a positive integer');
  const { sdkAppId, secretKey } = options;
  return {
    expects: 'a UserSig in the `identifier` and `usersig` query parameters',
    principal: 'usersig',
    read(request, engine) {
      const identifier = request.query.get('identifier');
      const sig = request.query.get('usersig');
      if (identifier === null || sig === null) return undefined;
      const verified = verifyUserSig(sig, { sdkAppId, secretKey, nowMs: engine.clock.nowMs(), identifier });
      if (!verified.ok) {
        const reason = verified.failure === 'expired' ? 'expired' : 'unknown';
        return rejection(reason, USERSIG_FAILURE_CODES[verified.failure]);
      }
      return {
        type: 'stateless',
        uid: verified.identifier,
        issuedAtSec: verified.issuedAtSec,
        expiresAtMs: verified.expiresAtMs,
      };
    },
    reject: (reason) => rejection(reason, codeOfRejection(reason)),
  };
}

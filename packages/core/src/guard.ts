import type { CheckResult, Credential, Evict } from './engine/index.js';
import { TENCENT_ERRORS, type TencentErrorCode, USERSIG_FAILURE_CODES } from './families/tencent.js';
import { type EvictResponse, type HeaderValue, headerValue, jsonResponse } from './http/types.js';
import type { RejectionReason } from './model.js';
import { verifyUserSig } from './usersig.js';

/** What a guard reads of a request (an HTTP request or a WebSocket upgrade). */
export interface GuardRequest {
  headers: Record<string, HeaderValue>;
  query: URLSearchParams;
}

/** Finds a credential in a request; undefined when this source has none there. */
export type CredentialExtractor = (
  request: GuardRequest,
) => Credential | undefined | Promise<Credential | undefined>;

/**
 * Where the guard looks for a credential, tried in order:
 * - `session`: a login token in the `token` header or `Authorization: Bearer` (and the `token`
 *   query parameter when `queryToken` is on);
 * - `usersig`: a Tencent UserSig in the `identifier` and `usersig` query parameters, as Tencent's
 *   REST calls carry them (needs `userSig`);
 * - a function: your own, e.g. one that verifies a JWT and returns
 *   `{ type: 'stateless', uid, deviceFlag, issuedAtSec: claims.iat }`.
 */
export type CredentialSource = 'session' | 'usersig' | CredentialExtractor;

export interface GuardOptions {
  /** Default `['session']`. */
  credentials?: readonly CredentialSource[];
  /** The Tencent app whose UserSigs the `usersig` source verifies. */
  userSig?: { sdkAppId: number; secretKey: string };
  /** Read the session token from the `token` query parameter too. Default false; upgrade checks turn it on. */
  queryToken?: boolean;
}

/** Who the request is, once the guard accepted it. */
export interface Principal {
  uid: string;
  deviceFlag?: number;
  credential: 'session' | 'stateless' | 'usersig';
}

export type GuardResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: RejectionReason; response: EvictResponse };

export interface Guard {
  (request: GuardRequest): Promise<GuardResult>;
  /**
   * The same decision, returned synchronously when the engine's cache answers it, a promise of it
   * otherwise. Adapters use it so that a warm request reaches the route in the same tick.
   */
  decide(request: GuardRequest): GuardResult | Promise<GuardResult>;
}

const MESSAGES: Record<RejectionReason, string> = {
  kicked: 'the user was kicked; log in again',
  device_quit: 'the device was signed out; log in again',
  logged_out: 'the session was logged out',
  expired: 'the credential has expired',
  unknown: 'the credential is not known',
  unavailable: 'the session store is unavailable; try again later',
};

function reject(reason: RejectionReason, message = MESSAGES[reason]): GuardResult {
  const status = reason === 'unavailable' ? 503 : 401;
  return { ok: false, reason, response: jsonResponse(status, { error: 'unauthorized', reason, message }) };
}

/** A rejection of a UserSig, in Tencent's shape plus the reason. */
function rejectUserSig(reason: RejectionReason, code: TencentErrorCode): GuardResult {
  const status = reason === 'unavailable' ? 503 : 401;
  return {
    ok: false,
    reason,
    response: jsonResponse(status, {
      ActionStatus: 'FAIL',
      ErrorCode: code,
      ErrorInfo: TENCENT_ERRORS[code],
      reason,
    }),
  };
}

/** The session token a request carries, if any. */
export function sessionTokenOf(request: GuardRequest, queryToken: boolean): string | undefined {
  const header = headerValue(request.headers, 'token');
  if (header !== undefined && header !== '') return header;
  const authorization = headerValue(request.headers, 'authorization');
  const bearer = authorization?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i)?.[1];
  if (bearer !== undefined) return bearer;
  const query = queryToken ? request.query.get('token') : null;
  return query === null || query === '' ? undefined : query;
}

/** The check every adapter's guard runs: find the credential, ask the engine, accept or answer why not. */
export function createGuard(engine: Evict, options: GuardOptions = {}): Guard {
  const sources = options.credentials ?? ['session'];
  if (!Array.isArray(sources) || sources.length === 0)
    throw new TypeError('evict: guard credentials must be a non-empty list');
  for (const source of sources) {
    if (source !== 'session' && source !== 'usersig' && typeof source !== 'function') {
      throw new TypeError(`evict: unknown guard credential source ${JSON.stringify(source)}`);
    }
  }
  const userSig = options.userSig;
  if (sources.includes('usersig') && (userSig === undefined || typeof userSig.secretKey !== 'string')) {
    throw new TypeError('evict: the usersig credential source needs userSig: { sdkAppId, secretKey }');
  }
  const queryToken = options.queryToken ?? false;
  const missingCredential = describeMissing(sources, queryToken);

  const accept = (
    verdict: Extract<CheckResult, { ok: true }>,
    credential: Principal['credential'],
  ): GuardResult => ({
    ok: true,
    // Two literals rather than a conditional spread: this runs on every accepted request.
    principal:
      verdict.deviceFlag === undefined
        ? { uid: verdict.uid, credential }
        : { uid: verdict.uid, deviceFlag: verdict.deviceFlag, credential },
  });

  const verdictOf = (verdict: CheckResult, credential: Principal['credential']): GuardResult =>
    verdict.ok ? accept(verdict, credential) : reject(verdict.reason);
  const userSigVerdictOf = (verdict: CheckResult): GuardResult => {
    if (verdict.ok) return accept(verdict, 'usersig');
    const code: TencentErrorCode =
      verdict.reason === 'unavailable' ? 70500 : verdict.reason === 'expired' ? 70001 : 70052;
    return rejectUserSig(verdict.reason, code);
  };
  const settle = (
    verdict: CheckResult | Promise<CheckResult>,
    answer: (verdict: CheckResult) => GuardResult,
  ): GuardResult | Promise<GuardResult> =>
    verdict instanceof Promise ? verdict.then(answer) : answer(verdict);
  const sessionVerdict = (verdict: CheckResult) => verdictOf(verdict, 'session');

  /** Tries the sources from `index` on; synchronous until one of them has to wait. */
  const decideFrom = (request: GuardRequest, index: number): GuardResult | Promise<GuardResult> => {
    for (let i = index; i < sources.length; i += 1) {
      const source = sources[i]!;
      if (source === 'session') {
        const token = sessionTokenOf(request, queryToken);
        if (token === undefined) continue;
        return settle(engine.checkNow({ type: 'session', token }), sessionVerdict);
      }
      if (source === 'usersig') {
        const identifier = request.query.get('identifier');
        const sig = request.query.get('usersig');
        if (identifier === null || sig === null) continue;
        const verified = verifyUserSig(sig, {
          sdkAppId: userSig!.sdkAppId,
          secretKey: userSig!.secretKey,
          nowMs: engine.clock.nowMs(),
          identifier,
        });
        if (!verified.ok) {
          return rejectUserSig(
            verified.failure === 'expired' ? 'expired' : 'unknown',
            USERSIG_FAILURE_CODES[verified.failure],
          );
        }
        const verdict = engine.checkNow({
          type: 'stateless',
          uid: verified.identifier,
          issuedAtSec: verified.issuedAtSec,
          expiresAtMs: verified.expiresAtMs,
        });
        return settle(verdict, userSigVerdictOf);
      }
      const found = source(request);
      const next = i + 1;
      const checkFound = (credential: Credential | undefined): GuardResult | Promise<GuardResult> =>
        credential === undefined
          ? decideFrom(request, next)
          : settle(engine.checkNow(credential), (verdict) => verdictOf(verdict, credential.type));
      // Any thenable (not only a native promise) is waited for, as `await` would.
      return isThenable(found) ? Promise.resolve(found).then(checkFound) : checkFound(found);
    }
    return reject('unknown', missingCredential);
  };

  const decide = (request: GuardRequest): GuardResult | Promise<GuardResult> => decideFrom(request, 0);
  const guard = (request: GuardRequest): Promise<GuardResult> => {
    try {
      return Promise.resolve(decide(request));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return Object.assign(guard, { decide });
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

const WHERE: Record<'session' | 'usersig', string> = {
  session: 'a session token in the `token` header or `Authorization: Bearer`',
  usersig: 'a UserSig in the `identifier` and `usersig` query parameters',
};

/** What the rejection of a request without any credential tells the caller to send. */
function describeMissing(sources: readonly CredentialSource[], queryToken: boolean): string {
  const wanted = sources.map((source) =>
    typeof source === 'function'
      ? 'a credential'
      : source === 'session' && queryToken
        ? `${WHERE.session} (or \`?token=\`)`
        : WHERE[source],
  );
  return `no credential: send ${[...new Set(wanted)].join(', or ')}`;
}

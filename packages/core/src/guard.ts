/**
 * The guard every adapter runs: find a credential in the request with the configured sources (in
 * order; the first that finds one decides), ask the engine whether it is live, and accept it or
 * answer why not. The guard knows no API family: a source that speaks a family's language (the
 * Tencent UserSig source) says itself how its rejections are answered.
 */

import type { Evict } from './engine/evict.js';
import type { EvictObserver } from './engine/observer.js';
import type { CheckResult, Credential } from './engine/types.js';
import { isEvictError } from './errors.js';
import type { JsonSchema } from './families/route-doc.js';
import { type EvictResponse, type HeaderValue, headerValue, jsonResponse } from './http/types.js';
import { isThenable, type MaybePromise } from './maybe-promise.js';
import type { RejectionReason } from './model.js';

/** What a guard reads of a request (an HTTP request or a WebSocket upgrade). */
export interface GuardRequest {
  headers: Record<string, HeaderValue>;
  query: URLSearchParams;
  /**
   * The value of one header, by its lower-case name (repeats joined as Node joins them), for an
   * adapter that can read one header without building them all (a `Request`'s, or a Node request
   * whose `headers` nobody has read yet). Absent: `headers` is read. Read both through
   * `requestHeader`.
   */
  header?(name: string): string | undefined;
}

/** One header of a guarded request (its first value), through `header` when the adapter gives it. */
export function requestHeader(request: GuardRequest, name: string): string | undefined {
  return request.header === undefined ? headerValue(request.headers, name) : request.header(name);
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The credential of an `Authorization: Bearer <credential>` header, if the request carries one. */
export function bearerOf(request: GuardRequest): string | undefined {
  return requestHeader(request, 'authorization')?.match(BEARER)?.[1];
}

/** Who the request is, once the guard accepted it. */
export interface Principal {
  uid: string;
  deviceFlag?: number;
  /** The credential's kind: `session`, `stateless`, or the source's own name (`usersig`, …). */
  credential: 'session' | 'stateless' | 'usersig' | (string & {});
}

export type GuardRejection = { ok: false; reason: RejectionReason; response: EvictResponse };

export type GuardResult = { ok: true; principal: Principal } | GuardRejection;

/**
 * Where the guard looks for a credential. `sessionSource()` and `userSigSource()` are evict's; a
 * host writes its own for a JWT, an API key, a cookie.
 */
export interface CredentialSource {
  /** What a request without any credential is told to send, e.g. "a session token in the `token` header". */
  readonly expects: string;
  /** How the principal names a credential this source found. Default: the credential's own `type`. */
  readonly principal?: string;
  /**
   * The credential the request carries; undefined when this source finds none there (the next
   * source is tried); or a rejection the source answers itself (a signature that does not verify).
   * A promise (any thenable) is waited for.
   */
  read(
    request: GuardRequest,
    engine: Evict,
  ): Credential | GuardRejection | undefined | PromiseLike<Credential | GuardRejection | undefined>;
  /** The answer when the engine rejects a credential of this source. Default: `guardRejection(reason)`. */
  reject?(reason: RejectionReason): GuardRejection;
}

/** A source written as one function: finds a credential in a request, or undefined. */
export type CredentialExtractor = (
  request: GuardRequest,
) => Credential | undefined | PromiseLike<Credential | undefined>;

export interface GuardOptions {
  /**
   * Where to look for a credential, tried in order. `'session'` is `sessionSource({ queryToken })`;
   * a function is a source that expects "a credential". Default `['session']`.
   */
  credentials?: readonly (CredentialSource | 'session' | CredentialExtractor)[];
  /** The `'session'` shorthand reads the `token` query parameter too. Default false; upgrade checks turn it on. */
  queryToken?: boolean;
}

export interface Guard {
  /** Checks a request; the same as `guard.check(request)`. */
  (request: GuardRequest): Promise<GuardResult>;
  check(request: GuardRequest): Promise<GuardResult>;
  /**
   * `check`, answered synchronously when the engine's cache answers it, a promise of it otherwise
   * (as `engine.checkNow`): adapters use it so that a warm request reaches the route in the same tick.
   */
  checkNow(request: GuardRequest): MaybePromise<GuardResult>;
}

const MESSAGES: Record<RejectionReason, string> = {
  kicked: 'the user was kicked; log in again',
  device_quit: 'the device was signed out; log in again',
  logged_out: 'the session was logged out',
  replaced: 'logged in on another device; log in again',
  expired: 'the credential has expired',
  unknown: 'the credential is not known',
  unavailable: 'the session store is unavailable; try again later',
};

/**
 * evict's answer to a login a policy refused (`EVICT_LOGIN_REFUSED`, `onExceed: 'refuse-new'`):
 * 409 `{"error": "login_refused", "reason": "session_limit", "message"}`; undefined for any other
 * error, which the host answers as it does its own.
 */
export function loginRefusal(error: unknown): EvictResponse | undefined {
  if (!isEvictError(error, 'EVICT_LOGIN_REFUSED')) return undefined;
  return jsonResponse(409, {
    error: 'login_refused',
    reason: 'session_limit',
    message: 'this account is signed in on as many devices of this kind as allowed; sign out of one first',
  });
}

/** The body of `guardRejection`'s answer, as JSON Schema (for route docs and OpenAPI). */
export const GUARD_REJECTION_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    error: { const: 'unauthorized' },
    reason: { enum: Object.keys(MESSAGES) },
    message: { type: 'string' },
  },
  required: ['error', 'reason', 'message'],
};

/** evict's own answer to a rejected credential: 401 (503 when the store is unavailable) with the reason. */
export function guardRejection(reason: RejectionReason, message = MESSAGES[reason]): GuardRejection {
  const status = reason === 'unavailable' ? 503 : 401;
  return { ok: false, reason, response: jsonResponse(status, { error: 'unauthorized', reason, message }) };
}

/** The session token a request carries, if any. */
export function sessionTokenOf(request: GuardRequest, queryToken: boolean): string | undefined {
  const header = requestHeader(request, 'token');
  if (header !== undefined && header !== '') return header;
  const bearer = bearerOf(request);
  if (bearer !== undefined) return bearer;
  const query = queryToken ? request.query.get('token') : null;
  return query === null || query === '' ? undefined : query;
}

/** A login token in the `token` header or `Authorization: Bearer` (and `?token=` with `queryToken`). */
export function sessionSource(options: { queryToken?: boolean } = {}): CredentialSource {
  const queryToken = options.queryToken ?? false;
  const where = 'a session token in the `token` header or `Authorization: Bearer`';
  return {
    expects: queryToken ? `${where} (or \`?token=\`)` : where,
    read(request) {
      const token = sessionTokenOf(request, queryToken);
      return token === undefined ? undefined : { type: 'session', token };
    },
  };
}

function sourceOf(
  source: CredentialSource | 'session' | CredentialExtractor,
  queryToken: boolean,
): CredentialSource {
  if (source === 'session') return sessionSource({ queryToken });
  if (typeof source === 'function') return { expects: 'a credential', read: (request) => source(request) };
  if (typeof source === 'object' && source !== null && typeof source.read === 'function') return source;
  if ((source as unknown) === 'usersig') {
    throw new TypeError(
      "evict: the 'usersig' credential source is userSigSource({ sdkAppId, secretKey }) from @evict/core",
    );
  }
  throw new TypeError(`evict: unknown guard credential source ${JSON.stringify(source)}`);
}

/** The check every adapter's guard runs: find the credential, ask the engine, accept or answer why not. */
export function createGuard(engine: Evict, options: GuardOptions = {}): Guard {
  const given = options.credentials ?? ['session'];
  if (!Array.isArray(given) || given.length === 0)
    throw new TypeError('evict: guard credentials must be a non-empty list');
  const sources = given.map((source) => sourceOf(source, options.queryToken ?? false));
  const missing = `no credential: send ${[...new Set(sources.map((s) => s.expects))].join(', or ')}`;

  const checkFound = (
    source: CredentialSource,
    found: Credential | GuardRejection,
  ): MaybePromise<GuardResult> => {
    if ((found as GuardRejection).ok === false) return found as GuardRejection;
    const credential = found as Credential;
    const verdict = engine.checkNow(credential);
    if (verdict instanceof Promise) return answerLater(source, credential, verdict);
    return answer(source, credential, verdict);
  };

  /** Tries the sources from `index` on; synchronous until one of them has to wait. */
  const checkFrom = (request: GuardRequest, index: number): MaybePromise<GuardResult> => {
    for (let i = index; i < sources.length; i += 1) {
      const source = sources[i]!;
      const found = source.read(request, engine);
      if (found === undefined) continue;
      if (isThenable(found)) return Promise.resolve(found).then((read) => settleRead(request, i, read));
      return checkFound(source, found);
    }
    return guardRejection('unknown', missing);
  };

  const settleRead = (
    request: GuardRequest,
    index: number,
    found: Credential | GuardRejection | undefined,
  ): MaybePromise<GuardResult> =>
    found === undefined ? checkFrom(request, index + 1) : checkFound(sources[index]!, found);

  const checkNow = (request: GuardRequest): MaybePromise<GuardResult> => {
    // One property test when nothing observes the guard (the default).
    const report = engine.observer?.guardDecision;
    if (report === undefined) return checkFrom(request, 0);
    const result = checkFrom(request, 0);
    return isThenable(result)
      ? Promise.resolve(result).then((settled) => reported(settled, report))
      : reported(result, report);
  };
  const check = (request: GuardRequest): Promise<GuardResult> => {
    try {
      return Promise.resolve(checkNow(request));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return Object.assign(check, { check, checkNow });
}

function reported(result: GuardResult, report: NonNullable<EvictObserver['guardDecision']>): GuardResult {
  report(result.ok, result.ok ? undefined : result.reason);
  return result;
}

/** Kept apart from the synchronous path, so that only a verdict still to come allocates a closure. */
function answerLater(
  source: CredentialSource,
  credential: Credential,
  verdict: Promise<CheckResult>,
): Promise<GuardResult> {
  return verdict.then((settled) => answer(source, credential, settled));
}

/** The guard's answer to the engine's verdict on a credential `source` found. */
function answer(source: CredentialSource, credential: Credential, verdict: CheckResult): GuardResult {
  if (!verdict.ok) return source.reject?.(verdict.reason) ?? guardRejection(verdict.reason);
  const kind = source.principal ?? credential.type;
  return {
    ok: true,
    // Two literals rather than a conditional spread: this runs on every accepted request.
    principal:
      verdict.deviceFlag === undefined
        ? { uid: verdict.uid, credential: kind }
        : { uid: verdict.uid, deviceFlag: verdict.deviceFlag, credential: kind },
  };
}

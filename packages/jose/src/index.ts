import {
  bearerOf,
  type CredentialSource,
  type Evict,
  type GuardRejection,
  type GuardRequest,
  guardRejection,
  type StatelessCredential,
} from '@evict/core';
import {
  createRemoteJWKSet,
  errors,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';

/** A key `jwtVerify` takes: a secret's bytes (HS*), a public `CryptoKey` or `KeyObject`, a JWK. */
type VerificationKey = Parameters<typeof jwtVerify>[1];

export interface JwtSourceOptions {
  /**
   * What the signatures are checked with: a key (a secret's bytes for HS*, a public key or JWK for
   * RS*, PS*, ES*, EdDSA), a JWK Set's URL (fetched and cached by jose's `createRemoteJWKSet`,
   * which fetches again for a `kid` it does not know: a key rotation needs no restart), or a
   * function of jose's that picks the key.
   */
  key: VerificationKey | JWK | URL | JWTVerifyGetKey;
  /**
   * The algorithms accepted, e.g. `['RS256', 'ES256']`. Default: those the key allows, as jose
   * decides; name them (never `none`, which jose never accepts).
   */
  algorithms?: string[];
  issuer?: string | string[];
  audience?: string | string[];
  /** Leeway for `exp` and `nbf`, in seconds. Default 0. */
  clockToleranceSec?: number;
  /**
   * The claim that holds the device flag (0–255), e.g. `'device_flag'`: a device quit then rejects
   * the JWTs of that device. Absent: the JWTs are not bound to a device (a device quit leaves them
   * alone; a kick of the user does not).
   */
  deviceClaim?: string;
  /** Also read a JWT from this query parameter (WebSocket upgrades: browsers cannot set headers). */
  queryParameter?: string;
  /** For a URL `key`: how long jose keeps the JWK Set before fetching it again, in ms. Default jose's (10 min). */
  jwksCacheMaxAgeMs?: number;
  /** For a URL `key`: the least time between two fetches, in ms. Default jose's (30 s). */
  jwksCooldownMs?: number;
  /**
   * How many verified JWTs to remember (by their exact text), so that a JWT presented again is not
   * verified again: a signature check is most of a JWT's cost (jose verifies through Web Crypto,
   * asynchronously). Default 10 000; 0 verifies every time. The engine's cutoffs are checked on
   * every request all the same: a kick rejects a remembered JWT at once.
   */
  verifiedCacheSize?: number;
  /** How long a verified JWT is remembered at most, in ms (never past its `exp`). Default 60 000. */
  verifiedCacheTtlMs?: number;
}

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/**
 * JWTs as stateless credentials for evict's guard: `credentials: [jwtSource({ key, algorithms })]`.
 * Reads `Authorization: Bearer <jwt>` (and the query parameter, if named), verifies the signature
 * and the standard claims with jose, and gives the engine `sub` as the user, `iat` as the issue time
 * and the device claim as the device. The engine then rejects every JWT issued up to a kick of its
 * user (or a quit of its device) from the cutoffs it keeps, cached on every node: no store trip per
 * request, where an `isRevoked` lookup (express-jwt's) pays one on each.
 *
 * A Bearer value that is not a JWT is left to the next source (a session token), so the two mix:
 * `credentials: [jwtSource(...), 'session']`. A JWT without `sub` or `iat` is refused (`unknown`):
 * without its issue time, no kick could ever revoke it.
 */
export function jwtSource(options: JwtSourceOptions): CredentialSource {
  if (typeof options !== 'object' || options === null || options.key === undefined) {
    throw new TypeError('evict: jwtSource needs { key }');
  }
  const { deviceClaim, queryParameter } = options;
  if (deviceClaim !== undefined && (typeof deviceClaim !== 'string' || deviceClaim === '')) {
    throw new TypeError('evict: jwtSource: deviceClaim must be a claim name');
  }
  const key = keyOf(options);
  const verified = new VerifiedCache(
    options.verifiedCacheSize ?? 10_000,
    options.verifiedCacheTtlMs ?? 60_000,
  );
  const verifyOptions: JWTVerifyOptions = {
    ...(options.algorithms === undefined ? {} : { algorithms: options.algorithms }),
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined ? {} : { audience: options.audience }),
    ...(options.clockToleranceSec === undefined ? {} : { clockTolerance: options.clockToleranceSec }),
  };
  return {
    expects: 'a JWT in `Authorization: Bearer`',
    principal: 'jwt',
    read(request, engine) {
      const jwt = jwtOf(request, queryParameter);
      if (jwt === undefined) return undefined;
      const nowMs = engine.clock.nowMs();
      // Synchronous when remembered: the guard then answers a warm request in the same tick.
      const known = verified.get(jwt, nowMs);
      if (known !== undefined) return known;
      return verify(jwt, key, verifyOptions, engine, deviceClaim).then((result) => {
        if ('type' in result) verified.set(jwt, result, nowMs);
        return result;
      });
    },
  };
}

function keyOf(options: JwtSourceOptions): VerificationKey | JWTVerifyGetKey {
  const { key } = options;
  if (key instanceof URL) {
    return createRemoteJWKSet(key, {
      ...(options.jwksCacheMaxAgeMs === undefined ? {} : { cacheMaxAge: options.jwksCacheMaxAgeMs }),
      ...(options.jwksCooldownMs === undefined ? {} : { cooldownDuration: options.jwksCooldownMs }),
    });
  }
  return key as VerificationKey | JWTVerifyGetKey;
}

/** The JWT a request carries, if any: a Bearer value shaped like one, or the query parameter's. */
function jwtOf(request: GuardRequest, queryParameter: string | undefined): string | undefined {
  const bearer = bearerOf(request);
  if (bearer !== undefined && JWT.test(bearer)) return bearer;
  if (queryParameter === undefined) return undefined;
  const fromQuery = request.query.get(queryParameter);
  return fromQuery !== null && JWT.test(fromQuery) ? fromQuery : undefined;
}

async function verify(
  jwt: string,
  key: VerificationKey | JWTVerifyGetKey,
  options: JWTVerifyOptions,
  engine: Evict,
  deviceClaim: string | undefined,
): Promise<StatelessCredential | GuardRejection> {
  let payload: JWTPayload;
  try {
    // The engine's clock: the same "now" as every other check it makes.
    const verified = await jwtVerify(jwt, key as VerificationKey, {
      ...options,
      currentDate: new Date(engine.clock.nowMs()),
    });
    payload = verified.payload;
  } catch (error) {
    if (error instanceof errors.JWTExpired) return guardRejection('expired', 'the JWT has expired');
    return guardRejection('unknown', `the JWT does not verify (${codeOf(error)})`);
  }
  const { sub, iat, exp } = payload;
  if (typeof sub !== 'string' || sub === '') return guardRejection('unknown', 'the JWT has no `sub`');
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0) {
    return guardRejection('unknown', 'the JWT has no `iat`: nothing could revoke it');
  }
  const credential: StatelessCredential = { type: 'stateless', uid: sub, issuedAtSec: iat };
  if (typeof exp === 'number' && Number.isFinite(exp)) credential.expiresAtMs = exp * 1000;
  if (deviceClaim !== undefined) {
    const flag = payload[deviceClaim];
    if (!(Number.isInteger(flag) && (flag as number) >= 0 && (flag as number) <= 255))
      return guardRejection('unknown', `the JWT's \`${deviceClaim}\` is not a device flag`);
    credential.deviceFlag = flag as number;
  }
  return credential;
}

/**
 * Verified JWTs by their text, each until its `exp` or the TTL, whichever comes first; the oldest
 * goes first when full. Only successes are kept: a flood of bad JWTs costs verifications, never
 * memory.
 */
class VerifiedCache {
  readonly #entries = new Map<string, { credential: StatelessCredential; untilMs: number }>();
  readonly #size: number;
  readonly #ttlMs: number;

  constructor(size: number, ttlMs: number) {
    if (!Number.isSafeInteger(size) || size < 0)
      throw new TypeError('evict: jwtSource: verifiedCacheSize must be a non-negative integer');
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0)
      throw new TypeError('evict: jwtSource: verifiedCacheTtlMs must be a non-negative integer');
    this.#size = size;
    this.#ttlMs = ttlMs;
  }

  get(jwt: string, nowMs: number): StatelessCredential | undefined {
    const entry = this.#entries.get(jwt);
    if (entry === undefined) return undefined;
    if (entry.untilMs > nowMs) return entry.credential;
    this.#entries.delete(jwt);
    return undefined;
  }

  set(jwt: string, credential: StatelessCredential, nowMs: number): void {
    if (this.#size === 0 || this.#ttlMs === 0) return;
    const untilMs = Math.min(nowMs + this.#ttlMs, credential.expiresAtMs ?? Number.POSITIVE_INFINITY);
    if (untilMs <= nowMs) return;
    if (this.#entries.size >= this.#size) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(jwt, { credential: Object.freeze(credential), untilMs });
  }
}

/** jose's error code (`ERR_JWS_SIGNATURE_VERIFICATION_FAILED`, …), or a generic one. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ERR_JWT_INVALID';
}

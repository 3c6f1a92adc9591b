/**
 * The app every contract case talks to: the admin families on the fixtures' credentials, and the
 * guard on `GET /protected`. A case's `options` say how its app differs.
 */
import type { AdminApiOptions, Credential, FamilyName, GuardOptions, GuardRequest } from '@evict/core';
import { userSigSource } from '@evict/core';
import { ADMIN, MANAGER_TOKEN, OPS, SDKAPPID, SECRET_KEY } from '../support/fixtures.js';

/** A JWT the host verified itself, as claims in `x-claims: {"sub","dev"?,"iat","exp"}`. */
function claimsFromHeader(request: GuardRequest): Credential | undefined {
  const raw = request.headers['x-claims'];
  if (typeof raw !== 'string') return undefined;
  const claims = JSON.parse(raw) as { sub: string; dev?: number; iat: number; exp: number };
  return {
    type: 'stateless',
    uid: claims.sub,
    ...(claims.dev === undefined ? {} : { deviceFlag: claims.dev }),
    issuedAtSec: claims.iat,
    expiresAtMs: claims.exp * 1000,
  };
}

/** The guard on `GET /protected`: a session token, else a UserSig, else the host's own JWT. */
export const GUARD: GuardOptions = {
  credentials: ['session', userSigSource({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY }), claimsFromHeader],
};

/** How one case's app differs from the default one. */
export interface CaseOptions {
  families?: FamilyName[];
  /** Mount the admin routes here instead of the root. */
  prefix?: string;
  rateLimitPerSecond?: number;
  admins?: string[];
  compat?: true;
  /** The engine's store timeout (default 2 000 ms); small for a hanging store. */
  storeTimeoutMs?: number;
}

export function adminOptionsFor(options: CaseOptions = {}): AdminApiOptions {
  return {
    ...(options.families === undefined ? {} : { families: options.families }),
    // A short master grace, so that /user/token's kicked socket closes within the case.
    wukongim: {
      managerToken: MANAGER_TOKEN,
      masterKickGraceMs: 50,
      ...(options.compat ? { compat: true } : {}),
    },
    tencent: {
      sdkAppId: SDKAPPID,
      secretKey: SECRET_KEY,
      admins: options.admins ?? [ADMIN, OPS],
      ...(options.rateLimitPerSecond === undefined ? {} : { rateLimitPerSecond: options.rateLimitPerSecond }),
    },
    lancens: {},
    sessions: true,
  };
}

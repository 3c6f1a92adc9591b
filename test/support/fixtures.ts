/**
 * The credentials every in-process test app is configured with: the WuKongIM manager token, the
 * Tencent app (SDKAppID, secret key, admins), and the kick URL signed as that app's admin. The demo
 * processes have their own defaults (`DEMO_TENCENT` in `demo-process.ts`), as the README gives them.
 */
import { createRequire } from 'node:module';
import { type AdminApiOptions, signUserSig } from '@evict/core';

export const MANAGER_TOKEN = 'manager-token-0123456789abcdef';
export const SDKAPPID = 1400000001;
export const SECRET_KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
/** A well-formed secret key that is not the app's. */
export const OTHER_KEY = '0000000000000000000000000000000000000000000000000000000000000000';
export const ADMIN = 'admin';
/** A second App admin. */
export const OPS = 'ops';

/** The WuKongIM and Tencent families on the fixtures; `extra` adds or replaces a family. */
export const adminOptions = (extra: AdminApiOptions = {}): AdminApiOptions => ({
  wukongim: { managerToken: MANAGER_TOKEN },
  tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN] },
  ...extra,
});

/** The Tencent kick URL with a UserSig of the admin signed at `nowMs` (default: now), below `prefix`. */
export function kickUrl(prefix = '', nowMs?: number): string {
  const usersig = signUserSig({
    sdkAppId: SDKAPPID,
    secretKey: SECRET_KEY,
    identifier: ADMIN,
    expireSec: 86_400,
    ...(nowMs === undefined ? {} : { nowMs }),
  });
  const query = new URLSearchParams({
    sdkappid: String(SDKAPPID),
    identifier: ADMIN,
    usersig,
    random: '99999999',
    contenttype: 'json',
  });
  return `${prefix}/v4/im_open_login_svc/kick?${query}`;
}

/** A JSON object of about `bytes` bytes: valid, so only its size is wrong. */
export function bigJson(fields: Record<string, unknown>, bytes = 17 * 1024): string {
  const base = JSON.stringify(fields);
  // Padding as whitespace keeps the object's fields exactly `fields`.
  return `${base.slice(0, -1)}${' '.repeat(Math.max(0, bytes - base.length))}}`;
}

interface TlsSigApiV2 {
  Api: new (sdkappid: number, key: string) => { genUserSig(identifier: string, expireSec: number): string };
}
const TLSSigAPIv2 = createRequire(import.meta.url)('tls-sig-api-v2') as TlsSigApiV2;

/** A UserSig from Tencent's own library, tls-sig-api-v2 (no types shipped), signed at `atMs` (default: now). */
export function tencentUserSig(
  app: { sdkAppId: number; secretKey: string },
  identifier: string,
  expireSec: number,
  atMs?: number,
): string {
  const api = new TLSSigAPIv2.Api(app.sdkAppId, app.secretKey);
  if (atMs === undefined) return api.genUserSig(identifier, expireSec);
  // genUserSig signs at Date.now(): pin it for this synchronous call only.
  const realNow = Date.now;
  Date.now = () => atMs;
  try {
    return api.genUserSig(identifier, expireSec);
  } finally {
    Date.now = realNow;
  }
}

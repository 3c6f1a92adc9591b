/** The requests the contract cases send, by family: paths, credentials and bodies. */
import { ADMIN, bigJson, MANAGER_TOKEN, SDKAPPID } from '../support/fixtures.js';
import type { ContractBody, ContractRequest, SigOptions, World } from './table.js';

export const DEVICE_QUIT = '/user/device_quit';
export const CONN_REMOVE = '/conn/remove';
export const CONN_KICK = '/conn/kick';
export const KICK = '/v4/im_open_login_svc/kick';
export const LOGOUT = '/v1/api/user/logout';
export const RING = '/v1/api/user/token';
export const MESSAGE = '/v1/api/user/message/token';

/** A WuKongIM call with the manager token (or `token`; null: no header). */
export const wk = (
  path: string,
  body?: ContractBody,
  token: string | null = MANAGER_TOKEN,
): ContractRequest => ({
  method: 'POST',
  path,
  ...(token === null ? {} : { headers: { token } }),
  ...(body === undefined ? {} : { body }),
});

export const ONLINE_STATUS = '/user/onlinestatus';
export const CONNZ = '/connz';
export const QUERY_ONLINE_STATUS = '/v4/openim/query_online_status';

/** A Tencent REST call to `path` with a UserSig of the admin from tls-sig-api-v2; `query` overrides (undefined: leave out). */
const tencentCall =
  (path: string) =>
  (body?: ContractBody, query: Record<string, string | undefined> = {}, prefix = '') =>
  (w: World): ContractRequest => ({
    method: 'POST',
    path: `${prefix}${path}`,
    query: {
      sdkappid: String(SDKAPPID),
      identifier: ADMIN,
      usersig: w.sig(ADMIN),
      random: '99999999',
      contenttype: 'json',
      ...query,
    },
    ...(body === undefined ? {} : { body }),
  });

/** The seed's kick URL. */
export const kick = tencentCall(KICK);
/** `query_online_status`, authenticated as the kick is. */
export const queryOnlineStatus = tencentCall(QUERY_ONLINE_STATUS);

/** The same with a usersig chosen at request time. */
export const kickWith =
  (body: ContractBody, query: (w: World) => Record<string, string | undefined>) =>
  (w: World): ContractRequest =>
    kick(body, query(w))(w);

/** The seed's curl: `-H "accept: application/json"` (and a JSON body). */
export const logout = (body?: ContractBody): ContractRequest => ({
  method: 'POST',
  path: LOGOUT,
  headers: { accept: 'application/json' },
  ...(body === undefined ? {} : { body }),
});

export const del = (path: string, token?: string, extra: Partial<ContractRequest> = {}): ContractRequest => ({
  method: 'DELETE',
  path,
  headers: { accept: 'application/json', ...(token === undefined ? {} : { token }) },
  ...extra,
});

export const guarded = (
  headers: Record<string, string | string[]> = {},
  query?: Record<string, string | undefined>,
): ContractRequest => ({
  method: 'GET',
  path: '/protected',
  headers,
  ...(query === undefined ? {} : { query }),
});

/** `GET /protected` with the session token `name`. */
export const asSession = (name: string) => (w: World) => guarded({ token: w.tokens[name]! });
export const asUserSig = (uid: string, options?: SigOptions) => (w: World) =>
  guarded({}, { identifier: uid, usersig: w.sig(uid, options) });
export const asClaims = (claims: (nowSec: number) => Record<string, unknown>) => (w: World) =>
  guarded({ 'x-claims': JSON.stringify(claims(Math.floor(w.clock.nowMs() / 1000))) });

export const upgrade = (token?: string, deviceId?: string): ContractRequest => ({
  method: 'GET',
  path: '/ws',
  websocket: true,
  ...(token === undefined ? {} : { query: { token, device_id: deviceId } }),
});

/** The same, over 16 KiB, sent in chunks without Content-Length. */
export const chunkedOver16KiB = (fields: Record<string, unknown>) => ({
  chunked: Buffer.from(bigJson(fields)),
});

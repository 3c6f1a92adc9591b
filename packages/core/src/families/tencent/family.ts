import type { Evict } from '../../engine/evict.js';
import { MAX_PRESENCE_UIDS } from '../../engine/types.js';
import { isEvictError } from '../../errors.js';
import { type EvictRequest, type EvictResponse, jsonResponse } from '../../http/types.js';
import { isDeviceFlag, isPositiveSafeInteger, uidListProblem, uidProblem } from '../../validation.js';
import { authFailureLimiter, clientOf } from '../auth-limiter.js';
import { type Family, objectBody } from '../family.js';
import { fieldsOf } from '../route-doc.js';
import { codeOfRejection, type TencentErrorCode, tencentBody, USERSIG_FAILURE_CODES } from './codes.js';
import { TENCENT_DOCS } from './docs.js';
import { verifyUserSig } from './usersig.js';

/** A Tencent Cloud IM app (seed 003): `POST /v4/im_open_login_svc/kick` and `POST /v4/openim/query_online_status`. */
export interface TencentOptions {
  /** The app's SDKAppID. */
  sdkAppId: number;
  /** The app's secret key: UserSigs are HMAC-SHA256 signed with it (TLSSigAPIv2). */
  secretKey: string;
  /** The App admin identifiers allowed to call the REST API. */
  admins: readonly string[];
  /** Calls per second per app, across the cluster when the store is shared. Default 200 (Tencent's cap). */
  rateLimitPerSecond?: number;
  /**
   * The `Platform` that `query_online_status` names for each device flag (default
   * `DEFAULT_TENCENT_PLATFORMS`: 0 Android, 1 Web, 2 PC, WuKongIM's app, web and desktop); a flag
   * left out reads as `Unknown`.
   */
  platforms?: Readonly<Record<number, string>>;
  /**
   * Failed authentications (a UserSig that does not verify, an identifier that is not an admin) a
   * client (remote address) may make per minute, counted in the store (shared by the cluster); beyond
   * it every call of that client answers 60007 until the minute is over. Default 10.
   */
  maxFailedAuthPerMinute?: number;
}

export function parseTencentOptions(options: TencentOptions | undefined): Required<TencentOptions> {
  if (options === undefined || typeof options !== 'object') {
    throw new TypeError(
      'evict: the tencent family needs tencent: { sdkAppId, secretKey, admins } (or leave it out with families: [...])',
    );
  }
  if (!isPositiveSafeInteger(options.sdkAppId))
    throw new TypeError('evict: tencent.sdkAppId must be a positive integer');
  if (typeof options.secretKey !== 'string' || options.secretKey.length === 0) {
    throw new TypeError('evict: tencent.secretKey must be a non-empty string');
  }
  if (
    !Array.isArray(options.admins) ||
    options.admins.length === 0 ||
    options.admins.some((a) => uidProblem(a))
  ) {
    throw new TypeError('evict: tencent.admins must be a non-empty array of identifiers');
  }
  const rateLimitPerSecond = options.rateLimitPerSecond ?? 200;
  if (!isPositiveSafeInteger(rateLimitPerSecond)) {
    throw new TypeError('evict: tencent.rateLimitPerSecond must be a positive integer');
  }
  const maxFailedAuthPerMinute = options.maxFailedAuthPerMinute ?? 10;
  if (!isPositiveSafeInteger(maxFailedAuthPerMinute)) {
    throw new TypeError('evict: tencent.maxFailedAuthPerMinute must be a positive integer');
  }
  const platforms = options.platforms ?? DEFAULT_TENCENT_PLATFORMS;
  if (
    typeof platforms !== 'object' ||
    platforms === null ||
    Object.entries(platforms).some(
      ([flag, name]) => !isDeviceFlag(Number(flag)) || typeof name !== 'string' || name === '',
    )
  ) {
    throw new TypeError('evict: tencent.platforms must map device flags (0 to 255) to platform names');
  }
  return {
    ...options,
    admins: [...options.admins],
    rateLimitPerSecond,
    maxFailedAuthPerMinute,
    platforms: { ...platforms },
  };
}

/** What `query_online_status` calls each device flag unless `platforms` says otherwise. */
export const DEFAULT_TENCENT_PLATFORMS: Readonly<Record<number, string>> = {
  0: 'Android',
  1: 'Web',
  2: 'PC',
};

const KICK_PATH = '/v4/im_open_login_svc/kick';
const ONLINE_STATUS_PATH = '/v4/openim/query_online_status';
/** The fields a route's body may hold: its documented schema's. */
const fields = (path: string) => fieldsOf(TENCENT_DOCS[path]!.body!.schema);
const UINT32_MAX = 4_294_967_295;
const KICK_ENDPOINT = `POST ${KICK_PATH}`;

export function tencentFamily(engine: Evict, rawOptions: TencentOptions | undefined): Family {
  const options = parseTencentOptions(rawOptions);
  const answer = (code: 0 | TencentErrorCode, detail?: string): EvictResponse =>
    jsonResponse(200, tencentBody(code, detail));

  const limiter = authFailureLimiter(engine, 'tencent', options.maxFailedAuthPerMinute);

  /** A failed authentication: its own code, or 60007 once the client is over the limit. */
  async function refuse(client: string, code: TencentErrorCode, detail?: string): Promise<EvictResponse> {
    try {
      if (await limiter.fail(client)) return answer(60007, 'too many failed authentications');
    } catch (error) {
      return storeFailure(error);
    }
    return answer(code, detail);
  }

  /**
   * Every call's checks, before its body: the app, the admin's UserSig (rate-limited failures), the
   * app's call rate, and the query's `random` and `contenttype`. The admin's identifier, or the answer.
   */
  async function admit(request: EvictRequest): Promise<{ admin: string } | { refused: EvictResponse }> {
    const refused = async (response: EvictResponse | Promise<EvictResponse>) => ({ refused: await response });
    const { query } = request;
    const client = clientOf(request);
    if (limiter.locked(client)) return refused(answer(60007, 'too many failed authentications'));
    if (query.get('sdkappid') !== String(options.sdkAppId)) return refused(answer(60006));
    const identifier = query.get('identifier');
    if (identifier === null || identifier === '') return refused(answer(70402, 'identifier is required'));
    const usersig = query.get('usersig');
    if (usersig === null || usersig === '') return refused(refuse(client, 70003, 'usersig is required'));
    const verified = verifyUserSig(usersig, {
      sdkAppId: options.sdkAppId,
      secretKey: options.secretKey,
      nowMs: engine.clock.nowMs(),
      identifier,
    });
    if (!verified.ok) return refused(refuse(client, USERSIG_FAILURE_CODES[verified.failure]));
    if (!options.admins.includes(identifier)) return refused(refuse(client, 70403));
    // Counted after authentication, so that strangers cannot spend the app's quota.
    try {
      const calls = await engine.countHit(`tencent:rate:${options.sdkAppId}`, 1000);
      if (calls > options.rateLimitPerSecond) return refused(answer(60007));
    } catch (error) {
      return refused(storeFailure(error));
    }
    // A kick of the admin invalidates the UserSigs it made up to then here too, not only in the guard.
    const live = await engine.check({
      type: 'stateless',
      uid: identifier,
      issuedAtSec: verified.issuedAtSec,
      expiresAtMs: verified.expiresAtMs,
    });
    if (!live.ok) return refused(answer(codeOfRejection(live.reason)));
    const random = query.get('random');
    if (random === null || !/^\d{1,10}$/.test(random) || Number(random) > UINT32_MAX) {
      return refused(answer(70402, 'random must be a 32-bit unsigned integer'));
    }
    const contentType = query.get('contenttype');
    if (contentType !== null && contentType !== 'json')
      return refused(answer(70402, 'contenttype must be json'));
    return { admin: identifier };
  }

  /** `admit`, then the body as an object of `fields` only: the admin and the fields, or the answer. */
  async function admitWithBody(
    request: EvictRequest,
    fields: readonly string[],
  ): Promise<{ admin: string; fields: Readonly<Record<string, unknown>> } | { refused: EvictResponse }> {
    const admitted = await admit(request);
    if ('refused' in admitted) return admitted;
    const raw = await request.readBody();
    if (raw.kind === 'invalid' && raw.problem === 'not_json') return { refused: answer(60003) };
    const body = objectBody(raw, fields);
    if (!body.ok) return { refused: answer(body.problem === 'not_json' ? 60003 : 70402, body.message) };
    return { admin: admitted.admin, fields: body.fields };
  }

  async function kick(request: EvictRequest): Promise<EvictResponse> {
    const admitted = await admitWithBody(request, fields(KICK_PATH));
    if ('refused' in admitted) return admitted.refused;
    const { Identifier, UserID } = admitted.fields;
    if (Identifier !== undefined && UserID !== undefined)
      return answer(70402, 'give Identifier or UserID, not both');
    const uid = Identifier ?? UserID;
    if (uid === undefined) return answer(70402, 'Identifier is required');
    const problem = uidProblem(uid);
    if (problem !== undefined) return answer(70402, `Identifier ${problem}`);
    try {
      await engine.kickUser(uid as string, {
        actor: { type: 'admin', id: admitted.admin },
        endpoint: KICK_ENDPOINT,
        family: 'tencent',
      });
      return answer(0);
    } catch (error) {
      if (isEvictError(error, 'EVICT_UNKNOWN_USER')) return answer(70107);
      return storeFailure(error);
    }
  }

  /** `POST /v4/openim/query_online_status`: Online, PushOnline or Offline, per account, with each platform on request. */
  async function queryOnlineStatus(request: EvictRequest): Promise<EvictResponse> {
    const admitted = await admitWithBody(request, fields(ONLINE_STATUS_PATH));
    if ('refused' in admitted) return admitted.refused;
    const { To_Account: accounts, IsNeedDetail: needDetail } = admitted.fields;
    if (accounts === undefined) return answer(70402, 'To_Account is required');
    const problem = uidListProblem(accounts, MAX_PRESENCE_UIDS);
    if (problem !== undefined) return answer(70402, `To_Account ${problem}`);
    if ((accounts as string[]).length === 0) return answer(70402, 'To_Account must not be empty');
    if (needDetail !== undefined && needDetail !== 0 && needDetail !== 1)
      return answer(70402, 'IsNeedDetail must be 0 or 1');
    const platformOf = (deviceFlag: number) => options.platforms[deviceFlag] ?? 'Unknown';
    try {
      const QueryResult: {
        To_Account: string;
        Status: string;
        Detail?: { Platform: string; Status: string }[];
      }[] = [];
      const ErrorList: { To_Account: string; ErrorCode: number }[] = [];
      for (const user of await engine.presence(accounts as string[])) {
        if (!user.exists) {
          ErrorList.push({ To_Account: user.uid, ErrorCode: 70107 });
          continue;
        }
        const Status = user.online ? 'Online' : user.pushOnline ? 'PushOnline' : 'Offline';
        const row: (typeof QueryResult)[number] = { To_Account: user.uid, Status };
        if (needDetail === 1) {
          row.Detail = user.online
            ? user.devices.map(({ deviceFlag }) => ({ Platform: platformOf(deviceFlag), Status: 'Online' }))
            : user.pushDevices.map((deviceFlag) => ({
                Platform: platformOf(deviceFlag),
                Status: 'PushOnline',
              }));
        }
        QueryResult.push(row);
      }
      return jsonResponse(200, { ...tencentBody(0), QueryResult, ErrorList });
    } catch (error) {
      return storeFailure(error);
    }
  }

  const storeFailure = (error: unknown): EvictResponse =>
    answer(isEvictError(error, 'EVICT_STORE_TIMEOUT') ? 70169 : 70500);

  return {
    name: 'tencent',
    routes: [
      { method: 'POST', path: KICK_PATH, doc: TENCENT_DOCS[KICK_PATH]!, handle: kick },
      {
        method: 'POST',
        path: ONLINE_STATUS_PATH,
        doc: TENCENT_DOCS[ONLINE_STATUS_PATH]!,
        handle: queryOnlineStatus,
      },
    ],
  };
}

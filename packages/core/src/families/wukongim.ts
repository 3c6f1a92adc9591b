import type { Evict } from '../engine/evict.js';
import type { RevocationContext } from '../engine/types.js';
import { MAX_PRESENCE_UIDS } from '../engine/types.js';
import { isEvictError } from '../errors.js';
import {
  type EvictRequest,
  type EvictResponse,
  emptyResponse,
  headerValue,
  jsonResponse,
} from '../http/types.js';
import type { DeviceLevel } from '../model.js';
import { secretsEqual } from '../secrets.js';
import {
  isDeviceFlag,
  isPositiveSafeInteger,
  isTokenString,
  MAX_DEVICE_FLAG,
  MAX_TOKEN_LENGTH,
  uidListProblem,
  uidProblem,
} from '../validation.js';
import { authFailureLimiter, clientOf } from './auth-limiter.js';
import { type Family, type FamilyRoute, jsonBody, objectBody } from './family.js';
import { fieldsOf, type JsonSchema } from './route-doc.js';
import { wukongimDocs } from './wukongim-docs.js';

/**
 * WuKongIM's admin API (seeds 000 and 001): `POST /user/device_quit`, `POST /conn/remove`,
 * `POST /conn/kick`, and who is online, `POST /user/onlinestatus`.
 */
export interface WukongimOptions {
  /** Compared in constant time with the `token` header of every call. */
  managerToken?: string;
  /**
   * Mount without a manager token: anyone who reaches the routes can kick. Only for a demo bound to
   * loopback; a warning is printed.
   */
  allowUnauthenticated?: boolean;
  /**
   * Reproduce the WuKongIM server's wire behaviour instead of its documentation: success answers
   * `{"status":200}`, unknown users and connections answer success too, and a missing `device_flag`
   * means 0 (app).
   */
  compat?: boolean;
  /**
   * Failed authentications (missing or wrong `token`) a client (remote address) may make per minute,
   * counted in the store (shared by the cluster); beyond it every call of that client answers 429
   * until the minute is over. Default 10.
   */
  maxFailedAuthPerMinute?: number;
  /**
   * How long `POST /user/token` with `device_level` 1 (master) gives the device's other connections
   * between being told and being closed. Default 10 000, WuKongIM's.
   */
  masterKickGraceMs?: number;
}

export function parseWukongimOptions(options: WukongimOptions | undefined): WukongimOptions {
  const o = options ?? {};
  if (o.managerToken !== undefined && (typeof o.managerToken !== 'string' || o.managerToken.length === 0)) {
    throw new TypeError('evict: wukongim.managerToken must be a non-empty string');
  }
  // A header value reaches Node as Latin-1 and loses its outer spaces: a token of other characters
  // could never match what a client sends, and every call would be refused (and rate-limited).
  if (o.managerToken !== undefined && !/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(o.managerToken)) {
    throw new TypeError(
      'evict: wukongim.managerToken must be printable ASCII without leading or trailing spaces ' +
        '(it travels in the `token` header, which carries nothing else reliably)',
    );
  }
  if (o.managerToken === undefined && o.allowUnauthenticated !== true) {
    throw new TypeError(
      'evict: the wukongim routes refuse to mount without wukongim.managerToken; ' +
        'set wukongim.allowUnauthenticated: true to opt out explicitly (demo on loopback only)',
    );
  }
  if (o.managerToken === undefined) {
    process.emitWarning(
      'evict: the wukongim admin routes are mounted WITHOUT authentication (allowUnauthenticated)',
      {
        code: 'EVICT_UNAUTHENTICATED_ADMIN',
      },
    );
  }
  if (o.maxFailedAuthPerMinute !== undefined && !isPositiveSafeInteger(o.maxFailedAuthPerMinute)) {
    throw new TypeError('evict: wukongim.maxFailedAuthPerMinute must be a positive integer');
  }
  if (
    o.masterKickGraceMs !== undefined &&
    !(Number.isSafeInteger(o.masterKickGraceMs) && o.masterKickGraceMs >= 0)
  ) {
    throw new TypeError('evict: wukongim.masterKickGraceMs must be a non-negative integer of milliseconds');
  }
  return o;
}

/**
 * `/user/onlinestatus` answers a row per live connection, as WuKongIM does, but at most this many
 * per user: a user holding 100,000 connections must not make a 3 MB answer.
 */
export const MAX_ONLINE_ROWS_PER_USER = 100;

/** `/connz` answers at most this many connections a page. */
const MAX_CONNZ_LIMIT = 1_000;

type Listed = { connId: number; nodeId: number; connectedAtMs: number };
/** The orders `/connz` takes (WuKongIM's names); evict knows no message counters to sort by. */
const CONNZ_SORTS: Readonly<Record<string, (a: Listed, b: Listed) => number>> = {
  id: (a, b) => a.connId - b.connId || a.nodeId - b.nodeId,
  idDesc: (a, b) => b.connId - a.connId || b.nodeId - a.nodeId,
  // WuKongIM sorts by the time a connection started: `uptime` puts the oldest first.
  uptime: (a, b) => a.connectedAtMs - b.connectedAtMs || a.connId - b.connId,
  uptimeDesc: (a, b) => b.connectedAtMs - a.connectedAtMs || a.connId - b.connId,
};

/** A duration as WuKongIM's `myUptime` writes it: `1y2d3h4m5s`, leading zero units left out. */
export function wukongimUptime(ms: number): string {
  const secs = Math.max(0, Math.floor(ms / 1000));
  const mins = Math.floor(secs / 60);
  const hrs = Math.floor(mins / 60);
  const days = Math.floor(hrs / 24);
  const yrs = Math.floor(days / 365);
  if (yrs > 0) return `${yrs}y${days % 365}d${hrs % 24}h${mins % 60}m${secs % 60}s`;
  if (days > 0) return `${days}d${hrs % 24}h${mins % 60}m${secs % 60}s`;
  if (hrs > 0) return `${hrs}h${mins % 60}m${secs % 60}s`;
  if (mins > 0) return `${mins}m${secs % 60}s`;
  return `${secs}s`;
}

/**
 * A device flag as WuKongIM's connz writes it (`device()`, internal/api/connz.go): `App`, `Web`,
 * `PC` or `未知`, with the connection's device level in brackets: `主` for a master, `从` for a
 * slave, which is what WuKongIM gives a connection whose token carried no level
 * (internal/user/handler/event_connect.go: "默认都是slave设备").
 */
function wukongimDevice(deviceFlag: number, level: DeviceLevel | undefined): string {
  const name = ({ 0: 'App', 1: 'Web', 2: 'PC' } as Record<number, string>)[deviceFlag] ?? '未知';
  return `${name}(${level === 'master' ? '主' : '从'})`;
}

export function wukongimFamily(engine: Evict, rawOptions: WukongimOptions | undefined): Family {
  const options = parseWukongimOptions(rawOptions);
  const ok = (): EvictResponse => jsonResponse(200, options.compat ? { status: 200 } : { status: 'ok' });
  const fail = (status: number, msg: string): EvictResponse => jsonResponse(status, { msg, status });
  const notFound = (msg: string): EvictResponse => (options.compat ? ok() : fail(404, msg));

  const limiter = authFailureLimiter(engine, 'wukongim', options.maxFailedAuthPerMinute ?? 10);
  const docs = wukongimDocs(options, {
    maxRowsPerUser: MAX_ONLINE_ROWS_PER_USER,
    maxConnzLimit: MAX_CONNZ_LIMIT,
    connzSorts: Object.keys(CONNZ_SORTS),
  });
  /** The fields a route's body may hold: its documented schema's. */
  const fields = (path: string) => fieldsOf(docs[path]!.body!.schema as JsonSchema);

  /** Undefined when the caller carries the manager token, else the answer to send. */
  const authenticate = async (request: EvictRequest): Promise<EvictResponse | undefined> => {
    const { managerToken } = options;
    if (managerToken === undefined) return undefined;
    const client = clientOf(request);
    // Checked before the token: a right guess of a locked-out client answers the same as a wrong one.
    if (limiter.locked(client)) return fail(429, 'too many failed attempts');
    const given = headerValue(request.headers, 'token');
    if (given !== undefined && secretsEqual(given, managerToken)) return undefined;
    try {
      if (await limiter.fail(client)) return fail(429, 'too many failed attempts');
    } catch {
      // Not 401: a wrong token must not answer differently from a right one while the store is down.
      return fail(500, 'internal server error');
    }
    return emptyResponse(401);
  };

  const failure = (error: unknown): EvictResponse => {
    if (isEvictError(error, 'EVICT_UNKNOWN_USER')) return notFound('user does not exist');
    if (isEvictError(error, 'EVICT_DEVICE_NOT_FOUND')) return notFound('device is not connected');
    if (isEvictError(error, 'EVICT_CONNECTION_NOT_FOUND')) return notFound('connection does not exist');
    return fail(500, 'internal server error');
  };

  const context = (endpoint: string): RevocationContext => ({
    actor: { type: 'manager' },
    endpoint,
    family: 'wukongim',
  });

  /**
   * `/conn/remove` and `/conn/kick`: the same body and answers; remove closes at once and silently,
   * kick tells the client first and closes it after the engine's grace period.
   */
  const connectionRoute = (
    path: string,
    close: (input: { uid: string; connId: number; nodeId?: number }, endpoint: string) => Promise<unknown>,
  ): FamilyRoute => ({
    method: 'POST',
    path,
    doc: docs[path]!,
    async handle(request) {
      const refused = await authenticate(request);
      if (refused !== undefined) return refused;
      const body = objectBody(await request.readBody(), fields(path));
      if (!body.ok) return fail(400, body.message);
      const { uid, conn_id: connId, node_id: nodeId } = body.fields;
      const uidIssue = uidProblem(uid);
      if (uidIssue !== undefined) return fail(400, `uid ${uidIssue}`);
      if (connId === undefined) return fail(400, 'conn_id is required');
      if (!isPositiveSafeInteger(connId)) return fail(400, 'conn_id must be a positive integer');
      if (nodeId !== undefined && !isPositiveSafeInteger(nodeId))
        return fail(400, 'node_id must be a positive integer');
      try {
        await close(
          { uid: uid as string, connId, ...(nodeId === undefined ? {} : { nodeId }) },
          `POST ${path}`,
        );
        return ok();
      } catch (error) {
        return failure(error);
      }
    },
  });

  /**
   * `GET /connz?uid=&node_id=&offset=&limit=&sort=`: a user's live connections on every node (or on
   * `node_id`), a page at a time, in the shape of WuKongIM's connz handler, with the fields evict
   * knows (docs/families.md lists those it leaves out).
   */
  async function connz(request: EvictRequest): Promise<EvictResponse> {
    const refused = await authenticate(request);
    if (refused !== undefined) return refused;
    const { query } = request;
    const uid = query.get('uid');
    if (uid === null || uid === '') return fail(400, 'uid is required');
    const uidIssue = uidProblem(uid);
    if (uidIssue !== undefined) return fail(400, `uid ${uidIssue}`);
    const integer = (name: string, fallback: number, min: number, max: number): number | string => {
      const raw = query.get(name);
      if (raw === null || raw === '') return fallback;
      if (!/^\d{1,10}$/.test(raw) || Number(raw) < min || Number(raw) > max)
        return `${name} must be an integer from ${min} to ${max}`;
      return Number(raw);
    };
    const offset = integer('offset', 0, 0, 1_000_000);
    if (typeof offset === 'string') return fail(400, offset);
    const limit = integer('limit', 20, 1, MAX_CONNZ_LIMIT);
    if (typeof limit === 'string') return fail(400, limit);
    const nodeId = integer('node_id', 0, 0, Number.MAX_SAFE_INTEGER);
    if (typeof nodeId === 'string') return fail(400, nodeId);
    const sort = query.get('sort') ?? 'id';
    const order = CONNZ_SORTS[sort];
    if (order === undefined) return fail(400, `sort must be one of ${Object.keys(CONNZ_SORTS).join(', ')}`);
    try {
      const nowMs = engine.clock.nowMs();
      const all = (await engine.listConnections(uid)).filter((c) => nodeId === 0 || c.nodeId === nodeId);
      const page = all.sort(order).slice(offset, offset + limit);
      // A connection's level is its session's, set by `/user/token` as WuKongIM reads it from the
      // token's device at connect: read once for the page, and only when a connection has a session.
      const levels = new Map<string, DeviceLevel>();
      if (page.some((c) => c.sessionId !== undefined)) {
        for (const session of await engine.listSessions(uid))
          if (session.deviceLevel !== undefined) levels.set(session.sessionId, session.deviceLevel);
      }
      return jsonResponse(200, {
        // In ConnInfo's order; an address or device id not registered is Go's zero value, as there.
        connections: page.map((c) => ({
          id: c.connId,
          uid: c.uid,
          ip: c.ip ?? '',
          port: c.port ?? 0,
          uptime: wukongimUptime(nowMs - c.connectedAtMs),
          device: wukongimDevice(
            c.deviceFlag,
            c.sessionId === undefined ? undefined : levels.get(c.sessionId),
          ),
          device_id: c.deviceId ?? '',
          proxy_type_format: c.nodeId === engine.nodeId ? '本地连接' : `源节点：${c.nodeId}`,
          node_id: c.nodeId,
        })),
        now: new Date(nowMs).toISOString(),
        total: all.length,
        offset,
        limit,
      });
    } catch (error) {
      return failure(error);
    }
  }

  return {
    name: 'wukongim',
    routes: [
      {
        method: 'POST',
        path: '/user/device_quit',
        doc: docs['/user/device_quit']!,
        async handle(request) {
          const refused = await authenticate(request);
          if (refused !== undefined) return refused;
          const body = objectBody(await request.readBody(), fields('/user/device_quit'));
          if (!body.ok) return fail(400, body.message);
          const { uid, device_flag: deviceFlag } = body.fields;
          const uidIssue = uidProblem(uid);
          if (uidIssue !== undefined) return fail(400, `uid ${uidIssue}`);
          let scope: number | 'all';
          if (deviceFlag === undefined) scope = options.compat ? 0 : 'all';
          else if (deviceFlag === -1) scope = 'all';
          else if (isDeviceFlag(deviceFlag)) scope = deviceFlag;
          else
            return fail(
              400,
              `device_flag must be -1 (all devices) or an integer from 0 to ${MAX_DEVICE_FLAG}`,
            );
          try {
            await engine.quitDevice(uid as string, scope, context('POST /user/device_quit'));
            return ok();
          } catch (error) {
            return failure(error);
          }
        },
      },
      {
        method: 'POST',
        path: '/user/token',
        doc: docs['/user/token']!,
        async handle(request) {
          const refused = await authenticate(request);
          if (refused !== undefined) return refused;
          const body = objectBody(await request.readBody(), fields('/user/token'));
          if (!body.ok) return fail(400, body.message);
          const { uid, token, device_flag: deviceFlag = 0, device_level: level = 0 } = body.fields;
          const uidIssue = uidProblem(uid);
          if (uidIssue !== undefined) return fail(400, `uid ${uidIssue}`);
          if (!isTokenString(token))
            return fail(400, `token must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`);
          if (!isDeviceFlag(deviceFlag))
            return fail(400, `device_flag must be an integer from 0 to ${MAX_DEVICE_FLAG}`);
          if (level !== 0 && level !== 1) return fail(400, 'device_level must be 0 (slave) or 1 (master)');
          try {
            await engine.setDeviceToken(
              {
                uid: uid as string,
                deviceFlag,
                token,
                level: level === 1 ? 'master' : 'slave',
                graceMs: options.masterKickGraceMs ?? 10_000,
              },
              context('POST /user/token'),
            );
            return ok();
          } catch (error) {
            return failure(error);
          }
        },
      },
      {
        method: 'POST',
        path: '/user/onlinestatus',
        doc: docs['/user/onlinestatus']!,
        async handle(request) {
          const refused = await authenticate(request);
          if (refused !== undefined) return refused;
          const body = jsonBody(await request.readBody());
          if (!body.ok) return fail(400, body.message);
          const problem = uidListProblem(body.value, MAX_PRESENCE_UIDS);
          if (problem !== undefined) return fail(400, `the body ${problem}`);
          const uids = body.value as string[];
          // What the server answers to an empty list.
          if (uids.length === 0) return jsonResponse(200, options.compat ? { status: 200 } : []);
          try {
            const rows: { uid: string; device_flag: number; online: 1 }[] = [];
            for (const user of await engine.presence(uids)) {
              let left = MAX_ONLINE_ROWS_PER_USER;
              for (const { deviceFlag, connections } of user.devices) {
                for (let i = 0; i < connections && left > 0; i += 1, left -= 1)
                  rows.push({ uid: user.uid, device_flag: deviceFlag, online: 1 });
              }
            }
            return jsonResponse(200, rows);
          } catch (error) {
            return failure(error);
          }
        },
      },
      { method: 'GET', path: '/connz', doc: docs['/connz']!, handle: connz },
      connectionRoute('/conn/remove', (input, endpoint) => engine.removeConnection(input, context(endpoint))),
      connectionRoute('/conn/kick', (input, endpoint) => engine.kickConnection(input, context(endpoint))),
    ],
  };
}

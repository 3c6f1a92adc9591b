import type { Evict, RevocationContext } from '../engine.js';
import { isEvictError } from '../errors.js';
import {
  type EvictRequest,
  type EvictResponse,
  emptyResponse,
  headerValue,
  jsonResponse,
} from '../http/types.js';
import { secretsEqual } from '../secrets.js';
import { isDeviceFlag, isPositiveSafeInteger, MAX_DEVICE_FLAG, uidProblem } from '../validation.js';
import { type Family, objectBody } from './family.js';

/** WuKongIM's admin API (seeds 000 and 001): `POST /user/device_quit`, `POST /conn/remove`. */
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
}

export function parseWukongimOptions(options: WukongimOptions | undefined): WukongimOptions {
  const o = options ?? {};
  if (o.managerToken !== undefined && (typeof o.managerToken !== 'string' || o.managerToken.length === 0)) {
    throw new TypeError('evict: wukongim.managerToken must be a non-empty string');
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
  return o;
}

const DEVICE_QUIT_FIELDS = ['uid', 'device_flag'] as const;
const CONN_REMOVE_FIELDS = ['uid', 'conn_id', 'node_id'] as const;

export function wukongimFamily(engine: Evict, rawOptions: WukongimOptions | undefined): Family {
  const options = parseWukongimOptions(rawOptions);
  const ok = (): EvictResponse => jsonResponse(200, options.compat ? { status: 200 } : { status: 'ok' });
  const fail = (status: number, msg: string): EvictResponse => jsonResponse(status, { msg, status });
  const notFound = (msg: string): EvictResponse => (options.compat ? ok() : fail(404, msg));

  const authenticated = (request: EvictRequest): boolean => {
    if (options.managerToken === undefined) return true;
    const given = headerValue(request.headers, 'token');
    return given !== undefined && secretsEqual(given, options.managerToken);
  };

  const failure = (error: unknown): EvictResponse => {
    if (isEvictError(error, 'EVICT_UNKNOWN_USER')) return notFound('user does not exist');
    if (isEvictError(error, 'EVICT_DEVICE_NOT_FOUND')) return notFound('device is not connected');
    if (isEvictError(error, 'EVICT_CONNECTION_NOT_FOUND')) return notFound('connection does not exist');
    return fail(500, 'internal server error');
  };

  const context = (endpoint: string): RevocationContext => ({ actor: { type: 'manager' }, endpoint });

  return {
    name: 'wukongim',
    routes: [
      {
        method: 'POST',
        path: '/user/device_quit',
        async handle(request) {
          if (!authenticated(request)) return emptyResponse(401);
          const body = objectBody(await request.readBody(), DEVICE_QUIT_FIELDS);
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
        path: '/conn/remove',
        async handle(request) {
          if (!authenticated(request)) return emptyResponse(401);
          const body = objectBody(await request.readBody(), CONN_REMOVE_FIELDS);
          if (!body.ok) return fail(400, body.message);
          const { uid, conn_id: connId, node_id: nodeId } = body.fields;
          const uidIssue = uidProblem(uid);
          if (uidIssue !== undefined) return fail(400, `uid ${uidIssue}`);
          if (connId === undefined) return fail(400, 'conn_id is required');
          if (!isPositiveSafeInteger(connId)) return fail(400, 'conn_id must be a positive integer');
          if (nodeId !== undefined && !isPositiveSafeInteger(nodeId))
            return fail(400, 'node_id must be a positive integer');
          try {
            await engine.removeConnection(
              { uid: uid as string, connId, ...(nodeId === undefined ? {} : { nodeId }) },
              context('POST /conn/remove'),
            );
            return ok();
          } catch (error) {
            return failure(error);
          }
        },
      },
    ],
  };
}

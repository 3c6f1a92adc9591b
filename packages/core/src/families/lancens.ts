import type { Evict } from '../engine/evict.js';
import { isEvictError } from '../errors.js';
import { type EvictRequest, type EvictResponse, headerValue, jsonResponse } from '../http/types.js';
import type { PushTokenKind } from '../model.js';
import { isTokenString, MAX_TOKEN_LENGTH, uidProblem } from '../validation.js';
import { type Family, objectBody } from './family.js';

/** Lancens' logout API (seed 002). Its callers authenticate with their own login token. */
// biome-ignore lint/complexity/noBannedTypes: no options yet; the object keeps room for them.
export type LancensOptions = {};

const LOGOUT_FIELDS = ['username', 'token'] as const;

const ok = (): EvictResponse => jsonResponse(200, { status: 'ok' });
const fail = (status: number, error: string | number): EvictResponse => jsonResponse(status, { error });

/** The seed's answers to a failure: `invalid token` for a dead session, 10001 for a store failure. */
function failure(error: unknown): EvictResponse {
  if (isEvictError(error, 'EVICT_INVALID_TOKEN')) return fail(401, 'invalid token');
  if (isEvictError(error, 'EVICT_STORE_CORRUPT')) return fail(500, 'no data error');
  return fail(500, 10001);
}

function tokenFromHeader(request: EvictRequest): string | undefined {
  const token = headerValue(request.headers, 'token');
  return token === undefined || token === '' ? undefined : token;
}

function clearPushTokenRoute(engine: Evict, path: string, kind: PushTokenKind) {
  const endpoint = `DELETE /v1/api${path}`;
  return {
    method: 'DELETE' as const,
    path: `/v1/api${path}`,
    async handle(request: EvictRequest): Promise<EvictResponse> {
      const token = tokenFromHeader(request);
      if (token === undefined) return fail(401, 'no token');
      if (token.length > MAX_TOKEN_LENGTH) return fail(401, 'invalid token');
      try {
        await engine.clearPushToken(token, kind, { endpoint });
        return ok();
      } catch (error) {
        return failure(error);
      }
    },
  };
}

export function lancensFamily(engine: Evict, _options: LancensOptions | undefined): Family {
  return {
    name: 'lancens',
    routes: [
      {
        method: 'POST' as const,
        path: '/v1/api/user/logout',
        async handle(request: EvictRequest): Promise<EvictResponse> {
          const body = objectBody(await request.readBody(), LOGOUT_FIELDS);
          if (!body.ok) return fail(400, 'paramer error');
          const { username, token } = body.fields;
          if (username === undefined) return fail(400, 'undefined username');
          if (typeof username !== 'string') return fail(400, 'username format error');
          const length = [...username].length;
          if (length < 6 || length > 32) return fail(400, 'username length error');
          if (uidProblem(username) !== undefined) return fail(400, 'username format error');
          if (token === undefined) return fail(400, 'undefined token');
          if (!isTokenString(token)) {
            return fail(400, 'token format error');
          }
          try {
            await engine.logout(token, {
              uid: username,
              actor: { type: 'user', id: username },
              endpoint: 'POST /v1/api/user/logout',
            });
            return ok();
          } catch (error) {
            return failure(error);
          }
        },
      },
      clearPushTokenRoute(engine, '/user/token', 'ring'),
      clearPushTokenRoute(engine, '/user/message/token', 'message'),
    ],
  };
}

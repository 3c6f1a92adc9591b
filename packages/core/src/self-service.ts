import type { Evict } from './engine/evict.js';
import { isEvictError, isStoreFailure } from './errors.js';
import { guardRejection, sessionTokenOf } from './guard.js';
import { type EvictRequest, type EvictResponse, jsonResponse } from './http/types.js';
import { hashToken, sessionIdOf } from './secrets.js';

/** A session's public id as `sessionIdOf` makes it. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const PREFIX = '/sessions/';

/** The routes the signed-in user manages their own sessions with (`AdminApiOptions.sessions`). */
export const SELF_SERVICE_ROUTES = [
  { method: 'GET', path: '/sessions' },
  { method: 'DELETE', path: '/sessions/:id' },
  { method: 'POST', path: '/sessions/revoke-others' },
] as const;

type Route = 'list' | 'revoke' | 'others';

function routeOf(request: EvictRequest): { route: Route; id?: string } | undefined {
  const method = request.method.toUpperCase();
  const { path } = request;
  if (method === 'GET' && path === '/sessions') return { route: 'list' };
  if (method === 'POST' && path === '/sessions/revoke-others') return { route: 'others' };
  if (method === 'DELETE' && path.startsWith(PREFIX) && !path.includes('/', PREFIX.length))
    return { route: 'revoke', id: path.slice(PREFIX.length) };
  return undefined;
}

const error = (status: number, code: string, message: string) =>
  jsonResponse(status, { error: code, message });

/**
 * `GET /sessions`, `DELETE /sessions/:id`, `POST /sessions/revoke-others` for the user whose session
 * token the request carries (the guard's rule: `token` header or `Authorization: Bearer`; a kicked,
 * logged-out or unknown one answers as the guard does). Undefined for any other request.
 */
export async function handleSelfService(
  engine: Evict,
  request: EvictRequest,
): Promise<EvictResponse | undefined> {
  const matched = routeOf(request);
  if (matched === undefined) return undefined;
  const token = sessionTokenOf(request, false);
  if (token === undefined) {
    return guardRejection(
      'unknown',
      'no credential: send a session token in the `token` header or `Authorization: Bearer`',
    ).response;
  }
  const verdict = await engine.check({ type: 'session', token });
  if (!verdict.ok) return guardRejection(verdict.reason).response;
  const { uid } = verdict;
  const endpoint =
    matched.route === 'revoke' ? 'DELETE /sessions/:id' : `${request.method.toUpperCase()} ${request.path}`;
  const context = { actor: { type: 'user' as const, id: uid }, endpoint };
  try {
    switch (matched.route) {
      case 'list': {
        const current = sessionIdOf(hashToken(token));
        const sessions = await engine.listSessions(uid);
        return jsonResponse(200, {
          sessions: sessions.map((s) => ({
            id: s.sessionId,
            device_flag: s.deviceFlag,
            device_id: s.deviceId ?? null,
            user_agent: s.userAgent ?? null,
            ip: s.ip ?? null,
            label: s.label ?? null,
            created_at: s.issuedAtMs,
            expires_at: s.expiresAtMs,
            last_seen_at: s.lastSeenAtMs ?? null,
            current: s.sessionId === current,
          })),
        });
      }
      case 'revoke': {
        const id = matched.id!;
        if (!SESSION_ID.test(id))
          return error(400, 'bad_request', 'a session id is 22 characters of A-Z, a-z, 0-9, _ and -');
        await engine.revokeSession({ uid, sessionId: id }, context);
        return jsonResponse(200, { status: 'ok' });
      }
      case 'others': {
        const { revoked } = await engine.revokeOtherSessions(token, context);
        return jsonResponse(200, { status: 'ok', revoked });
      }
    }
  } catch (caught) {
    // Another user's session is not found either: no way to learn which ids exist.
    if (isEvictError(caught, 'EVICT_SESSION_NOT_FOUND')) return error(404, 'not_found', 'no such session');
    // Logged out between the check and the call.
    if (isEvictError(caught, 'EVICT_INVALID_TOKEN')) return guardRejection('logged_out').response;
    if (isStoreFailure(caught)) return guardRejection('unavailable').response;
    return error(500, 'internal', 'internal server error');
  }
}

import type { Evict } from './engine/evict.js';
import type { SessionInfo } from './engine/types.js';
import { isEvictError, isStoreFailure } from './errors.js';
import { type JsonSchema, type ResponseDoc, type RouteDoc, statusOkSchema } from './families/route-doc.js';
import { GUARD_REJECTION_SCHEMA, guardRejection, sessionTokenOf } from './guard.js';
import { type EvictRequest, type EvictResponse, jsonResponse } from './http/types.js';
import { hashToken, sessionIdOf } from './secrets.js';

const SELF_SERVICE_ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
};

/** A session's public id as `sessionIdOf` makes it. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const PREFIX = '/sessions/';

const SECURITY = ['sessionToken', 'sessionBearer'] as const;
const REJECTED: Record<string, ResponseDoc> = {
  '401': {
    description:
      'No session token, or one that is not live (kicked, logged out, replaced, expired, unknown).',
    schema: GUARD_REJECTION_SCHEMA,
    example: { error: 'unauthorized', reason: 'kicked', message: 'the user was kicked; log in again' },
  },
  '503': {
    description: 'The store is unavailable; nothing changed (retry).',
    schema: GUARD_REJECTION_SCHEMA,
    example: {
      error: 'unauthorized',
      reason: 'unavailable',
      message: 'the session store is unavailable; try again later',
    },
  },
};
const nullable = (type: string, description: string): JsonSchema => ({ type: [type, 'null'], description });

/** A session as the JSON routes show it (the self-service list, the console): snake case, absent details null. */
export function sessionJson(s: SessionInfo) {
  return {
    id: s.sessionId,
    device_flag: s.deviceFlag,
    device_id: s.deviceId ?? null,
    user_agent: s.userAgent ?? null,
    ip: s.ip ?? null,
    label: s.label ?? null,
    created_at: s.issuedAtMs,
    expires_at: s.expiresAtMs,
    last_seen_at: s.lastSeenAtMs ?? null,
  };
}

/** The routes the signed-in user manages their own sessions with (`AdminApiOptions.sessions`). */
export const SELF_SERVICE_ROUTES: readonly {
  method: 'GET' | 'DELETE' | 'POST';
  path: string;
  doc: RouteDoc;
}[] = [
  {
    method: 'GET',
    path: '/sessions',
    doc: {
      summary: 'The caller’s sessions',
      description: 'Every live session of the signed-in user, the calling one marked `current`.',
      security: SECURITY,
      responses: {
        '200': {
          description: 'The sessions, newest first.',
          schema: {
            type: 'object',
            properties: {
              sessions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string', pattern: SESSION_ID.source },
                    device_flag: { type: 'integer' },
                    device_id: nullable('string', 'As given at sign-in.'),
                    user_agent: nullable('string', 'As given at sign-in.'),
                    ip: nullable('string', 'As given at sign-in.'),
                    label: nullable('string', 'As given at sign-in.'),
                    created_at: { type: 'integer', description: 'Milliseconds since the epoch.' },
                    expires_at: { type: 'integer', description: 'Milliseconds since the epoch.' },
                    last_seen_at: nullable('integer', 'Milliseconds since the epoch, when last-seen is on.'),
                    current: { type: 'boolean' },
                  },
                  required: [
                    'id',
                    'device_flag',
                    'device_id',
                    'user_agent',
                    'ip',
                    'label',
                    'created_at',
                    'expires_at',
                    'last_seen_at',
                    'current',
                  ],
                },
              },
            },
            required: ['sessions'],
          },
        },
        ...REJECTED,
      },
    },
  },
  {
    method: 'DELETE',
    path: '/sessions/:id',
    doc: {
      summary: 'Revoke one of the caller’s sessions',
      description: 'Revokes the session and closes its connections on every node.',
      security: SECURITY,
      parameters: [
        {
          name: 'id',
          in: 'path',
          required: true,
          description: 'The session’s id, as `GET /sessions` lists it.',
          schema: { type: 'string', pattern: SESSION_ID.source },
        },
      ],
      responses: {
        '200': { description: 'Revoked.', schema: statusOkSchema, example: { status: 'ok' } },
        '400': {
          description: 'Not a session id.',
          schema: SELF_SERVICE_ERROR_SCHEMA,
          example: {
            error: 'bad_request',
            message: 'a session id is 22 characters of A-Z, a-z, 0-9, _ and -',
          },
        },
        ...REJECTED,
        '404': {
          description: 'No such session of the caller’s (another user’s is not found either).',
          schema: SELF_SERVICE_ERROR_SCHEMA,
          example: { error: 'not_found', message: 'no such session' },
        },
      },
    },
  },
  {
    method: 'POST',
    path: '/sessions/revoke-others',
    doc: {
      summary: 'Sign out everywhere else',
      description: 'Revokes every session of the caller’s but the calling one.',
      security: SECURITY,
      responses: {
        '200': {
          description: 'Done, with how many were revoked.',
          schema: {
            type: 'object',
            properties: { status: { const: 'ok' }, revoked: { type: 'integer', minimum: 0 } },
            required: ['status', 'revoked'],
          },
          example: { status: 'ok', revoked: 2 },
        },
        ...REJECTED,
      },
    },
  },
];

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
  const context = { actor: { type: 'user' as const, id: uid }, endpoint, family: 'sessions' };
  try {
    switch (matched.route) {
      case 'list': {
        const current = sessionIdOf(hashToken(token));
        const sessions = await engine.listSessions(uid);
        return jsonResponse(200, {
          sessions: sessions.map((s) => ({ ...sessionJson(s), current: s.sessionId === current })),
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

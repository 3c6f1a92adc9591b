import type { Evict } from '../engine/evict.js';
import { isEvictError } from '../errors.js';
import { type EvictRequest, type EvictResponse, headerValue, jsonResponse } from '../http/types.js';
import type { PushTokenKind } from '../model.js';
import { isTokenString, MAX_TOKEN_LENGTH, uidProblem } from '../validation.js';
import { type Family, type FamilyRoute, objectBody } from './family.js';
import { fieldsOf, objectSchema, type ResponseDoc, statusOkSchema, tokenSchema } from './route-doc.js';

/** Lancens' logout API (seed 002). Its callers authenticate with their own login token. */
// biome-ignore lint/complexity/noBannedTypes: no options yet; the object keeps room for them.
export type LancensOptions = {};

const LOGOUT_SCHEMA = objectSchema(
  {
    username: {
      type: 'string',
      minLength: 6,
      maxLength: 32,
      description: 'The user id: 6 to 32 characters, no control characters.',
    },
    token: tokenSchema('The login token to sign out.'),
  },
  ['username', 'token'],
);

const errorDoc = (description: string, example: string | number): ResponseDoc => ({
  description,
  schema: {
    type: 'object',
    properties: { error: { type: ['string', 'integer'] } },
    required: ['error'],
  },
  example: { error: example },
});
const OK_DOC: ResponseDoc = { description: 'Done.', schema: statusOkSchema, example: { status: 'ok' } };
const STORE_FAILURE_DOC = errorDoc(
  'The store failed (`10001`) or holds a record it cannot read (`no data error`); nothing changed.',
  10001,
);

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

function clearPushTokenRoute(engine: Evict, path: string, kind: PushTokenKind): FamilyRoute {
  const endpoint = `DELETE /v1/api${path}`;
  return {
    method: 'DELETE' as const,
    path: `/v1/api${path}`,
    doc: {
      summary:
        kind === 'ring' ? 'Clear the caller’s ring push token' : 'Clear the caller’s message push token',
      description: `Forgets the ${kind} push token registered with the caller’s session, so pushes stop reaching the device.`,
      security: ['lancensLoginToken'],
      responses: {
        '200': OK_DOC,
        '401': errorDoc(
          'No `token` header (`no token`), or a token that is not a live session.',
          'invalid token',
        ),
        '500': STORE_FAILURE_DOC,
      },
    },
    async handle(request: EvictRequest): Promise<EvictResponse> {
      const token = tokenFromHeader(request);
      if (token === undefined) return fail(401, 'no token');
      if (token.length > MAX_TOKEN_LENGTH) return fail(401, 'invalid token');
      try {
        await engine.clearPushToken(token, kind, { endpoint, family: 'lancens' });
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
        doc: {
          summary: 'Log a session out',
          description:
            'Revokes the login token (the caller’s own: it authenticates the call) and closes its connections on every node.',
          body: { schema: LOGOUT_SCHEMA, example: { username: 'alice01', token: 'the-login-token' } },
          responses: {
            '200': OK_DOC,
            '400': errorDoc(
              'Bad input: `paramer error`, `undefined username`, `username format error`, `username length error`, `undefined token` or `token format error`. Nothing changed.',
              'username length error',
            ),
            '401': errorDoc('The token is not a live session of this user.', 'invalid token'),
            '500': STORE_FAILURE_DOC,
          },
        },
        async handle(request: EvictRequest): Promise<EvictResponse> {
          const body = objectBody(await request.readBody(), fieldsOf(LOGOUT_SCHEMA));
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
              family: 'lancens',
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

import type { Evict } from '../engine/evict.js';
import type { RevocationContext } from '../engine/types.js';
import { isEvictError, isStoreFailure } from '../errors.js';
import { authFailureLimiter, clientOf } from '../families/auth-limiter.js';
import type { FamilyRoute } from '../families/family.js';
import { objectBody } from '../families/family.js';
import {
  deviceFlagSchema,
  objectSchema,
  positiveIdSchema,
  type RouteDoc,
  uidSchema,
} from '../families/route-doc.js';
import { type EvictRequest, type EvictResponse, headerValue, jsonResponse } from '../http/types.js';
import { secretsEqual } from '../secrets.js';
import { sessionJson } from '../self-service.js';
import { isDeviceFlag, isPositiveSafeInteger, uidProblem } from '../validation.js';
import { CONSOLE_PAGE } from './console-page.js';

export interface ConsoleOptions {
  /** Where the page is served; its JSON API is below `<path>/api`. Default `/console`. */
  path?: string;
  /**
   * Who may use it: true to let the request in. Default: the WuKongIM manager token in the `token`
   * header (the page asks for it), when the WuKongIM family is mounted with one.
   */
  authorize?: (request: EvictRequest) => boolean | Promise<boolean>;
  /** Serve it to anyone who reaches it (a demo on loopback only). */
  allowUnauthenticated?: boolean;
  /** How often the event stream sends a comment, so that proxies keep it open. Default 15 000. */
  keepAliveMs?: number;
}

const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * The admin console: one page (no CDN, no framework) and the JSON API it calls, to look a user up
 * (sessions, live connections per node, push tokens) and revoke what is there. The page follows
 * `events`, a server-sent event stream fed by the engine's events: a `change` whenever a
 * revocation, a new connection or the end of one of the user happens on this node.
 */
export function consoleRoutes(
  engine: Evict,
  options: ConsoleOptions,
  managerToken: string | undefined,
): FamilyRoute[] {
  const { path = '/console', authorize, allowUnauthenticated = false, keepAliveMs = 15_000 } = options;
  if (typeof path !== 'string' || !path.startsWith('/') || path.endsWith('/'))
    throw new TypeError('evict: console.path must be a path that starts with "/" and does not end with one');
  if (authorize === undefined && managerToken === undefined && allowUnauthenticated !== true) {
    throw new TypeError(
      'evict: the console refuses to mount without authentication: mount the WuKongIM family with a ' +
        'managerToken, or give console.authorize, or set console.allowUnauthenticated: true (loopback demo only)',
    );
  }
  const fail = (status: number, error: string, message: string) => jsonResponse(status, { error, message });
  // Wrong manager tokens count per client as on the WuKongIM routes: a guess a minute is all a
  // client gets past the limit.
  const limiter = authFailureLimiter(engine, 'console', 10);
  /** Undefined when the caller may use the console, else the answer to send. */
  const refusal = async (request: EvictRequest): Promise<EvictResponse | undefined> => {
    if (authorize !== undefined)
      return (await authorize(request)) === true ? undefined : fail(401, 'unauthorized', 'not allowed');
    if (managerToken === undefined) return undefined;
    const client = clientOf(request);
    if (limiter.locked(client)) return fail(429, 'too_many_attempts', 'too many failed attempts');
    const given = headerValue(request.headers, 'token');
    if (given !== undefined && secretsEqual(given, managerToken)) return undefined;
    try {
      if (await limiter.fail(client)) return fail(429, 'too_many_attempts', 'too many failed attempts');
    } catch {
      return fail(503, 'unavailable', 'the store is unavailable; try again');
    }
    return fail(401, 'unauthorized', 'send the manager token in the `token` header');
  };
  const context = (endpoint: string): RevocationContext => ({
    actor: { type: 'manager' },
    endpoint,
    family: 'console',
  });

  const security =
    authorize === undefined && managerToken !== undefined ? ['wukongimManagerToken' as const] : [];
  /**
   * An API route: authenticated, its input (the query of a GET, the body of a POST, of `fields`
   * only) checked, its failures answered alike. Its docs are made of the same `fields`.
   */
  const api = (
    method: 'GET' | 'POST',
    name: string,
    doc: Pick<RouteDoc, 'summary' | 'description'>,
    fields: readonly (keyof typeof FIELD_SCHEMAS)[],
    run: (input: Readonly<Record<string, unknown>>, request: EvictRequest) => Promise<EvictResponse>,
    answer: RouteDoc['responses'][string] = DONE_DOC,
  ): FamilyRoute => ({
    method,
    path: `${path}/api/${name}`,
    doc: {
      ...doc,
      security,
      ...(method === 'GET'
        ? {
            parameters: fields.map((field) => ({
              name: field,
              in: 'query' as const,
              required: true,
              description: 'The user.',
              schema: FIELD_SCHEMAS[field],
              example: 'alice',
            })),
          }
        : {
            body: {
              schema: objectSchema(
                Object.fromEntries(fields.map((field) => [field, FIELD_SCHEMAS[field]])),
                fields.filter((field) => field !== 'node_id'),
              ),
              example: Object.fromEntries(
                fields.filter((field) => field !== 'node_id').map((field) => [field, FIELD_EXAMPLES[field]]),
              ),
            },
          }),
      responses: { ...API_RESPONSES, '200': answer },
    },
    async handle(request) {
      const refused = await refusal(request);
      if (refused !== undefined) return refused;
      let input: Readonly<Record<string, unknown>>;
      if (method === 'GET') input = Object.fromEntries(request.query);
      else {
        const body = objectBody(await request.readBody(), fields);
        if (!body.ok) return fail(400, 'bad_request', body.message);
        input = body.fields;
      }
      const uidIssue = uidProblem(input.uid);
      if (uidIssue !== undefined) return fail(400, 'bad_request', `uid ${uidIssue}`);
      try {
        return await run(input, request);
      } catch (error) {
        if (error instanceof TypeError) return fail(400, 'bad_request', error.message);
        if (isEvictError(error, 'EVICT_UNKNOWN_USER')) return fail(404, 'not_found', 'no such user');
        if (isEvictError(error, 'EVICT_SESSION_NOT_FOUND')) return fail(404, 'not_found', 'no such session');
        if (isEvictError(error, 'EVICT_CONNECTION_NOT_FOUND'))
          return fail(404, 'not_found', 'no such connection');
        if (isEvictError(error, 'EVICT_DEVICE_NOT_FOUND')) return fail(404, 'not_found', 'no such device');
        if (isStoreFailure(error)) return fail(503, 'unavailable', 'the store is unavailable; try again');
        return fail(500, 'internal', 'internal error');
      }
    },
  });
  const done = (result: { connectionsClosed: number }) =>
    jsonResponse(200, { status: 'ok', connections_closed: result.connectionsClosed });
  const connectionOf = (input: Readonly<Record<string, unknown>>) => {
    if (!isPositiveSafeInteger(input.conn_id)) throw new TypeError('conn_id must be a positive integer');
    if (input.node_id !== undefined && !isPositiveSafeInteger(input.node_id))
      throw new TypeError('node_id must be a positive integer');
    return {
      uid: input.uid as string,
      connId: input.conn_id,
      ...(input.node_id === undefined ? {} : { nodeId: input.node_id as number }),
    };
  };

  return [
    {
      method: 'GET',
      path,
      doc: {
        summary: 'The admin console',
        description: 'One HTML page; it asks for the manager token and calls the API below.',
        responses: {
          '200': { description: 'The page.', contentType: 'text/html', schema: { type: 'string' } },
        },
      },
      // The page holds no data: it is served to anyone; its API is what is authenticated.
      handle: async () => ({
        status: 200,
        headers: {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          // Everything the page needs is inline; nothing may load from elsewhere.
          'content-security-policy':
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          'x-content-type-options': 'nosniff',
        },
        body: CONSOLE_PAGE,
      }),
    },
    api(
      'GET',
      'user',
      { summary: 'A user: sessions, live connections, push tokens', description: '' },
      ['uid'],
      async (input) => {
        const uid = input.uid as string;
        const [sessions, connections, pushTokens] = await Promise.all([
          engine.listSessions(uid),
          engine.listConnections(uid),
          engine.pushTokens(uid),
        ]);
        return jsonResponse(200, {
          uid,
          sessions: sessions.map(sessionJson),
          connections: connections.map((c) => ({
            conn_id: c.connId,
            node_id: c.nodeId,
            device_flag: c.deviceFlag,
            device_id: c.deviceId ?? null,
            ip: c.ip ?? null,
            connected_at: c.connectedAtMs,
            session_id: c.sessionId ?? null,
          })),
          // A push token is a device's address at Apple or Google: the console shows its end only.
          push_tokens: pushTokens.map((t) => ({
            kind: t.kind,
            device_flag: t.deviceFlag,
            token_end: t.token.slice(-6),
            updated_at: t.updatedAtMs,
          })),
        });
      },
      {
        description: 'The user: sessions (live ones), connections (on every node), push tokens (their ends).',
        schema: { type: 'object', required: ['uid', 'sessions', 'connections', 'push_tokens'] },
      },
    ),
    api(
      'GET',
      'events',
      {
        summary: 'Server-sent events: the user changed',
        description:
          'A `change` event (`data`: the revocation action, `connection_opened` or `connection_ended`) whenever a revocation, a new connection or the end of one of the user happens on this node; a comment every keep-alive period.',
      },
      ['uid'],
      async (input) => ({
        status: 200,
        headers: {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          // Proxies that buffer (nginx) would hold the events back.
          'x-accel-buffering': 'no',
        },
        body: 'retry: 3000\n\n',
        stream: userChanges(engine, input.uid as string, keepAliveMs),
      }),
      {
        description: 'The stream, until the client leaves.',
        contentType: 'text/event-stream',
        schema: { type: 'string' },
      },
    ),
    api(
      'POST',
      'kick',
      { summary: 'Kick the user off every device', description: '' },
      ['uid'],
      async (input) => done(await engine.kickUser(input.uid as string, context(`POST ${path}/api/kick`))),
    ),
    api(
      'POST',
      'device-quit',
      { summary: 'Sign the user out of one device', description: '' },
      ['uid', 'device_flag'],
      async (input) => {
        if (!isDeviceFlag(input.device_flag))
          throw new TypeError('device_flag must be an integer from 0 to 255');
        return done(
          await engine.quitDevice(
            input.uid as string,
            input.device_flag,
            context(`POST ${path}/api/device-quit`),
          ),
        );
      },
    ),
    api(
      'POST',
      'connection-remove',
      { summary: 'Close one connection at once', description: '' },
      ['uid', 'conn_id', 'node_id'],
      async (input) =>
        done(
          await engine.removeConnection(connectionOf(input), context(`POST ${path}/api/connection-remove`)),
        ),
    ),
    api(
      'POST',
      'connection-kick',
      { summary: 'Tell one connection it is kicked, then close it', description: '' },
      ['uid', 'conn_id', 'node_id'],
      async (input) =>
        done(await engine.kickConnection(connectionOf(input), context(`POST ${path}/api/connection-kick`))),
    ),
    api(
      'POST',
      'session-revoke',
      { summary: 'Revoke one session', description: '' },
      ['uid', 'session_id'],
      async (input) => {
        if (typeof input.session_id !== 'string' || !SESSION_ID.test(input.session_id))
          throw new TypeError('session_id is 22 characters of A-Z, a-z, 0-9, _ and -');
        return done(
          await engine.revokeSession(
            { uid: input.uid as string, sessionId: input.session_id },
            context(`POST ${path}/api/session-revoke`),
          ),
        );
      },
    ),
  ];
}

/** The fields the API takes, each as its docs and its checks have it. */
const FIELD_SCHEMAS = {
  uid: uidSchema(),
  device_flag: deviceFlagSchema(),
  conn_id: positiveIdSchema('The connection, as the user lookup lists it.'),
  node_id: positiveIdSchema('The node holding it; absent: whichever does.'),
  session_id: {
    type: 'string',
    pattern: SESSION_ID.source,
    description: 'The session, as the user lookup lists it.',
  },
} as const;
const FIELD_EXAMPLES: Record<keyof typeof FIELD_SCHEMAS, unknown> = {
  uid: 'alice',
  device_flag: 1,
  conn_id: 1,
  node_id: 1,
  session_id: 'AAAAAAAAAAAAAAAAAAAAAA',
};
const DONE_DOC = {
  description: 'Done.',
  schema: {
    type: 'object',
    properties: { status: { const: 'ok' }, connections_closed: { type: 'integer', minimum: 0 } },
    required: ['status', 'connections_closed'],
  },
  example: { status: 'ok', connections_closed: 1 },
};

const errorDoc = (description: string) => ({
  description,
  schema: { type: 'object', required: ['error', 'message'] },
});
const API_RESPONSES: RouteDoc['responses'] = {
  '400': errorDoc('Bad input; nothing changed.'),
  '401': errorDoc('No or a wrong manager token.'),
  '429': errorDoc('Too many wrong manager tokens from this client this minute.'),
  '404': errorDoc('No such user, session or connection.'),
  '503': errorDoc('The store is unavailable; nothing changed.'),
};

/**
 * The user's changes on this node as server-sent events, until the reader stops (`return()`, which
 * the adapters call when the client goes away). At most 100 events wait unread: a reader that far
 * behind refreshes anyway.
 */
function userChanges(engine: Evict, uid: string, keepAliveMs: number): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator]() {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      let ended = false;
      const push = (chunk: string) => {
        if (queue.length < 100) queue.push(chunk);
        wake?.();
      };
      const change = (what: string) => push(`event: change\ndata: ${JSON.stringify({ what })}\n\n`);
      const stops = [
        engine.on('revocation', (event) => {
          if (event.uid === uid) change(event.action);
        }),
        engine.on('connectionOpened', (event) => {
          if (event.uid === uid) change('connection_opened');
        }),
        // Any end, a client leaving included: `connectionClosed` is only those evict closes.
        engine.on('connectionEnded', (event) => {
          if (event.uid === uid) change('connection_ended');
        }),
      ];
      const timer = setInterval(() => push(': keep-alive\n\n'), keepAliveMs);
      timer.unref?.();
      const end = () => {
        ended = true;
        clearInterval(timer);
        for (const stop of stops.splice(0)) stop();
        wake?.();
      };
      return {
        async next(): Promise<IteratorResult<string>> {
          while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          const value = queue.shift();
          return value === undefined ? { value: undefined, done: true } : { value, done: false };
        },
        async return(): Promise<IteratorResult<string>> {
          end();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

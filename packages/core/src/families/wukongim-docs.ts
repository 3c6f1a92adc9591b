import { MAX_DEVICE_FLAG } from '../validation.js';
import {
  deviceFlagSchema,
  type JsonSchema,
  objectSchema,
  positiveIdSchema,
  type ResponseDoc,
  type RouteDoc,
  statusOkSchema,
  tokenSchema,
  uidListSchema,
  uidSchema,
} from './route-doc.js';

/** What the WuKongIM routes take and answer under these options (`compat` changes the answers). */
export function wukongimDocs(options: { managerToken?: string; compat?: boolean }, limits: WukongimLimits) {
  const compat = options.compat === true;
  const authenticated = options.managerToken !== undefined;
  const error = (status: number, description: string, msg: string): ResponseDoc => ({
    description,
    schema: {
      type: 'object',
      properties: { msg: { type: 'string' }, status: { const: status } },
      required: ['msg', 'status'],
    },
    example: { msg, status },
  });
  const ok: ResponseDoc = compat
    ? {
        description: 'Done (compat: the server’s own `{"status":200}`).',
        schema: { type: 'object', properties: { status: { const: 200 } }, required: ['status'] },
        example: { status: 200 },
      }
    : { description: 'Done.', schema: statusOkSchema, example: { status: 'ok' } };
  /** The answers every WuKongIM route shares, beside its own. */
  const answers = (own: Record<string, ResponseDoc>, missing?: string): Record<string, ResponseDoc> => ({
    ...own,
    '400': error(
      400,
      'Bad input: the message says which field and why. Nothing changed.',
      'uid must not be empty',
    ),
    ...(authenticated
      ? {
          '401': {
            description: 'The `token` header is missing or is not the manager token (an empty body).',
          },
          '429': error(
            429,
            'Too many failed authentications from this client this minute.',
            'too many failed attempts',
          ),
        }
      : {}),
    ...(missing === undefined || compat ? {} : { '404': error(404, 'Not found; nothing changed.', missing) }),
    '500': error(500, 'The store failed; nothing changed (retry).', 'internal server error'),
  });
  const security = authenticated ? (['wukongimManagerToken'] as const) : undefined;
  const connectionBody = objectSchema(
    {
      uid: uidSchema('The user the connection belongs to.'),
      conn_id: positiveIdSchema('The connection id (`/connz` lists them).'),
      node_id: positiveIdSchema('The node holding it; absent: whichever node does.'),
    },
    ['uid', 'conn_id'],
  );
  const connectionRoute = (summary: string, description: string): RouteDoc => ({
    summary,
    description,
    security,
    body: { schema: connectionBody, example: { uid: 'alice', conn_id: 1, node_id: 1 } },
    responses: answers({ '200': ok }, 'connection does not exist'),
  });

  const docs: Record<string, RouteDoc> = {
    '/user/device_quit': {
      summary: 'Sign a user out of one device or of all',
      description:
        'Revokes every credential the user holds for the device flag (or for every device) and closes those connections on every node.',
      security,
      body: {
        schema: objectSchema(
          {
            uid: uidSchema(),
            device_flag: {
              type: 'integer',
              minimum: -1,
              maximum: MAX_DEVICE_FLAG,
              description: compat
                ? 'The device flag, or -1 for every device. Absent: 0 (app), as the server reads it.'
                : 'The device flag, or -1 for every device. Absent: every device.',
            },
          },
          ['uid'],
        ),
        example: { uid: 'alice', device_flag: 1 },
      },
      responses: answers({ '200': ok }, 'user does not exist'),
    },
    '/user/token': {
      summary: 'Make a token the user’s credential for a device',
      description:
        'Replaces the user’s token for the device flag. A master login (`device_level` 1) closes the device’s other connections with another device_id after telling them; a slave login (0) only those with the same device_id.',
      security,
      body: {
        schema: objectSchema(
          {
            uid: uidSchema(),
            token: tokenSchema('The token the client will connect with.'),
            device_flag: { ...deviceFlagSchema(), default: 0 },
            device_level: {
              enum: [0, 1],
              default: 0,
              description: '0: slave (many coexist), 1: master (one per device flag).',
            },
          },
          ['uid', 'token'],
        ),
        example: { uid: 'alice', token: 'token-of-alice-app', device_flag: 0, device_level: 1 },
      },
      responses: answers({ '200': ok }),
    },
    '/user/onlinestatus': {
      summary: 'Who of these users is online',
      description: `A row per live connection of each user (at most ${limits.maxRowsPerUser} per user); users offline have none.`,
      security,
      body: {
        schema: uidListSchema('The user ids.'),
        example: ['alice', 'bob'],
      },
      responses: answers({
        '200': {
          description: compat
            ? 'The rows (an empty list of users answers `{"status":200}`, as the server does).'
            : 'The rows.',
          schema: {
            type: 'array',
            items: {
              type: 'object',
              properties: { uid: { type: 'string' }, device_flag: { type: 'integer' }, online: { const: 1 } },
              required: ['uid', 'device_flag', 'online'],
            },
          },
          example: [{ uid: 'alice', device_flag: 1, online: 1 }],
        },
      }),
    },
    '/connz': {
      summary: 'A user’s live connections, on every node',
      description: 'A page of the user’s connections in the shape of WuKongIM’s connz.',
      security,
      parameters: [
        {
          name: 'uid',
          in: 'query',
          required: true,
          description: 'The user.',
          schema: uidSchema(),
          example: 'alice',
        },
        {
          name: 'node_id',
          in: 'query',
          required: false,
          description: 'Only the connections this node holds; 0 or absent: every node.',
          schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
        },
        {
          name: 'offset',
          in: 'query',
          required: false,
          description: 'Connections to skip.',
          schema: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
        },
        {
          name: 'limit',
          in: 'query',
          required: false,
          description: 'Connections in the page.',
          schema: { type: 'integer', minimum: 1, maximum: limits.maxConnzLimit, default: 20 },
        },
        {
          name: 'sort',
          in: 'query',
          required: false,
          description: 'The order: by id, or by when they connected (`uptime`: oldest first).',
          schema: { enum: limits.connzSorts, default: 'id' },
        },
      ],
      responses: answers({ '200': { description: 'The page.', schema: CONNZ_SCHEMA } }),
    },
    '/conn/remove': connectionRoute(
      'Close one connection at once',
      'Closes the connection silently on whichever node holds it.',
    ),
    '/conn/kick': connectionRoute(
      'Tell one connection it is kicked, then close it',
      'Sends the connection its disconnect packet, then closes it after the engine’s grace period, on whichever node holds it.',
    ),
  };
  return docs;
}

export interface WukongimLimits {
  maxRowsPerUser: number;
  maxConnzLimit: number;
  connzSorts: readonly string[];
}

const CONNZ_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    connections: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          uid: { type: 'string' },
          ip: { type: 'string' },
          port: { type: 'integer' },
          uptime: { type: 'string', description: 'As WuKongIM writes it: `1d2h3m4s`.' },
          device: { type: 'string', description: '`App`, `Web`, `PC` or `未知`, with the device level.' },
          device_id: { type: 'string' },
          proxy_type_format: { type: 'string', description: '`本地连接` (this node) or `源节点：<id>`.' },
          node_id: { type: 'integer' },
        },
        required: [
          'id',
          'uid',
          'ip',
          'port',
          'uptime',
          'device',
          'device_id',
          'proxy_type_format',
          'node_id',
        ],
      },
    },
    now: { type: 'string', format: 'date-time' },
    total: { type: 'integer' },
    offset: { type: 'integer' },
    limit: { type: 'integer' },
  },
  required: ['connections', 'now', 'total', 'offset', 'limit'],
};

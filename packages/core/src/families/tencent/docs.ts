import { MAX_PRESENCE_UIDS } from '../../engine/types.js';
import {
  type JsonSchema,
  objectSchema,
  type ParameterDoc,
  type RouteDoc,
  uidListSchema,
  uidSchema,
} from '../route-doc.js';
import { TENCENT_ERRORS } from './codes.js';

/** The query every Tencent REST call carries (its UserSig is the security scheme's). */
const COMMON_PARAMETERS: readonly ParameterDoc[] = [
  {
    name: 'sdkappid',
    in: 'query',
    required: true,
    description: 'The app’s SDKAppID.',
    schema: { type: 'string', pattern: '^[0-9]+$' },
    example: '1400000000',
  },
  {
    name: 'identifier',
    in: 'query',
    required: true,
    description: 'The App admin making the call; its UserSig must be made for it.',
    schema: uidSchema('The App admin.'),
    example: 'administrator',
  },
  {
    name: 'usersig',
    in: 'query',
    required: true,
    description: 'The App admin’s UserSig.',
    schema: { type: 'string', minLength: 1 },
  },
  {
    name: 'random',
    in: 'query',
    required: true,
    description: 'A 32-bit unsigned random number.',
    schema: { type: 'string', pattern: '^[0-9]{1,10}$' },
    example: '99999999',
  },
  {
    name: 'contenttype',
    in: 'query',
    required: false,
    description: 'Always `json`.',
    schema: { const: 'json' },
    example: 'json',
  },
];

/** The fields every answer holds; a failure is HTTP 200 too, with its ErrorCode. */
const ANSWER_FIELDS: Readonly<Record<string, JsonSchema>> = {
  ActionStatus: { enum: ['OK', 'FAIL'] },
  ErrorCode: { type: 'integer', description: '0, or one of the codes this route documents.' },
  ErrorInfo: { type: 'string' },
};

const codes = (list: readonly (keyof typeof TENCENT_ERRORS)[]) =>
  list.map((code) => `\`${code}\` ${TENCENT_ERRORS[code]}`).join('; ');

/** The codes any call may answer before its own. */
const CALL_CODES = codes([
  60003, 60006, 60007, 70001, 70003, 70013, 70014, 70052, 70169, 70402, 70403, 70500,
]);

export const TENCENT_DOCS: Readonly<Record<string, RouteDoc>> = {
  '/v4/im_open_login_svc/kick': {
    summary: 'Kick a user off every device',
    description:
      'Invalidates every credential the user holds (sessions and the UserSigs made before now) and closes their connections on every node.',
    security: ['tencentUserSig'],
    parameters: COMMON_PARAMETERS,
    body: {
      schema: objectSchema({
        Identifier: uidSchema('The user to kick (or `UserID`, not both).'),
        UserID: uidSchema('The user to kick, under its newer name.'),
      }),
      example: { UserID: 'alice' },
    },
    responses: {
      '200': {
        description: `Always HTTP 200; \`ErrorCode\` says how it went: 0, \`70107\` ${TENCENT_ERRORS[70107]}, or ${CALL_CODES}.`,
        schema: { type: 'object', properties: ANSWER_FIELDS, required: Object.keys(ANSWER_FIELDS) },
        example: { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' },
      },
    },
  },
  '/v4/openim/query_online_status': {
    summary: 'Whether these users are online, and on which platforms',
    description:
      'Online (a live connection), PushOnline (no connection, a push token) or Offline, per account; with `IsNeedDetail` 1, each platform.',
    security: ['tencentUserSig'],
    parameters: COMMON_PARAMETERS,
    body: {
      schema: objectSchema(
        {
          To_Account: { ...uidListSchema(`The accounts, 1 to ${MAX_PRESENCE_UIDS}.`), minItems: 1 },
          IsNeedDetail: { enum: [0, 1], default: 0, description: '1: list each platform.' },
        },
        ['To_Account'],
      ),
      example: { To_Account: ['alice', 'bob'], IsNeedDetail: 1 },
    },
    responses: {
      '200': {
        description: `Always HTTP 200; \`ErrorCode\` 0 with the results (unknown accounts in \`ErrorList\` with \`70107\`), or ${CALL_CODES}.`,
        schema: {
          type: 'object',
          properties: {
            ...ANSWER_FIELDS,
            QueryResult: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  To_Account: { type: 'string' },
                  Status: { enum: ['Online', 'PushOnline', 'Offline'] },
                  Detail: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        Platform: { type: 'string' },
                        Status: { enum: ['Online', 'PushOnline'] },
                      },
                      required: ['Platform', 'Status'],
                    },
                  },
                },
                required: ['To_Account', 'Status'],
              },
            },
            ErrorList: {
              type: 'array',
              items: {
                type: 'object',
                properties: { To_Account: { type: 'string' }, ErrorCode: { type: 'integer' } },
                required: ['To_Account', 'ErrorCode'],
              },
            },
          },
          required: Object.keys(ANSWER_FIELDS),
        },
        example: {
          ActionStatus: 'OK',
          ErrorCode: 0,
          ErrorInfo: '',
          QueryResult: [
            { To_Account: 'alice', Status: 'Online', Detail: [{ Platform: 'Web', Status: 'Online' }] },
          ],
          ErrorList: [{ To_Account: 'bob', ErrorCode: 70107 }],
        },
      },
    },
  },
};

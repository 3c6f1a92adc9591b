/** Mounting, across the families: under a prefix, a subset of the families, other methods on their paths. */

import {
  ALICE_WEB,
  DEVICE_FLAG_MSG,
  LOGGED_OUT,
  OK,
  SOCKET_CLOSED,
  sessionNow,
  TENCENT_OK,
  wkError,
} from '../answers.js';
import {
  asSession,
  CONN_REMOVE,
  DEVICE_QUIT,
  del,
  KICK,
  kick,
  LOGOUT,
  logout,
  MESSAGE,
  RING,
  wk,
} from '../requests.js';
import type { ContractCase, ContractRequest } from '../table.js';

const ADMIN_PREFIX = '/admin';
export const prefixed: ContractCase[] = [
  {
    name: 'prefix: POST /admin/user/device_quit',
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    request: wk(`${ADMIN_PREFIX}${DEVICE_QUIT}`, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: OK },
  },
  {
    name: 'prefix: POST /admin/conn/remove',
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 12345 }),
    request: wk(`${ADMIN_PREFIX}${CONN_REMOVE}`, { uid: 'alice01', conn_id: 12345, node_id: 1 }),
    expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.connection_removed } },
  },
  {
    name: 'prefix: a parameter error keeps its family shape',
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    request: wk(`${ADMIN_PREFIX}${DEVICE_QUIT}`, { uid: 'alice01', device_flag: '1' }),
    expect: { status: 400, body: wkError(400, DEVICE_FLAG_MSG) },
    unchanged: true,
  },
  {
    name: "prefix: the root path is the framework's 404",
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: 'prefix: POST /admin/v4/im_open_login_svc/kick',
    family: 'tencent',
    options: { prefix: ADMIN_PREFIX },
    request: kick({ Identifier: 'alice01' }, {}, ADMIN_PREFIX),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: "prefix: the root kick path is the framework's 404",
    family: 'tencent',
    options: { prefix: ADMIN_PREFIX },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: 'prefix: POST /admin/v1/api/user/logout',
    family: 'lancens',
    options: { prefix: ADMIN_PREFIX },
    request: (w) => ({
      ...logout({ username: 'alice01', token: w.tokens.alice0! }),
      path: `${ADMIN_PREFIX}${LOGOUT}`,
    }),
    expect: { status: 200, body: OK },
    next: [sessionNow('alice0', 401, LOGGED_OUT)],
  },
  {
    name: 'prefix: DELETE /admin/v1/api/user/token',
    family: 'lancens',
    options: { prefix: ADMIN_PREFIX },
    request: (w) => del(`${ADMIN_PREFIX}${RING}`, w.tokens.alice0!),
    expect: { status: 200, body: OK, pushTokens: { alice01: ['message'] } },
  },
  {
    name: 'prefix: the guarded route stays where the host put it',
    family: 'guard',
    options: { prefix: ADMIN_PREFIX },
    request: asSession('alice1'),
    expect: { status: 200, body: ALICE_WEB },
  },
];

export const subsets: ContractCase[] = [
  {
    name: "families ['lancens']: /user/device_quit falls through to the framework's 404",
    family: 'wukongim',
    options: { families: ['lancens'] },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['lancens']: /conn/remove falls through to the framework's 404",
    family: 'wukongim',
    options: { families: ['lancens'] },
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 1 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 1 }),
    expect: { status: 404, fallsThrough: true, closed: { c: 'open' } },
    unchanged: true,
  },
  {
    name: "families ['lancens']: the kick falls through to the framework's 404",
    family: 'tencent',
    options: { families: ['lancens'] },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['lancens']: the logout is served",
    family: 'lancens',
    options: { families: ['lancens'] },
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 200, body: OK },
  },
  {
    name: "families ['wukongim']: the logout falls through to the framework's 404",
    family: 'lancens',
    options: { families: ['wukongim'] },
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['wukongim']: DELETE /v1/api/user/message/token falls through to the framework's 404",
    family: 'lancens',
    options: { families: ['wukongim'] },
    request: (w) => del(MESSAGE, w.tokens.alice0!),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['wukongim']: /user/device_quit is served",
    family: 'wukongim',
    options: { families: ['wukongim'] },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: OK },
  },
  {
    name: "families ['tencent']: /user/device_quit falls through, the kick is served",
    family: 'tencent',
    options: { families: ['tencent'] },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
    next: [{ request: kick({ Identifier: 'alice01' }), expect: { status: 200, body: TENCENT_OK } }],
  },
];

/** Another method on a family's path is not the family's: the framework answers, whatever the request carries. */
export const otherMethods: ContractCase[] = (
  [
    ['wukongim', 'GET', DEVICE_QUIT],
    ['wukongim', 'PUT', DEVICE_QUIT],
    ['wukongim', 'OPTIONS', DEVICE_QUIT],
    ['wukongim', 'GET', CONN_REMOVE],
    ['wukongim', 'DELETE', CONN_REMOVE],
    ['tencent', 'GET', KICK],
    ['tencent', 'PUT', KICK],
    ['lancens', 'GET', LOGOUT],
    ['lancens', 'DELETE', LOGOUT],
    ['lancens', 'POST', RING],
    ['lancens', 'GET', RING],
    ['lancens', 'PUT', MESSAGE],
  ] as const
).map(
  ([family, method, path]): ContractCase => ({
    name: `${method} ${path} falls through to the framework`,
    family,
    request: (w) => {
      const documented: ContractRequest =
        family === 'wukongim'
          ? wk(path, { uid: 'alice01', device_flag: 1, conn_id: 1 })
          : family === 'tencent'
            ? kick({ Identifier: 'alice01' })(w)
            : {
                ...logout({ username: 'alice01', token: w.tokens.alice0! }),
                headers: { token: w.tokens.alice0! },
              };
      const withBody = method !== 'GET' && method !== 'OPTIONS';
      const { body, ...rest } = documented;
      return { ...rest, path, method, ...(withBody && body !== undefined ? { body } : {}) };
    },
    expect: { fallsThrough: true },
    unchanged: true,
  }),
);

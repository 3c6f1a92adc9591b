/** WuKongIM (seeds 000 and 001): `/user/device_quit` and `/conn/remove`. */
import { bigJson, MANAGER_TOKEN } from '../../support/fixtures.js';
import {
  ALICE_APP,
  ALICE_WEB,
  DEVICE_FLAG_MSG,
  DEVICE_QUIT_REJECTED,
  INTERNAL,
  json,
  OK,
  SOCKET_CLOSED,
  sessionNow,
  wkError,
} from '../answers.js';
import { asSession, CONN_KICK, CONN_REMOVE, chunkedOver16KiB, DEVICE_QUIT, wk } from '../requests.js';
import type { ContractBody, ContractCase } from '../table.js';

const wukongimAuth: ContractCase[] = [DEVICE_QUIT, CONN_REMOVE, CONN_KICK].flatMap((path) => {
  const body = path === DEVICE_QUIT ? { uid: 'alice01' } : { uid: 'alice01', conn_id: 1 };
  return (
    [
      ['no token header', null],
      ['an empty token', ''],
      ['a wrong token of the same length', MANAGER_TOKEN.replace(/.$/, 'X')],
      ['a shorter token', MANAGER_TOKEN.slice(0, 5)],
      ['a longer token', `${MANAGER_TOKEN}0`],
      ['the token in upper case', MANAGER_TOKEN.toUpperCase()],
    ] as const
  ).map(
    ([what, token]): ContractCase => ({
      name: `${path}: 401 with an empty body for ${what}`,
      family: 'wukongim',
      request: wk(path, body, token),
      expect: { status: 401, body: '' },
      unchanged: true,
    }),
  );
});

const deviceQuitBadBodies: [string, ContractBody | undefined, string][] = [
  ['a body that is not JSON', '{"uid": "alice01"', 'request body is not valid JSON'],
  ['a body of form fields', 'uid=alice01&device_flag=1', 'request body is not valid JSON'],
  [
    'a body that is not UTF-8',
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    'request body is not valid JSON',
  ],
  ['a JSON array', [{ uid: 'alice01' }], 'request body must be a JSON object'],
  ['a JSON string', json('alice01'), 'request body must be a JSON object'],
  ['a JSON number', '42', 'request body must be a JSON object'],
  ['JSON null', 'null', 'request body must be a JSON object'],
  ['an empty body', undefined, 'request body is empty'],
  ['a body of whitespace', '  \n', 'request body is empty'],
  [
    'a body over 16 KiB with Content-Length',
    bigJson({ uid: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ uid: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
  ['uid missing', { device_flag: 1 }, 'uid must be a string'],
  ['uid a number', { uid: 42 }, 'uid must be a string'],
  ['uid null', { uid: null }, 'uid must be a string'],
  ['uid an array', { uid: ['alice01'] }, 'uid must be a string'],
  ['uid empty', { uid: '' }, 'uid must not be empty'],
  ['uid over 255 bytes', { uid: 'é'.repeat(128) }, 'uid must be at most 255 bytes of UTF-8'],
  ['uid with a NUL', { uid: 'ali\u0000ce' }, 'uid must not contain control characters'],
  ['uid with a newline', { uid: 'alice01\n' }, 'uid must not contain control characters'],
  ['uid with DEL', { uid: 'alice01\u007f' }, 'uid must not contain control characters'],
  ['uid with a lone surrogate', '{"uid":"ali\\ud800ce"}', 'uid must be well-formed unicode'],
  ['device_flag "1"', { uid: 'alice01', device_flag: '1' }, DEVICE_FLAG_MSG],
  ['device_flag 1.5', { uid: 'alice01', device_flag: 1.5 }, DEVICE_FLAG_MSG],
  ['device_flag 256', { uid: 'alice01', device_flag: 256 }, DEVICE_FLAG_MSG],
  ['device_flag -2', { uid: 'alice01', device_flag: -2 }, DEVICE_FLAG_MSG],
  ['device_flag true', { uid: 'alice01', device_flag: true }, DEVICE_FLAG_MSG],
  ['device_flag null', { uid: 'alice01', device_flag: null }, DEVICE_FLAG_MSG],
  ['an unknown field', { uid: 'alice01', device_flag: 1, force: true }, 'unknown field "force"'],
  ['a __proto__ key', '{"uid":"alice01","__proto__":{"device_flag":1}}', 'unknown field "__proto__"'],
  ['a constructor key', '{"uid":"alice01","constructor":{}}', 'unknown field "constructor"'],
];

const connRemoveBadBodies: [string, ContractBody | undefined, string][] = [
  ['a body that is not JSON', 'conn_id=1', 'request body is not valid JSON'],
  ['a JSON array', '[]', 'request body must be a JSON object'],
  ['a JSON number', '1', 'request body must be a JSON object'],
  ['an empty body', undefined, 'request body is empty'],
  [
    'a body over 16 KiB with Content-Length',
    bigJson({ uid: 'alice01', conn_id: 1 }),
    'request body is larger than 16 KiB',
  ],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ uid: 'alice01', conn_id: 1 }),
    'request body is larger than 16 KiB',
  ],
  ['uid missing', { conn_id: 1 }, 'uid must be a string'],
  ['uid over 255 bytes', { uid: 'a'.repeat(256), conn_id: 1 }, 'uid must be at most 255 bytes of UTF-8'],
  ['conn_id missing', { uid: 'alice01' }, 'conn_id is required'],
  ['conn_id 0', { uid: 'alice01', conn_id: 0 }, 'conn_id must be a positive integer'],
  ['conn_id negative', { uid: 'alice01', conn_id: -5 }, 'conn_id must be a positive integer'],
  ['conn_id 1.5', { uid: 'alice01', conn_id: 1.5 }, 'conn_id must be a positive integer'],
  ['conn_id "12345"', { uid: 'alice01', conn_id: '12345' }, 'conn_id must be a positive integer'],
  ['conn_id null', { uid: 'alice01', conn_id: null }, 'conn_id must be a positive integer'],
  [
    'conn_id beyond MAX_SAFE_INTEGER',
    '{"uid":"alice01","conn_id":9007199254740993}',
    'conn_id must be a positive integer',
  ],
  ['conn_id 1e400 (Infinity)', '{"uid":"alice01","conn_id":1e400}', 'conn_id must be a positive integer'],
  ['node_id 0', { uid: 'alice01', conn_id: 1, node_id: 0 }, 'node_id must be a positive integer'],
  ['node_id negative', { uid: 'alice01', conn_id: 1, node_id: -1 }, 'node_id must be a positive integer'],
  ['node_id 1.5', { uid: 'alice01', conn_id: 1, node_id: 1.5 }, 'node_id must be a positive integer'],
  ['node_id "1"', { uid: 'alice01', conn_id: 1, node_id: '1' }, 'node_id must be a positive integer'],
  ['node_id null', { uid: 'alice01', conn_id: 1, node_id: null }, 'node_id must be a positive integer'],
  ['an unknown field', { uid: 'alice01', conn_id: 1, device_flag: 0 }, 'unknown field "device_flag"'],
  ['a __proto__ key', '{"uid":"alice01","conn_id":1,"__proto__":{}}', 'unknown field "__proto__"'],
  ['a constructor key', '{"uid":"alice01","conn_id":1,"constructor":1}', 'unknown field "constructor"'],
];

const quitEvent = (deviceFlag: number | 'all', connectionsClosed: number) => ({
  action: 'quit_device',
  uid: 'alice01',
  deviceFlag,
  actor: { type: 'manager' },
  endpoint: 'POST /user/device_quit',
  connectionsClosed,
});

export const wukongim: ContractCase[] = [
  ...wukongimAuth,
  {
    name: '/user/device_quit: the token is checked before the body (no token and a bad body: 401)',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, 'not json', null),
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  {
    name: '/user/device_quit: the header may be spelled `Token`',
    family: 'wukongim',
    request: {
      method: 'POST',
      path: DEVICE_QUIT,
      headers: { Token: MANAGER_TOKEN },
      body: { uid: 'alice01', device_flag: 1 },
    },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit of one device: 200, its sessions and sockets are out, the others stay',
    family: 'wukongim',
    setup: async (w) => {
      await w.simulate('web', { uid: 'alice01', deviceFlag: 1, connId: 11 });
      await w.simulate('app', { uid: 'alice01', deviceFlag: 0, connId: 10 });
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: {
      status: 200,
      body: OK,
      closed: { web: SOCKET_CLOSED.device_quit, app: 'open' },
      events: [quitEvent(1, 1)],
    },
    next: [sessionNow('alice1', 401, DEVICE_QUIT_REJECTED), sessionNow('alice0', 200, ALICE_APP)],
  },
  ...(
    [
      ['absent', { uid: 'alice01' }],
      ['-1', { uid: 'alice01', device_flag: -1 }],
    ] as const
  ).map(
    ([what, body]): ContractCase => ({
      name: `/user/device_quit with device_flag ${what}: every device of the user`,
      family: 'wukongim',
      setup: (w) => w.simulate('pc', { uid: 'alice01', deviceFlag: 2 }),
      request: wk(DEVICE_QUIT, body),
      expect: {
        status: 200,
        body: OK,
        closed: { pc: SOCKET_CLOSED.device_quit },
        events: [quitEvent('all', 1)],
      },
      next: [
        sessionNow('alice0', 401, DEVICE_QUIT_REJECTED),
        sessionNow('alice1', 401, DEVICE_QUIT_REJECTED),
      ],
    }),
  ),
  {
    name: '/user/device_quit of a device with a connection but no session',
    family: 'wukongim',
    setup: (w) => w.simulate('carol', { uid: 'carol03', deviceFlag: 2 }),
    request: wk(DEVICE_QUIT, { uid: 'carol03', device_flag: 2 }),
    expect: { status: 200, body: OK, closed: { carol: SOCKET_CLOSED.device_quit } },
  },
  {
    name: '/user/device_quit: a session issued after the quit works',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 0 }),
    expect: { status: 200, body: OK },
    next: [
      {
        before: async (w) => {
          await w.login('fresh', 'alice01', 0);
        },
        request: asSession('fresh'),
        expect: { status: 200, body: ALICE_APP },
      },
    ],
  },
  {
    name: "/user/device_quit: the seed's body, whitespace and a charset",
    family: 'wukongim',
    request: {
      ...wk(DEVICE_QUIT, '{\n  "uid": "alice01",\n  "device_flag": 1\n}\n'),
      headers: { token: MANAGER_TOKEN, 'content-type': 'application/json; charset=utf-8' },
    },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a body of exactly 16 KiB',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, bigJson({ uid: 'alice01', device_flag: 1 }, 16 * 1024)),
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a chunked body under 16 KiB',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { chunked: Buffer.from(bigJson({ uid: 'alice01', device_flag: 1 }, 4096)) }),
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a JSON body without a Content-Type header',
    family: 'wukongim',
    request: {
      ...wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
      headers: { token: MANAGER_TOKEN, 'content-type': '' },
    },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a query string does not change the route',
    family: 'wukongim',
    request: { ...wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }), query: { trace: '1' } },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a body one byte over 16 KiB',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, bigJson({ uid: 'alice01', device_flag: 1 }, 16 * 1024 + 1)),
    expect: { status: 400, body: wkError(400, 'request body is larger than 16 KiB') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: a uid of exactly 255 bytes is valid (404: no such user)',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: `${'é'.repeat(127)}a` }),
    expect: { status: 404, body: wkError(404, 'user does not exist') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: the manager token as Authorization: Bearer is not the token header (401)',
    family: 'wukongim',
    request: {
      method: 'POST',
      path: DEVICE_QUIT,
      headers: { authorization: `Bearer ${MANAGER_TOKEN}` },
      body: { uid: 'alice01', device_flag: 1 },
    },
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  ...deviceQuitBadBodies.map(
    ([what, body, msg]): ContractCase => ({
      name: `/user/device_quit: 400 for ${what}`,
      family: 'wukongim',
      request: wk(DEVICE_QUIT, body),
      expect: { status: 400, body: wkError(400, msg) },
      unchanged: true,
      next: [sessionNow('alice1', 200, ALICE_WEB)],
    }),
  ),
  {
    name: '/conn/remove with node_id: that connection closes (4003), the credentials stay valid',
    family: 'wukongim',
    setup: async (w) => {
      await w.simulate('target', { uid: 'alice01', deviceFlag: 0, connId: 12345 });
      await w.simulate('other', { uid: 'alice01', deviceFlag: 0, connId: 7 });
    },
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 12345, node_id: 1 }),
    expect: {
      status: 200,
      body: OK,
      closed: { target: SOCKET_CLOSED.connection_removed, other: 'open' },
      events: [
        {
          action: 'remove_connection',
          uid: 'alice01',
          connId: 12345,
          nodeId: 1,
          actor: { type: 'manager' },
          endpoint: 'POST /conn/remove',
          connectionsClosed: 1,
        },
      ],
    },
    next: [sessionNow('alice0', 200, ALICE_APP)],
  },
  {
    name: '/conn/remove without node_id finds the connection',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 3 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 3 }),
    expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.connection_removed } },
  },
  {
    name: '/conn/remove: a chunked body under 16 KiB',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 3 }),
    request: wk(CONN_REMOVE, { chunked: Buffer.from(bigJson({ uid: 'alice01', conn_id: 3 }, 3000)) }),
    expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.connection_removed } },
  },
  ...[CONN_REMOVE, CONN_KICK].flatMap((path) =>
    connRemoveBadBodies.map(
      ([what, body, msg]): ContractCase => ({
        name: `${path}: 400 for ${what}`,
        family: 'wukongim',
        setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 1 }),
        request: wk(path, body),
        expect: { status: 400, body: wkError(400, msg), closed: { c: 'open' } },
        unchanged: true,
      }),
    ),
  ),
  {
    name: '/user/device_quit: 404 for an unknown user',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'nobody' }),
    expect: { status: 404, body: wkError(404, 'user does not exist') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: 404 for one device of an unknown user',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'nobody', device_flag: 0 }),
    expect: { status: 404, body: wkError(404, 'user does not exist') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: 404 for a device with no session and no connection',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 2 }),
    expect: { status: 404, body: wkError(404, 'device is not connected') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: 404 for a device whose sessions were all quit already',
    family: 'wukongim',
    setup: async (w) => {
      await w.engine.quitDevice('alice01', 1);
      w.clock.advance(1000);
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, body: wkError(404, 'device is not connected') },
    unchanged: true,
  },
  {
    name: '/conn/remove: 404 for an unknown connection',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 1 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 999 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist'), closed: { c: 'open' } },
    unchanged: true,
  },
  {
    name: "/conn/remove: 404 for another user's connection",
    family: 'wukongim',
    setup: (w) => w.simulate('bob', { uid: 'bobby02', deviceFlag: 0, connId: 5 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 5 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist'), closed: { bob: 'open' } },
    unchanged: true,
  },
  {
    name: '/conn/remove: 404 naming another node_id than the one holding the connection',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 12345 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 12345, node_id: 2 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist'), closed: { c: 'open' } },
    unchanged: true,
  },
  {
    name: '/conn/remove: 404 for an unknown user',
    family: 'wukongim',
    request: wk(CONN_REMOVE, { uid: 'nobody', conn_id: 1 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist') },
    unchanged: true,
  },
  ...(
    [
      [DEVICE_QUIT, { uid: 'alice01' }],
      [DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }],
      [CONN_REMOVE, { uid: 'alice01', conn_id: 1 }],
    ] as const
  ).map(
    ([path, body]): ContractCase => ({
      name: `${path} ${json(body)}: 500 when the store fails; the retry once it heals works`,
      family: 'wukongim',
      setup: async (w) => {
        await w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 1 });
        w.store.inject('fail');
      },
      request: wk(path, body),
      expect: { status: 500, body: INTERNAL, closed: { c: 'open' } },
      unchanged: true,
      next: [{ before: (w) => w.store.heal(), request: wk(path, body), expect: { status: 200, body: OK } }],
    }),
  ),
  {
    name: '/user/device_quit: 500 when the store fails half-way (cutoff written, listing fails); the retry closes',
    family: 'wukongim',
    setup: async (w) => {
      await w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 1 });
      w.store.inject('fail', 'listConnections');
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 500, body: INTERNAL, events: [] },
    next: [
      {
        before: (w) => w.store.heal(),
        request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
        expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.device_quit } },
      },
    ],
  },
  {
    name: '/user/device_quit: 500 when the store hangs past storeTimeoutMs',
    family: 'wukongim',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: wk(DEVICE_QUIT, { uid: 'alice01' }),
    expect: { status: 500, body: INTERNAL },
    unchanged: true,
  },
  {
    name: '/conn/remove: 500 when the store hangs past storeTimeoutMs',
    family: 'wukongim',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 1 }),
    expect: { status: 500, body: INTERNAL },
    unchanged: true,
  },
  // wukongim.compat: the WuKongIM server's wire behaviour.
  {
    name: 'compat: /user/device_quit answers {"status":200}',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: '{"status":200}' },
  },
  {
    name: 'compat: an unknown user is 200 {"status":200} and changes nothing',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'nobody' }),
    expect: { status: 200, body: '{"status":200}' },
    unchanged: true,
  },
  {
    name: 'compat: an unknown connection is 200 {"status":200} and changes nothing',
    family: 'wukongim',
    options: { compat: true },
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 404 }),
    expect: { status: 200, body: '{"status":200}' },
    unchanged: true,
  },
  {
    name: 'compat: a missing device_flag means 0 (app)',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'alice01' }),
    expect: { status: 200, body: '{"status":200}', events: [quitEvent(0, 0)] },
    next: [sessionNow('alice0', 401, DEVICE_QUIT_REJECTED), sessionNow('alice1', 200, ALICE_WEB)],
  },
  {
    name: 'compat: still 401 with an empty body without the token',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'alice01' }, null),
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  {
    name: 'compat: still 400 for a bad body',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 1 }),
    expect: { status: 400, body: wkError(400, 'uid must be a string') },
    unchanged: true,
  },
];

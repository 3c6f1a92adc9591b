/** Sockets: the upgrade check, and the connections evict closes. */

import {
  ALICE_WEB,
  DEVICE_QUIT_REJECTED,
  KICKED,
  kickEvent,
  LOGGED_OUT,
  NO_CREDENTIAL_UPGRADE,
  OK,
  SOCKET_CLOSED,
  TENCENT_OK,
  UNAVAILABLE,
  UNKNOWN,
} from '../answers.js';
import { CONN_KICK, CONN_REMOVE, DEVICE_QUIT, guarded, kick, logout, upgrade, wk } from '../requests.js';
import type { ContractCase, World } from '../table.js';

export const socket: ContractCase[] = [
  {
    name: 'an accepted upgrade says hello with its conn_id and node_id',
    family: 'socket',
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 101, body: { type: 'hello', conn_id: 1_000_000_001, node_id: 1 } },
  },
  {
    name: 'a Tencent kick closes it with 4001 kicked; the token cannot reconnect',
    family: 'socket',
    setup: (w) => w.connect('s', w.tokens.alice1!),
    request: kick({ Identifier: 'alice01' }),
    expect: {
      status: 200,
      body: TENCENT_OK,
      closed: { s: SOCKET_CLOSED.kicked },
      events: [{ ...kickEvent('alice01'), connectionsClosed: 1 }],
    },
    next: [{ request: (w) => upgrade(w.tokens.alice1), expect: { status: 401, body: KICKED } }],
  },
  {
    name: "a WuKongIM device_quit closes it with 4002 device_quit; the other device's stays open",
    family: 'socket',
    setup: async (w) => {
      await w.connect('web', w.tokens.alice1!);
      await w.connect('app', w.tokens.alice0!);
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: OK, closed: { web: SOCKET_CLOSED.device_quit, app: 'open' } },
    next: [{ request: (w) => upgrade(w.tokens.alice1), expect: { status: 401, body: DEVICE_QUIT_REJECTED } }],
  },
  {
    name: 'a WuKongIM conn/remove closes that one with 4003; the token connects again',
    family: 'socket',
    setup: async (w) => {
      await w.connect('first', w.tokens.alice1!);
      await w.connect('second', w.tokens.alice1!);
    },
    request: (w) =>
      wk(CONN_REMOVE, {
        uid: 'alice01',
        conn_id: w.hello('first').conn_id,
        node_id: w.hello('first').node_id,
      }),
    expect: {
      status: 200,
      body: OK,
      closed: { first: SOCKET_CLOSED.connection_removed, second: 'open' },
    },
    next: [
      {
        request: (w) => upgrade(w.tokens.alice1),
        expect: { status: 101, body: { type: 'hello', conn_id: 1_000_000_003, node_id: 1 } },
      },
    ],
  },
  {
    name: "a Lancens logout closes the sockets of that session with 4004 session_revoked; another session's stay open",
    family: 'socket',
    setup: async (w) => {
      await w.connect('first', w.tokens.alice0!);
      await w.connect('second', w.tokens.alice0!);
      await w.connect('web', w.tokens.alice1!);
    },
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: {
      status: 200,
      body: OK,
      closed: {
        first: SOCKET_CLOSED.session_revoked,
        second: SOCKET_CLOSED.session_revoked,
        web: 'open',
      },
    },
    next: [{ request: (w) => upgrade(w.tokens.alice0), expect: { status: 401, body: LOGGED_OUT } }],
  },
  {
    name: "a WuKongIM conn/kick tells that one WuKongIM's disconnect, then closes it with 4006; the other stays open",
    family: 'socket',
    setup: async (w) => {
      await w.connect('first', w.tokens.alice1!);
      await w.connect('second', w.tokens.alice1!);
    },
    request: (w) => wk(CONN_KICK, { uid: 'alice01', conn_id: w.hello('first').conn_id }),
    expect: {
      status: 200,
      body: OK,
      closed: {
        first: {
          ...SOCKET_CLOSED.connection_kicked,
          told: ['{"type":"disconnect","reason_code":12,"reason":"server kick"}'],
        },
        second: 'open',
      },
      events: [{ action: 'kick_connection', uid: 'alice01', connectionsClosed: 1 }],
    },
    next: [
      {
        request: (w) => wk(CONN_KICK, { uid: 'alice01', conn_id: w.hello('first').conn_id }),
        expect: { status: 404, body: { msg: 'connection does not exist', status: 404 } },
      },
    ],
  },
  {
    name: 'a logged-out token cannot upgrade: 401 logged_out',
    family: 'socket',
    setup: async (w) => {
      await w.engine.logout(w.tokens.alice1!);
    },
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 401, body: LOGGED_OUT },
    unchanged: true,
  },
  {
    name: 'a kicked token cannot upgrade: 401 kicked; a new session can',
    family: 'socket',
    setup: async (w) => {
      await w.engine.kickUser('alice01');
    },
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 401, body: KICKED },
    unchanged: true,
    next: [
      {
        before: async (w) => {
          await w.login('fresh', 'alice01', 1);
        },
        request: (w) => upgrade(w.tokens.fresh),
        expect: { status: 101, body: { type: 'hello', conn_id: 1_000_000_001, node_id: 1 } },
      },
    ],
  },
  {
    name: 'an unknown token cannot upgrade: 401 unknown',
    family: 'socket',
    request: upgrade('no-such-token'),
    expect: { status: 401, body: UNKNOWN },
    unchanged: true,
  },
  {
    name: 'no token cannot upgrade: 401',
    family: 'socket',
    request: upgrade(),
    expect: { status: 401, body: NO_CREDENTIAL_UPGRADE },
    unchanged: true,
  },
  {
    name: 'a failing store refuses the upgrade with 503',
    family: 'socket',
    setup: (w) => w.store.inject('fail'),
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
  },
];

// ---- WuKongIM POST /user/token ----

const USER_TOKEN = '/user/token';
const oldToken = 'wk-token-for-alice01-0000';
const newToken = 'wk-token-for-alice01-0001';
const TOKEN_PROBLEM = 'token must be a non-empty string of at most 4096 characters';
const userTokenBad: [string, Record<string, unknown>, string][] = [
  ['no uid', { token: newToken, device_flag: 1 }, 'uid must be a string'],
  ['an empty token', { uid: 'alice01', token: '', device_flag: 1 }, TOKEN_PROBLEM],
  ['a token not a string', { uid: 'alice01', token: 7, device_flag: 1 }, TOKEN_PROBLEM],
  [
    'device_flag 256',
    { uid: 'alice01', token: newToken, device_flag: 256 },
    'device_flag must be an integer from 0 to 255',
  ],
  [
    'device_level 2',
    { uid: 'alice01', token: newToken, device_flag: 1, device_level: 2 },
    'device_level must be 0 (slave) or 1 (master)',
  ],
];

/** The device's token set before by /user/token, with a socket opened with it. */
const previousToken = (deviceFlag: number) => async (w: World) => {
  await w.engine.setDeviceToken({ uid: 'alice01', deviceFlag, token: oldToken, level: 'slave', graceMs: 0 });
  await w.connect('old', oldToken);
};

socket.push(
  {
    name: 'user/token (slave) makes the token the device’s credential in place of the one before (replaced, 4005); other sockets stay',
    family: 'socket',
    setup: async (w) => {
      await previousToken(1)(w);
      await w.connect('web', w.tokens.alice1!);
    },
    request: wk(USER_TOKEN, { uid: 'alice01', token: newToken, device_flag: 1, device_level: 0 }),
    expect: {
      status: 200,
      body: OK,
      closed: { old: SOCKET_CLOSED.replaced, web: 'open' },
    },
    next: [
      { request: guarded({ token: newToken }), expect: { status: 200, body: ALICE_WEB } },
      {
        request: guarded({ token: oldToken }),
        expect: {
          status: 401,
          body: {
            error: 'unauthorized',
            reason: 'replaced',
            message: 'logged in on another device; log in again',
          },
        },
      },
    ],
  },
  {
    name: 'user/token (master) also tells every other connection of the device and closes it after the grace (4006)',
    family: 'socket',
    setup: async (w) => {
      await previousToken(0)(w);
      await w.connect('app', w.tokens.alice0!);
      await w.connect('web', w.tokens.alice1!);
    },
    request: wk(USER_TOKEN, { uid: 'alice01', token: newToken, device_flag: 0, device_level: 1 }),
    expect: {
      status: 200,
      body: OK,
      closed: {
        old: SOCKET_CLOSED.replaced,
        app: {
          ...SOCKET_CLOSED.connection_kicked,
          told: ['{"type":"disconnect","reason_code":12,"reason":"server kick"}'],
        },
        web: 'open',
      },
    },
  },
  // At connect (WuKongIM's handleConnect, internal/user/handler/event_connect.go): a connection
  // opened with a master token closes the device's other connections (another device_id is told
  // "login in other device" first, and closed after the grace); a slave one closes only those of
  // its own device_id. Connections of other sessions on the device are not its business.
  {
    name: 'a connection with a master token closes the device’s earlier ones: another device is told first (4005), its own at once',
    family: 'socket',
    setup: async (w) => {
      await w.engine.setDeviceToken({
        uid: 'alice01',
        deviceFlag: 1,
        token: newToken,
        level: 'master',
        graceMs: 0,
      });
      await w.connect('phone', newToken, 'phone-1');
      await w.connect('again', newToken, 'tablet-1');
      await w.connect('web', w.tokens.alice1!, 'browser-1');
      await w.connect('app', w.tokens.alice0!, 'tablet-1');
    },
    request: upgrade(newToken, 'tablet-1'),
    expect: {
      status: 101,
      closed: {
        // Pushed out already by 'again' (another device), before this request.
        phone: {
          ...SOCKET_CLOSED.replaced,
          told: ['{"type":"disconnect","reason_code":12,"reason":"login in other device"}'],
        },
        again: { ...SOCKET_CLOSED.replaced, told: [] },
        web: 'open',
        app: 'open',
      },
    },
  },
  {
    name: 'a connection with a slave token closes only its own device’s earlier one; other devices stay',
    family: 'socket',
    setup: async (w) => {
      await w.engine.setDeviceToken({
        uid: 'alice01',
        deviceFlag: 1,
        token: newToken,
        level: 'slave',
        graceMs: 0,
      });
      await w.connect('tab1', newToken, 'tab-1');
      await w.connect('tab2', newToken, 'tab-2');
    },
    request: upgrade(newToken, 'tab-1'),
    expect: {
      status: 101,
      closed: { tab1: { ...SOCKET_CLOSED.replaced, told: [] }, tab2: 'open' },
    },
  },
  {
    name: 'a connection with a master token cannot be registered while the store is down: refused, nothing else closed',
    family: 'socket',
    setup: async (w) => {
      await w.engine.setDeviceToken({
        uid: 'alice01',
        deviceFlag: 1,
        token: newToken,
        level: 'master',
        graceMs: 0,
      });
      await w.connect('phone', newToken, 'phone-1');
      w.store.inject('fail', 'joinDevice');
    },
    request: upgrade(newToken, 'tablet-1'),
    expect: { status: 101, body: { close: 1011, reason: 'registration failed' }, closed: { phone: 'open' } },
  },
  ...userTokenBad.map(
    ([what, body, msg]): ContractCase => ({
      name: `user/token: ${what} answers 400 and changes nothing`,
      family: 'wukongim',
      request: wk(USER_TOKEN, body),
      expect: { status: 400, body: { msg, status: 400 } },
      unchanged: true,
    }),
  ),
);

/** Lancens (seed 002): the logout and the push-token routes. */
import { type PushTokenKind, StoreCorruptError } from '@evict/core';
import { bigJson } from '../../support/fixtures.js';
import { ALICE_APP, ALICE_WEB, json, LOGGED_OUT, lancens, OK, principal, sessionNow } from '../answers.js';
import { chunkedOver16KiB, del, logout, MESSAGE, RING } from '../requests.js';
import type { ContractBody, ContractCase, ContractRequest, World } from '../table.js';

const logoutBadBodies: [string, ContractBody | undefined, string][] = [
  ['username missing', { token: 'x' }, 'undefined username'],
  ['token missing', { username: 'alice01' }, 'undefined token'],
  ['both missing', {}, 'undefined username'],
  ['a username of 5 characters', { username: 'abcde', token: 'x' }, 'username length error'],
  ['a username of 33 characters', { username: 'a'.repeat(33), token: 'x' }, 'username length error'],
  ['an empty username', { username: '', token: 'x' }, 'username length error'],
  ['a username that is a number', { username: 1234567, token: 'x' }, 'username format error'],
  ['a null username', { username: null, token: 'x' }, 'username format error'],
  ['a username that is an array', { username: ['alice01'], token: 'x' }, 'username format error'],
  ['a username with a control character', { username: 'alice\u000101', token: 'x' }, 'username format error'],
  ['a token that is a number', { username: 'alice01', token: 123456 }, 'token format error'],
  ['a null token', { username: 'alice01', token: null }, 'token format error'],
  ['an empty token', { username: 'alice01', token: '' }, 'token format error'],
  ['a token over 4096 characters', { username: 'alice01', token: 'x'.repeat(4097) }, 'token format error'],
  ['a body that is not JSON', 'username=alice01&token=x', 'paramer error'],
  ['a JSON array', '[]', 'paramer error'],
  ['a JSON string', json('alice01'), 'paramer error'],
  ['an empty body', undefined, 'paramer error'],
  ['an unknown field', { username: 'alice01', token: 'x', device: 1 }, 'paramer error'],
  ['a __proto__ key', '{"username":"alice01","token":"x","__proto__":{}}', 'paramer error'],
  ['a constructor key', '{"username":"alice01","token":"x","constructor":{}}', 'paramer error'],
  ['a body over 16 KiB with Content-Length', bigJson({ username: 'alice01', token: 'x' }), 'paramer error'],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ username: 'alice01', token: 'x' }),
    'paramer error',
  ],
];

/** Ways a token stops being live, for the Lancens routes: what the setup does, and the token to send. */
const deadTokens: [string, (w: World) => Promise<string>][] = [
  ['an unknown token', async () => 'no-such-token'],
  [
    'a logged-out token',
    async (w) => {
      await w.engine.logout(w.tokens.alice0!);
      await w.engine.setPushToken('alice01', { kind: 'ring', token: 'ring-again', deviceFlag: 0 });
      await w.engine.setPushToken('alice01', { kind: 'message', token: 'message-again', deviceFlag: 0 });
      return w.tokens.alice0!;
    },
  ],
  [
    'a token of a kicked user',
    async (w) => {
      await w.engine.kickUser('alice01');
      return w.tokens.alice0!;
    },
  ],
];

/** Each dead token as a case for `request(token)`; `token` is filed under `dead`. */
const withDeadTokens = (label: string, request: (token: string) => ContractRequest): ContractCase[] =>
  deadTokens.map(([what, kill]) => ({
    name: `${label}: 401 invalid token for ${what}`,
    family: 'lancens' as const,
    setup: async (w) => {
      w.tokens.dead = await kill(w);
    },
    request: (w) => request(w.tokens.dead!),
    expect: { status: 401, body: lancens('invalid token'), pushTokens: { alice01: ['message', 'ring'] } },
    unchanged: true as const,
  }));

const clearRoutes: [string, PushTokenKind, PushTokenKind][] = [
  [RING, 'ring', 'message'],
  [MESSAGE, 'message', 'ring'],
];

const corruptSessions = (w: World) => {
  w.store.getSession = () => Promise.reject(new StoreCorruptError('unreadable session record'));
};

export const lancensCases: ContractCase[] = [
  {
    name: 'logout: 200 {"status":"ok"}; the token is revoked and both push tokens cleared',
    family: 'lancens',
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: {
      status: 200,
      body: OK,
      pushTokens: { alice01: [], bobby02: ['message', 'ring'] },
      events: [
        {
          action: 'logout',
          uid: 'alice01',
          deviceFlag: 0,
          pushTokenKinds: ['ring', 'message'],
          actor: { type: 'user', id: 'alice01' },
          endpoint: 'POST /v1/api/user/logout',
        },
      ],
    },
    next: [sessionNow('alice0', 401, LOGGED_OUT), sessionNow('alice1', 200, ALICE_WEB)],
  },
  {
    name: 'logout: a user with no push tokens',
    family: 'lancens',
    setup: async (w) => {
      await w.login('carol', 'carol03', 0);
    },
    request: (w) => logout({ username: 'carol03', token: w.tokens.carol! }),
    expect: { status: 200, body: OK, pushTokens: { carol03: [], alice01: ['message', 'ring'] } },
  },
  ...['abcdef', 'a'.repeat(32), 'ééééé1', '用户名六个字'].map(
    (username): ContractCase => ({
      name: `logout: a username of ${[...username].length} characters (${username.slice(0, 8)}…)`,
      family: 'lancens',
      setup: async (w) => {
        await w.login('user', username, 0);
      },
      request: (w) => logout({ username, token: w.tokens.user! }),
      expect: { status: 200, body: OK },
      next: [sessionNow('user', 401, LOGGED_OUT)],
    }),
  ),
  {
    name: 'logout: a JSON body sent as text/plain',
    family: 'lancens',
    request: (w) => ({
      ...logout(json({ username: 'alice01', token: w.tokens.alice0! })),
      headers: { 'content-type': 'text/plain' },
    }),
    expect: { status: 200, body: OK },
  },
  ...logoutBadBodies.map(
    ([what, body, error]): ContractCase => ({
      name: `logout: 400 ${error} for ${what}`,
      family: 'lancens',
      request: logout(body),
      expect: { status: 400, body: lancens(error) },
      unchanged: true,
      next: [sessionNow('alice0', 200, ALICE_APP)],
    }),
  ),
  {
    name: 'logout: 400 for a malformed username even with a live token',
    family: 'lancens',
    request: (w) => logout({ username: 'abc', token: w.tokens.alice0! }),
    expect: { status: 400, body: lancens('username length error') },
    unchanged: true,
  },
  {
    name: 'logout: 401 invalid token for a well-formed token of exactly 4096 characters',
    family: 'lancens',
    request: logout({ username: 'alice01', token: 'x'.repeat(4096) }),
    expect: { status: 401, body: lancens('invalid token') },
    unchanged: true,
  },
  ...withDeadTokens('logout', (token) => logout({ username: 'alice01', token })),
  {
    name: 'logout: 401 invalid token for a token of another user',
    family: 'lancens',
    request: (w) => logout({ username: 'alice01', token: w.tokens.bob0! }),
    expect: {
      status: 401,
      body: lancens('invalid token'),
      pushTokens: { alice01: ['message', 'ring'], bobby02: ['message', 'ring'] },
    },
    unchanged: true,
    next: [sessionNow('bob0', 200, principal('bobby02', 0, 'session'))],
  },
  {
    name: 'logout: 401 invalid token for an expired token',
    family: 'lancens',
    setup: async (w) => {
      await w.login('short', 'alice01', 2, 1000);
      w.clock.advance(1000);
    },
    request: (w) => logout({ username: 'alice01', token: w.tokens.short! }),
    expect: { status: 401, body: lancens('invalid token') },
    unchanged: true,
  },
  {
    name: 'logout: 500 {"error":10001} when the store fails; the retry once it heals finishes',
    family: 'lancens',
    setup: (w) => w.store.inject('fail'),
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 500, body: lancens(10001) },
    unchanged: true,
    next: [
      { before: (w) => w.store.heal(), ...sessionNow('alice0', 200, ALICE_APP) },
      {
        request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
        expect: { status: 200, body: OK },
      },
      sessionNow('alice0', 401, LOGGED_OUT),
    ],
  },
  {
    name: 'logout: 500 {"error":10001} when the store fails half-way (revoke fails); the session stays live, the retry revokes',
    family: 'lancens',
    setup: (w) => w.store.inject('fail', 'revokeSession'),
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 500, body: lancens(10001), events: [] },
    next: [
      { before: (w) => w.store.heal(), ...sessionNow('alice0', 200, ALICE_APP) },
      {
        request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
        expect: { status: 200, body: OK },
      },
      sessionNow('alice0', 401, LOGGED_OUT),
    ],
  },
  {
    name: 'logout: 500 no data error when the store answers a record it cannot read',
    family: 'lancens',
    setup: corruptSessions,
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 500, body: lancens('no data error') },
    unchanged: true,
  },
  ...clearRoutes.flatMap(([path, cleared, kept]): ContractCase[] => [
    {
      name: `DELETE ${path}: 200, clears only the ${cleared} token; the session stays live`,
      family: 'lancens',
      request: (w) => del(path, w.tokens.alice0!),
      expect: {
        status: 200,
        body: OK,
        pushTokens: { alice01: [kept], bobby02: ['message', 'ring'] },
        events: [
          {
            action: 'clear_push_token',
            uid: 'alice01',
            pushTokenKinds: [cleared],
            actor: { type: 'user', id: 'alice01' },
            endpoint: `DELETE ${path}`,
          },
        ],
      },
      next: [
        sessionNow('alice0', 200, ALICE_APP),
        { request: (w) => del(path, w.tokens.alice0!), expect: { status: 200, body: OK } },
      ],
    },
    {
      name: `DELETE ${path}: 401 no token without the header`,
      family: 'lancens',
      request: del(path),
      expect: { status: 401, body: lancens('no token') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 401 no token for an empty header`,
      family: 'lancens',
      request: del(path, ''),
      expect: { status: 401, body: lancens('no token') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 401 no token for a bearer token (not the seed's header)`,
      family: 'lancens',
      request: (w) => ({ method: 'DELETE', path, headers: { authorization: `Bearer ${w.tokens.alice0}` } }),
      expect: { status: 401, body: lancens('no token') },
      unchanged: true,
    },
    ...withDeadTokens(`DELETE ${path}`, (token) => del(path, token)),
    {
      name: `DELETE ${path}: 401 invalid token for a token over 4096 characters`,
      family: 'lancens',
      request: del(path, 'x'.repeat(4097)),
      expect: { status: 401, body: lancens('invalid token') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 500 {"error":10001} when the store fails`,
      family: 'lancens',
      setup: (w) => w.store.inject('fail'),
      request: (w) => del(path, w.tokens.alice0!),
      expect: { status: 500, body: lancens(10001) },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 500 no data error when the store answers a record it cannot read`,
      family: 'lancens',
      setup: corruptSessions,
      request: (w) => del(path, w.tokens.alice0!),
      expect: { status: 500, body: lancens('no data error') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: a body is ignored`,
      family: 'lancens',
      request: (w) => del(path, w.tokens.alice0!, { body: 'not json' }),
      expect: { status: 200, body: OK },
    },
  ]),
];

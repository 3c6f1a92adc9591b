/** Who is online: WuKongIM's `POST /user/onlinestatus` and Tencent's `POST /v4/openim/query_online_status`. */
import { ADMIN, MANAGER_TOKEN, OTHER_KEY } from '../../support/fixtures.js';
import { fail, invalid, wkError } from '../answers.js';
import { CONNZ, ONLINE_STATUS, queryOnlineStatus, wk } from '../requests.js';
import type { ContractBody, ContractCase, ContractRequest, World } from '../table.js';

/** alice01: two sockets on the web (device 1) and one on the app (device 0); bobby02: none, push tokens on device 0. */
async function aliceOnline(w: World): Promise<void> {
  await w.connect('web1', w.tokens.alice1!);
  await w.connect('web2', w.tokens.alice1!);
  await w.connect('app', w.tokens.alice0!);
}

const TOO_MANY = Array.from({ length: 501 }, (_, i) => `user${i}`);

const onlineStatusBadBodies: [string, ContractBody | undefined, string][] = [
  ['no body', undefined, 'request body is empty'],
  ['not JSON', '["alice01"', 'request body is not valid JSON'],
  ['an object', { uids: ['alice01'] }, 'the body must be an array of user ids'],
  ['a string', '"alice01"', 'the body must be an array of user ids'],
  ['501 uids', JSON.stringify(TOO_MANY), 'the body must hold at most 500 user ids'],
  ['a number among them', '["alice01", 7]', 'the body [1] must be a string'],
  ['an empty uid', '["alice01", ""]', 'the body [1] must not be empty'],
  ['a repeated uid', '["alice01", "alice01"]', 'the body must not repeat a user id'],
];

const queryBadBodies: [string, ContractBody | undefined, unknown][] = [
  ['To_Account missing', { IsNeedDetail: 1 }, invalid('To_Account is required')],
  ['To_Account not an array', { To_Account: 'alice01' }, invalid('To_Account must be an array of user ids')],
  ['To_Account empty', { To_Account: [] }, invalid('To_Account must not be empty')],
  ['501 accounts', { To_Account: TOO_MANY }, invalid('To_Account must hold at most 500 user ids')],
  [
    'a repeated account',
    { To_Account: ['alice01', 'alice01'] },
    invalid('To_Account must not repeat a user id'),
  ],
  ['an account not a string', { To_Account: ['alice01', null] }, invalid('To_Account [1] must be a string')],
  ['IsNeedDetail 2', { To_Account: ['alice01'], IsNeedDetail: 2 }, invalid('IsNeedDetail must be 0 or 1')],
  [
    'IsNeedDetail "1"',
    { To_Account: ['alice01'], IsNeedDetail: '1' },
    invalid('IsNeedDetail must be 0 or 1'),
  ],
  ['an unknown field', { To_Account: ['alice01'], Extra: 1 }, invalid('unknown field "Extra"')],
  ['not JSON', '{"To_Account": [', fail(60003, 'request body is not valid JSON')],
];

const OK_HEAD = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };

export const presence: ContractCase[] = [
  {
    name: 'onlinestatus: a row per live connection, device flags in order; offline and unknown users absent',
    family: 'wukongim',
    setup: aliceOnline,
    request: wk(ONLINE_STATUS, '["nobody", "bobby02", "alice01"]'),
    expect: {
      status: 200,
      body: [
        { uid: 'alice01', device_flag: 0, online: 1 },
        { uid: 'alice01', device_flag: 1, online: 1 },
        { uid: 'alice01', device_flag: 1, online: 1 },
      ],
    },
    unchanged: true,
  },
  {
    name: 'onlinestatus: an empty list answers an empty list',
    family: 'wukongim',
    request: wk(ONLINE_STATUS, '[]'),
    expect: { status: 200, body: [] },
    unchanged: true,
  },
  {
    name: 'onlinestatus: without the manager token, 401 and nothing read',
    family: 'wukongim',
    request: wk(ONLINE_STATUS, '["alice01"]', null),
    expect: { status: 401 },
    unchanged: true,
  },
  ...onlineStatusBadBodies.map(
    ([what, body, msg]): ContractCase => ({
      name: `onlinestatus: ${what} answers 400`,
      family: 'wukongim',
      request: wk(ONLINE_STATUS, body),
      expect: { status: 400, body: wkError(400, msg) },
      unchanged: true,
    }),
  ),
  {
    name: 'query_online_status: Online, PushOnline, Offline, and 70107 for an account that does not exist',
    family: 'tencent',
    setup: async (w) => {
      await aliceOnline(w);
      await w.login('carol', 'carol03', 2);
    },
    request: queryOnlineStatus({ To_Account: ['alice01', 'bobby02', 'carol03', 'nobody'] }),
    expect: {
      status: 200,
      body: {
        ...OK_HEAD,
        QueryResult: [
          { To_Account: 'alice01', Status: 'Online' },
          { To_Account: 'bobby02', Status: 'PushOnline' },
          { To_Account: 'carol03', Status: 'Offline' },
        ],
        ErrorList: [{ To_Account: 'nobody', ErrorCode: 70107 }],
      },
    },
    unchanged: 'but the rate counter',
  },
  {
    name: 'query_online_status: IsNeedDetail 1 names each platform online, or reachable by push',
    family: 'tencent',
    setup: aliceOnline,
    request: queryOnlineStatus({ To_Account: ['alice01', 'bobby02'], IsNeedDetail: 1 }),
    expect: {
      status: 200,
      body: {
        ...OK_HEAD,
        QueryResult: [
          {
            To_Account: 'alice01',
            Status: 'Online',
            Detail: [
              { Platform: 'Android', Status: 'Online' },
              { Platform: 'Web', Status: 'Online' },
            ],
          },
          {
            To_Account: 'bobby02',
            Status: 'PushOnline',
            Detail: [{ Platform: 'Android', Status: 'PushOnline' }],
          },
        ],
        ErrorList: [],
      },
    },
    unchanged: 'but the rate counter',
  },
  {
    name: 'query_online_status: a kick takes the user offline at once',
    family: 'tencent',
    setup: async (w) => {
      await aliceOnline(w);
      await w.engine.kickUser('alice01');
    },
    request: queryOnlineStatus({ To_Account: ['alice01'] }),
    // Kicked: no connection left, and the push tokens stay (a kick does not clear them).
    expect: {
      status: 200,
      body: { ...OK_HEAD, QueryResult: [{ To_Account: 'alice01', Status: 'PushOnline' }], ErrorList: [] },
    },
    unchanged: 'but the rate counter',
  },
  {
    name: 'query_online_status: a UserSig signed with another key answers 70003 and reads nothing',
    family: 'tencent',
    request: (w) =>
      queryOnlineStatus({ To_Account: ['alice01'] }, { usersig: w.sig(ADMIN, { key: OTHER_KEY }) })(w),
    expect: { status: 200, body: fail(70003, 'usersig is invalid') },
    unchanged: true,
  },
  ...queryBadBodies.map(
    ([what, body, answer]): ContractCase => ({
      name: `query_online_status: ${what} answers ${(answer as { ErrorCode: number }).ErrorCode}`,
      family: 'tencent',
      request: queryOnlineStatus(body),
      expect: { status: 200, body: answer },
      unchanged: 'but the rate counter',
    }),
  ),
];

// ---- GET /connz ----

const START_MS = Date.UTC(2026, 0, 1, 12, 0, 0) + 1_000; // the world's clock once set up
const connz = (
  query: Record<string, string | undefined>,
  token: string | null = MANAGER_TOKEN,
): ContractRequest => ({
  method: 'GET',
  path: CONNZ,
  query,
  ...(token === null ? {} : { headers: { token } }),
});

/**
 * alice01: connections 11 (app) and 12, 13 (web), 46, 45 and 0 seconds old (within the node's ttl),
 * 12 registered with its device id and address; bobby02: one.
 */
async function aliceConnected(w: World): Promise<void> {
  await w.simulate('a', { uid: 'alice01', deviceFlag: 0, connId: 11 });
  w.clock.advance(1_000);
  await w.simulate('b', {
    uid: 'alice01',
    deviceFlag: 1,
    connId: 12,
    deviceId: 'tab-7f3a',
    ip: '203.0.113.9',
    port: 51_234,
  });
  w.clock.advance(45_000);
  await w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 13 });
  await w.simulate('bob', { uid: 'bobby02', deviceFlag: 0, connId: 14 });
}
const NOW = new Date(START_MS + 46_000).toISOString();
const row = (id: number, device: string, uptime: string) => ({
  id,
  uid: 'alice01',
  ...(id === 12 ? { ip: '203.0.113.9', port: 51_234 } : { ip: '', port: 0 }),
  uptime,
  device,
  device_id: id === 12 ? 'tab-7f3a' : '',
  proxy_type_format: '本地连接',
  node_id: 1,
});

const connzBadQueries: [string, Record<string, string>, string][] = [
  ['no uid', {}, 'uid is required'],
  ['an empty uid', { uid: '' }, 'uid is required'],
  ['limit 0', { uid: 'alice01', limit: '0' }, 'limit must be an integer from 1 to 1000'],
  ['limit 1001', { uid: 'alice01', limit: '1001' }, 'limit must be an integer from 1 to 1000'],
  ['a negative offset', { uid: 'alice01', offset: '-1' }, 'offset must be an integer from 0 to 1000000'],
  ['offset not a number', { uid: 'alice01', offset: 'x' }, 'offset must be an integer from 0 to 1000000'],
  [
    'node_id not a number',
    { uid: 'alice01', node_id: '1.5' },
    `node_id must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`,
  ],
  [
    'a sort evict cannot do',
    { uid: 'alice01', sort: 'inMsg' },
    'sort must be one of id, idDesc, uptime, uptimeDesc',
  ],
];

presence.push(
  {
    name: 'connz: the user’s live connections by id, formatted as WuKongIM’s connz handler',
    family: 'wukongim',
    setup: aliceConnected,
    request: connz({ uid: 'alice01' }),
    expect: {
      status: 200,
      body: {
        connections: [row(11, 'App(从)', '46s'), row(12, 'Web(从)', '45s'), row(13, 'Web(从)', '0s')],
        now: NOW,
        total: 3,
        offset: 0,
        limit: 20,
      },
    },
    unchanged: true,
  },
  {
    // WuKongIM's device() (internal/api/connz.go): 主 for a master connection, 从 for a slave and
    // for one whose token carried no level (event_connect.go gives those the slave level).
    name: 'connz: a connection opened with a /user/token token shows its device level (主 master, 从 slave or none)',
    family: 'wukongim',
    setup: async (w) => {
      const levelled = { master: 'wk-token-alice01-master', slave: 'wk-token-alice01-slave' };
      await w.engine.setDeviceToken({
        uid: 'alice01',
        deviceFlag: 1,
        token: levelled.master,
        level: 'master',
        graceMs: 0,
      });
      await w.engine.setDeviceToken({
        uid: 'alice01',
        deviceFlag: 0,
        token: levelled.slave,
        level: 'slave',
        graceMs: 0,
      });
      const connect = (connId: number, deviceFlag: number, token?: string) =>
        w.simulate(`conn${connId}`, {
          uid: 'alice01',
          deviceFlag,
          connId,
          ...(token === undefined ? {} : { credential: { type: 'session', token } }),
        });
      await connect(21, 1, levelled.master);
      await connect(22, 0, levelled.slave);
      await connect(23, 2);
    },
    request: connz({ uid: 'alice01' }),
    expect: {
      status: 200,
      body: {
        connections: [
          [21, 'Web(主)'],
          [22, 'App(从)'],
          [23, 'PC(从)'],
        ].map(([id, device]) => ({
          id,
          uid: 'alice01',
          ip: '',
          port: 0,
          uptime: '0s',
          device,
          device_id: '',
          proxy_type_format: '本地连接',
          node_id: 1,
        })),
        now: new Date(START_MS).toISOString(),
        total: 3,
        offset: 0,
        limit: 20,
      },
    },
    unchanged: true,
  },
  {
    name: 'connz: a page of them, newest first (sort uptimeDesc), on one node',
    family: 'wukongim',
    setup: aliceConnected,
    request: connz({ uid: 'alice01', sort: 'uptimeDesc', offset: '1', limit: '1', node_id: '1' }),
    expect: {
      status: 200,
      body: { connections: [row(12, 'Web(从)', '45s')], now: NOW, total: 3, offset: 1, limit: 1 },
    },
    unchanged: true,
  },
  {
    name: 'connz: another node’s id lists none here; an unknown user has none',
    family: 'wukongim',
    setup: aliceConnected,
    request: connz({ uid: 'alice01', node_id: '2' }),
    expect: { status: 200, body: { connections: [], now: NOW, total: 0, offset: 0, limit: 20 } },
    unchanged: true,
    next: [
      {
        request: connz({ uid: 'nobody' }),
        expect: { status: 200, body: { connections: [], now: NOW, total: 0, offset: 0, limit: 20 } },
      },
    ],
  },
  {
    name: 'connz: without the manager token, 401',
    family: 'wukongim',
    request: connz({ uid: 'alice01' }, null),
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  ...connzBadQueries.map(
    ([what, query, msg]): ContractCase => ({
      name: `connz: ${what} answers 400`,
      family: 'wukongim',
      request: connz(query),
      expect: { status: 400, body: wkError(400, msg) },
      unchanged: true,
    }),
  ),
);

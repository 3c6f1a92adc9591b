/** Tencent Cloud IM (seed 003): the kick. */
import { expect } from 'vitest';
import { ADMIN, bigJson, OPS, OTHER_KEY, SDKAPPID } from '../../support/fixtures.js';
import {
  ALICE_APP,
  ALICE_WEB,
  fail,
  invalid,
  json,
  KICKED,
  kickEvent,
  principal,
  RANDOM_MSG,
  SOCKET_CLOSED,
  sessionNow,
  TENCENT_INTERNAL,
  TENCENT_OK,
  TENCENT_TIMEOUT,
  tamper,
} from '../answers.js';
import { chunkedOver16KiB, kick, kickWith } from '../requests.js';
import type { ContractBody, ContractCase, World } from '../table.js';

const kickParamErrors: [string, Record<string, string | undefined>, string][] = [
  ['identifier missing', { identifier: undefined }, 'identifier is required'],
  ['identifier empty', { identifier: '' }, 'identifier is required'],
  ['random missing', { random: undefined }, RANDOM_MSG],
  ['random empty', { random: '' }, RANDOM_MSG],
  ['random over 4294967295', { random: '4294967296' }, RANDOM_MSG],
  ['random with 11 digits', { random: '00000000001' }, RANDOM_MSG],
  ['random negative', { random: '-1' }, RANDOM_MSG],
  ['random not a number', { random: 'abc' }, RANDOM_MSG],
  ['random a fraction', { random: '1.5' }, RANDOM_MSG],
  ['contenttype not json', { contenttype: 'xml' }, 'contenttype must be json'],
];

const kickBodyErrors: [string, ContractBody | undefined, string][] = [
  [
    'both Identifier and UserID',
    { Identifier: 'alice01', UserID: 'alice01' },
    'give Identifier or UserID, not both',
  ],
  ['Identifier missing', {}, 'Identifier is required'],
  ['Identifier null', { Identifier: null }, 'Identifier is required'],
  ['Identifier a number', { Identifier: 42 }, 'Identifier must be a string'],
  ['UserID an array', { UserID: ['alice01'] }, 'Identifier must be a string'],
  ['Identifier empty', { Identifier: '' }, 'Identifier must not be empty'],
  [
    'Identifier over 255 bytes',
    { Identifier: 'a'.repeat(256) },
    'Identifier must be at most 255 bytes of UTF-8',
  ],
  [
    'Identifier with a control character',
    { Identifier: 'ali\tce' },
    'Identifier must not contain control characters',
  ],
  ['an unknown field', { Identifier: 'alice01', Reason: 'spam' }, 'unknown field "Reason"'],
  ['a lowercase field', { identifier: 'alice01' }, 'unknown field "identifier"'],
  ['a __proto__ key', '{"Identifier":"alice01","__proto__":{"UserID":"bob"}}', 'unknown field "__proto__"'],
  ['a constructor key', '{"Identifier":"alice01","constructor":{}}', 'unknown field "constructor"'],
  ['a JSON array', [{ Identifier: 'alice01' }], 'request body must be a JSON object'],
  ['a JSON string', json('alice01'), 'request body must be a JSON object'],
  ['a JSON number', '7', 'request body must be a JSON object'],
  ['JSON null', 'null', 'request body must be a JSON object'],
  ['an empty body', undefined, 'request body is empty'],
  [
    'a body over 16 KiB with Content-Length',
    bigJson({ Identifier: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ Identifier: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
];

const badSigs: [string, (w: World) => string | undefined, string][] = [
  ['missing', () => undefined, 'usersig is invalid: usersig is required'],
  ['empty', () => '', 'usersig is invalid: usersig is required'],
  ['tampered', (w) => tamper(w.sig(ADMIN)), 'usersig is invalid'],
  ['truncated', (w) => w.sig(ADMIN).slice(0, -10), 'usersig is invalid'],
  ['garbage', () => 'not-a-usersig!!', 'usersig is invalid'],
  [
    'base64 of garbage',
    () => Buffer.from('hello world').toString('base64').replace(/=/g, '_'),
    'usersig is invalid',
  ],
  ['signed with another key', (w) => w.sig(ADMIN, { key: OTHER_KEY }), 'usersig is invalid'],
  [
    'of another key and another app',
    (w) => w.sig(ADMIN, { key: OTHER_KEY, sdkAppId: 1400000002 }),
    'usersig is invalid',
  ],
];

/** Three successful kicks in the first 300 ms of a second (the limit is 3 a second). */
async function spendTheRateLimit(w: World): Promise<void> {
  for (let i = 0; i < 3; i += 1) {
    w.clock.advance(100);
    const answer = await w.send(kick({ Identifier: 'alice01' })(w));
    expect(answer.text).toBe(TENCENT_OK);
  }
  w.clock.advance(699); // the last millisecond of the same second
}

export const tencent: ContractCase[] = [
  ...(['Identifier', 'UserID'] as const).map(
    (field): ContractCase => ({
      name: `kick {"${field}"} with a UserSig from tls-sig-api-v2: 200, byte-exact OK; the sessions are out`,
      family: 'tencent',
      request: kick({ [field]: 'alice01' }),
      expect: { status: 200, body: TENCENT_OK, events: [kickEvent('alice01')] },
      next: [
        sessionNow('alice0', 401, KICKED),
        sessionNow('alice1', 401, KICKED),
        sessionNow('bob0', 200, principal('bobby02', 0, 'session')),
      ],
    }),
  ),
  {
    name: 'kick: a user known only through engine.addUser (account import)',
    family: 'tencent',
    setup: (w) => w.engine.addUser('carol03'),
    request: kick({ Identifier: 'carol03' }),
    expect: { status: 200, body: TENCENT_OK, events: [kickEvent('carol03')] },
  },
  {
    name: 'kick: without contenttype',
    family: 'tencent',
    request: kick({ Identifier: 'alice01' }, { contenttype: undefined }),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: "kick: the README's curl -d (Content-Type application/x-www-form-urlencoded) is read as JSON",
    family: 'tencent',
    request: (w) => ({
      ...kick('{"Identifier": "alice01"}')(w),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
    expect: { status: 200, body: TENCENT_OK },
  },
  ...['0', '4294967295'].map(
    (random): ContractCase => ({
      name: `kick: random ${random}`,
      family: 'tencent',
      request: kick({ Identifier: 'alice01' }, { random }),
      expect: { status: 200, body: TENCENT_OK },
    }),
  ),
  {
    name: "kick: a UserSig made by evict's own signUserSig",
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ usersig: w.sig(ADMIN, { signer: 'evict' }) })),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: 'kick: by the second admin',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ identifier: OPS, usersig: w.sig(OPS) })),
    expect: { status: 200, body: TENCENT_OK, events: [kickEvent('alice01', OPS)] },
  },
  {
    name: 'kick: every live connection of the user closes with 4001',
    family: 'tencent',
    setup: async (w) => {
      await w.simulate('app', { uid: 'alice01', deviceFlag: 0 });
      await w.simulate('pc', { uid: 'alice01', deviceFlag: 2 });
      await w.simulate('bob', { uid: 'bobby02', deviceFlag: 0 });
    },
    request: kick({ Identifier: 'alice01' }),
    expect: {
      status: 200,
      body: TENCENT_OK,
      closed: { app: SOCKET_CLOSED.kicked, pc: SOCKET_CLOSED.kicked, bob: 'open' },
      events: [{ ...kickEvent('alice01'), connectionsClosed: 2 }],
    },
  },
  {
    name: 'kick: 60003 for a body that is not JSON',
    family: 'tencent',
    request: kick('{"Identifier": "alice01"'),
    expect: { status: 200, body: fail(60003, 'request body is not valid JSON') },
    unchanged: 'but the rate counter',
  },
  {
    name: 'kick: 60003 for a body that is not UTF-8',
    family: 'tencent',
    request: kick(Buffer.from([0x7b, 0xff, 0x7d])),
    expect: { status: 200, body: fail(60003, 'request body is not valid JSON') },
    unchanged: 'but the rate counter',
  },
  ...(
    [
      ['missing', undefined],
      ['of another app', '1400000002'],
      ['empty', ''],
      ['with a leading zero', `0${SDKAPPID}`],
      ['not a number', 'abc'],
    ] as const
  ).map(
    ([what, sdkappid]): ContractCase => ({
      name: `kick: 60006 for sdkappid ${what}`,
      family: 'tencent',
      request: kick({ Identifier: 'alice01' }, { sdkappid }),
      expect: { status: 200, body: fail(60006, 'SDKAppID is invalid') },
      unchanged: true,
    }),
  ),
  {
    name: 'kick: 60007 over the rate limit (the 4th call of a second); the next second works again',
    family: 'tencent',
    options: { rateLimitPerSecond: 3 },
    setup: spendTheRateLimit,
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: fail(60007, 'REST API call frequency exceeds the limit') },
    unchanged: 'but the rate counter',
    next: [
      {
        before: async (w) => {
          await w.login('fresh', 'alice01', 1);
        },
        request: kick({ Identifier: 'alice01' }),
        expect: { status: 200, body: fail(60007, 'REST API call frequency exceeds the limit') },
      },
      // A rejected call did not kick.
      sessionNow('fresh', 200, ALICE_WEB),
      {
        before: (w) => w.clock.advance(1),
        request: kick({ Identifier: 'alice01' }),
        expect: { status: 200, body: TENCENT_OK },
      },
    ],
  },
  {
    name: 'kick: calls that fail authentication do not count against the rate limit',
    family: 'tencent',
    options: { rateLimitPerSecond: 1 },
    setup: async (w) => {
      for (let i = 0; i < 3; i += 1) {
        const answer = await w.send(
          kick({ Identifier: 'alice01' }, { usersig: w.sig(ADMIN, { key: OTHER_KEY }) })(w),
        );
        expect(JSON.parse(answer.text)).toEqual(fail(70003, 'usersig is invalid'));
      }
    },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: 'kick: 70001 for an expired UserSig from tls-sig-api-v2',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      usersig: w.sig(ADMIN, { secondsAgo: 5, expireSec: 1 }),
    })),
    expect: { status: 200, body: fail(70001, 'usersig is expired') },
    unchanged: true,
  },
  {
    name: 'kick: 70001 for a UserSig whose hour is over',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      usersig: w.sig(ADMIN, { secondsAgo: 3600, expireSec: 3600 }),
    })),
    expect: { status: 200, body: fail(70001, 'usersig is expired') },
    unchanged: true,
  },
  ...badSigs.map(
    ([what, usersig, info]): ContractCase => ({
      name: `kick: 70003 for a usersig ${what}`,
      family: 'tencent',
      request: kickWith({ Identifier: 'alice01' }, (w) => ({ usersig: usersig(w) })),
      expect: { status: 200, body: fail(70003, info) },
      unchanged: true,
    }),
  ),
  {
    name: 'kick: 70003 for a UserSig issued more than 5 minutes in the future',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ usersig: w.sig(ADMIN, { secondsAgo: -600 }) })),
    expect: { status: 200, body: fail(70003, 'usersig is invalid') },
    unchanged: true,
  },
  {
    name: "kick: 70013 when the identifier is not the UserSig's",
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ identifier: OPS, usersig: w.sig(ADMIN) })),
    expect: { status: 200, body: fail(70013, 'identifier does not match the usersig') },
    unchanged: true,
  },
  {
    name: 'kick: 70014 for a UserSig of another sdkappid made with the same key',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      usersig: w.sig(ADMIN, { sdkAppId: 1400000002 }),
    })),
    expect: { status: 200, body: fail(70014, 'sdkappid does not match the usersig') },
    unchanged: true,
  },
  {
    name: "kick: 70052 for a kicked admin's UserSig made at or before the kick; a newer one works",
    family: 'tencent',
    setup: async (w) => {
      await w.engine.addUser(ADMIN);
      const kickedAdmin = await w.send(kick({ Identifier: ADMIN })(w));
      expect(kickedAdmin.text).toBe(TENCENT_OK);
    },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: fail(70052, 'usersig has been invalidated') },
    unchanged: 'but the rate counter',
    next: [
      sessionNow('alice0', 200, ALICE_APP),
      {
        before: (w) => w.clock.advance(1000),
        request: kick({ Identifier: 'alice01' }),
        expect: { status: 200, body: TENCENT_OK },
      },
    ],
  },
  {
    name: 'kick: 70107 for a user that does not exist',
    family: 'tencent',
    request: kick({ Identifier: 'nobody' }),
    expect: { status: 200, body: fail(70107, 'the requested account does not exist') },
    unchanged: 'but the rate counter',
  },
  {
    name: 'kick: 70107 for a well-formed Identifier of exactly 255 bytes',
    family: 'tencent',
    request: kick({ Identifier: 'a'.repeat(255) }),
    expect: { status: 200, body: fail(70107, 'the requested account does not exist') },
    unchanged: 'but the rate counter',
  },
  ...kickParamErrors.map(
    ([what, query, detail]): ContractCase => ({
      name: `kick: 70402 for ${what}`,
      family: 'tencent',
      request: kick({ Identifier: 'alice01' }, query),
      expect: { status: 200, body: invalid(detail) },
      unchanged: 'but the rate counter',
    }),
  ),
  ...kickBodyErrors.map(
    ([what, body, detail]): ContractCase => ({
      name: `kick: 70402 for ${what}`,
      family: 'tencent',
      request: kick(body),
      expect: { status: 200, body: invalid(detail) },
      unchanged: 'but the rate counter',
      next: [sessionNow('alice0', 200, ALICE_APP)],
    }),
  ),
  {
    name: 'kick: 70403 for a valid UserSig of an identifier that is not an admin',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      identifier: 'bobby02',
      usersig: w.sig('bobby02'),
    })),
    expect: { status: 200, body: fail(70403, 'the request requires App admin rights') },
    unchanged: true,
  },
  {
    name: 'kick: 70403 for an admin of another configuration',
    family: 'tencent',
    options: { admins: [OPS] },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: fail(70403, 'the request requires App admin rights') },
    unchanged: true,
  },
  ...(['hit', 'getUser', 'raiseCutoff'] as const).map(
    (method): ContractCase => ({
      name: `kick: 70500 when the store fails (${method})`,
      family: 'tencent',
      setup: (w) => w.store.inject('fail', method),
      request: kick({ Identifier: 'alice01' }),
      expect: { status: 200, body: TENCENT_INTERNAL },
      unchanged: 'but the rate counter',
      next: [{ before: (w) => w.store.heal(), ...sessionNow('alice0', 200, ALICE_APP) }],
    }),
  ),
  {
    name: 'kick: 70500 when every store call fails',
    family: 'tencent',
    setup: (w) => w.store.inject('fail'),
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_INTERNAL },
    unchanged: true,
  },
  {
    name: 'kick: 70169 when the store hangs past storeTimeoutMs',
    family: 'tencent',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_TIMEOUT },
    unchanged: true,
  },
  {
    name: 'kick: 70169 when the cutoff write hangs past storeTimeoutMs',
    family: 'tencent',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang', 'raiseCutoff'),
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_TIMEOUT },
    unchanged: 'but the rate counter',
  },
];

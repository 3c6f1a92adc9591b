/** The guard on the host's route: sessions, UserSigs and the host's own credential. */
import { OTHER_KEY } from '../../support/fixtures.js';
import {
  ALICE_APP,
  ALICE_WEB,
  DEVICE_QUIT_REJECTED,
  EXPIRED,
  json,
  KICKED,
  LOGGED_OUT,
  NO_CREDENTIAL,
  principal,
  sessionNow,
  UNAVAILABLE,
  UNKNOWN,
  usersigRejected,
} from '../answers.js';
import { asClaims, asSession, asUserSig, guarded } from '../requests.js';
import type { ContractCase } from '../table.js';

export const guard: ContractCase[] = [
  {
    name: '200 with the principal, from the token header',
    family: 'guard',
    request: asSession('alice1'),
    expect: { status: 200, body: ALICE_WEB },
    unchanged: true,
  },
  ...['Bearer', 'bearer', 'BEARER'].map(
    (scheme): ContractCase => ({
      name: `200 from Authorization: ${scheme}`,
      family: 'guard',
      request: (w) => guarded({ authorization: `${scheme} ${w.tokens.alice1}` }),
      expect: { status: 200, body: ALICE_WEB },
      unchanged: true,
    }),
  ),
  {
    name: '?token= is not read on HTTP routes (only upgrade checks read it)',
    family: 'guard',
    request: (w) => guarded({}, { token: w.tokens.alice1 }),
    expect: { status: 401, body: NO_CREDENTIAL },
    unchanged: true,
  },
  {
    name: '401 kicked',
    family: 'guard',
    setup: async (w) => {
      await w.engine.kickUser('alice01');
    },
    request: asSession('alice1'),
    expect: { status: 401, body: KICKED },
    unchanged: true,
  },
  {
    name: '401 device_quit, for the quit device only',
    family: 'guard',
    setup: async (w) => {
      await w.engine.quitDevice('alice01', 1);
    },
    request: (w) => guarded({ authorization: `Bearer ${w.tokens.alice1}` }),
    expect: { status: 401, body: DEVICE_QUIT_REJECTED },
    unchanged: true,
    next: [sessionNow('alice0', 200, ALICE_APP)],
  },
  {
    name: '401 logged_out',
    family: 'guard',
    setup: async (w) => {
      await w.engine.logout(w.tokens.alice1!);
    },
    request: asSession('alice1'),
    expect: { status: 401, body: LOGGED_OUT },
    unchanged: true,
  },
  {
    name: '401 expired, a session past its lifetime',
    family: 'guard',
    setup: async (w) => {
      await w.login('short', 'alice01', 2, 5000);
      w.clock.advance(5000);
    },
    request: asSession('short'),
    expect: { status: 401, body: EXPIRED },
    unchanged: true,
  },
  {
    name: '401 unknown, a session a day past its lifetime',
    family: 'guard',
    setup: async (w) => {
      await w.login('short', 'alice01', 2, 5000);
      w.clock.advance(5000 + 24 * 60 * 60 * 1000);
    },
    request: asSession('short'),
    expect: { status: 401, body: UNKNOWN },
  },
  {
    name: '200 for a stateless credential (a JWT the host verified)',
    family: 'guard',
    request: asClaims((now) => ({ sub: 'alice01', dev: 1, iat: now - 60, exp: now + 60 })),
    expect: { status: 200, body: principal('alice01', 1, 'stateless') },
    unchanged: true,
  },
  {
    name: '401 expired, a stateless credential past its expiry',
    family: 'guard',
    request: asClaims((now) => ({ sub: 'alice01', dev: 1, iat: now - 120, exp: now - 60 })),
    expect: { status: 401, body: EXPIRED },
    unchanged: true,
  },
  {
    name: "401 kicked, a stateless credential of the kick's second; one of the next second passes",
    family: 'guard',
    setup: async (w) => {
      w.clock.advance(500);
      await w.engine.kickUser('alice01');
    },
    request: asClaims((now) => ({ sub: 'alice01', iat: now, exp: now + 3600 })),
    expect: { status: 401, body: KICKED },
    unchanged: true,
    next: [
      {
        before: (w) => w.clock.advance(500),
        request: asClaims((now) => ({ sub: 'alice01', iat: now, exp: now + 3600 })),
        expect: { status: 200, body: principal('alice01', undefined, 'stateless') },
      },
    ],
  },
  {
    name: '200 for a UserSig from tls-sig-api-v2 (no device)',
    family: 'guard',
    request: asUserSig('alice01'),
    expect: { status: 200, body: principal('alice01', undefined, 'usersig') },
    unchanged: true,
  },
  {
    name: "401 70001 in Tencent's shape for an expired UserSig",
    family: 'guard',
    request: asUserSig('alice01', { secondsAgo: 20, expireSec: 10 }),
    expect: { status: 401, body: usersigRejected(70001, 'usersig is expired', 'expired') },
    unchanged: true,
  },
  {
    name: '401 70003 for a UserSig signed with another key',
    family: 'guard',
    request: asUserSig('alice01', { key: OTHER_KEY }),
    expect: { status: 401, body: usersigRejected(70003, 'usersig is invalid', 'unknown') },
    unchanged: true,
  },
  {
    name: '401 70013 for the UserSig of another identifier',
    family: 'guard',
    request: (w) => guarded({}, { identifier: 'alice01', usersig: w.sig('bobby02') }),
    expect: { status: 401, body: usersigRejected(70013, 'identifier does not match the usersig', 'unknown') },
    unchanged: true,
  },
  {
    name: '401 70052 for a UserSig made before a kick',
    family: 'guard',
    setup: async (w) => {
      await w.engine.kickUser('alice01');
    },
    request: asUserSig('alice01', { secondsAgo: 60 }),
    expect: { status: 401, body: usersigRejected(70052, 'usersig has been invalidated', 'kicked') },
    unchanged: true,
  },
  {
    name: "401 70052 for a UserSig made after a kick in the kick's own second; the next second passes",
    family: 'guard',
    setup: async (w) => {
      w.clock.advance(500);
      await w.engine.kickUser('alice01');
      w.clock.advance(400);
    },
    request: asUserSig('alice01'),
    expect: { status: 401, body: usersigRejected(70052, 'usersig has been invalidated', 'kicked') },
    unchanged: true,
    next: [
      {
        before: (w) => w.clock.advance(100),
        request: asUserSig('alice01'),
        expect: { status: 200, body: principal('alice01', undefined, 'usersig') },
      },
    ],
  },
  ...(
    [
      ['an unknown token', { token: 'no-such-token' }],
      ['an unknown bearer token', { authorization: 'Bearer no-such-token' }],
      ['a token over 4096 characters', { token: 'x'.repeat(4097) }],
    ] as const
  ).map(
    ([what, headers]): ContractCase => ({
      name: `401 unknown for ${what}`,
      family: 'guard',
      request: guarded(headers),
      expect: { status: 401, body: UNKNOWN },
      unchanged: true,
    }),
  ),
  ...(
    [
      ['no credential', {}],
      ['an empty token header', { token: '' }],
      ['a Basic authorization', { authorization: 'Basic YTpi' }],
      ['a Bearer with no token', { authorization: 'Bearer ' }],
    ] as const
  ).map(
    ([what, headers]): ContractCase => ({
      name: `401 unknown for ${what}`,
      family: 'guard',
      request: guarded(headers),
      expect: { status: 401, body: NO_CREDENTIAL },
      unchanged: true,
    }),
  ),
  // Node joins a repeated header with `, ` and keeps the first Authorization; adapters that read
  // one header at a time (Hono on @hono/node-server, fetch handlers) must read the same.
  {
    name: '401 unknown for a token header sent twice (one credential, the two joined), even both valid',
    family: 'guard',
    request: (w) => guarded({ token: [w.tokens.alice1!, w.tokens.alice1!] }),
    expect: { status: 401, body: UNKNOWN },
    unchanged: true,
  },
  {
    name: '200 from the first of two Authorization headers, as Node keeps it',
    family: 'guard',
    request: (w) => guarded({ authorization: [`Bearer ${w.tokens.alice1}`, 'Bearer no-such-token'] }),
    expect: { status: 200, body: ALICE_WEB },
    unchanged: true,
  },
  {
    name: '503 unavailable for a session when the store fails (fails closed); 200 once it heals',
    family: 'guard',
    setup: (w) => w.store.inject('fail'),
    request: asSession('alice1'),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
    next: [{ before: (w) => w.store.heal(), ...sessionNow('alice1', 200, ALICE_WEB) }],
  },
  {
    name: '503 unavailable for a stateless credential when the store fails',
    family: 'guard',
    setup: (w) => w.store.inject('fail'),
    request: asClaims((now) => ({ sub: 'alice01', iat: now, exp: now + 60 })),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
  },
  {
    name: '503 70500 for a UserSig when the store fails',
    family: 'guard',
    setup: (w) => w.store.inject('fail'),
    request: asUserSig('alice01'),
    expect: {
      status: 503,
      body: usersigRejected(70500, 'internal server error, please try again later', 'unavailable'),
    },
    unchanged: true,
  },
  {
    name: '503 unavailable when the store hangs past storeTimeoutMs',
    family: 'guard',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: asSession('alice1'),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
  },
  {
    name: 'the first credential source present decides (a session before the JWT)',
    family: 'guard',
    request: (w) =>
      guarded({
        token: w.tokens.alice1!,
        'x-claims': json({ sub: 'bobby02', iat: Math.floor(w.clock.nowMs() / 1000), exp: 4102444800 }),
      }),
    expect: { status: 200, body: ALICE_WEB },
    unchanged: true,
  },
];

import {
  type ConnectionCloseInfo,
  createEvict,
  type Evict,
  hashToken,
  MAX_LISTED_CONNECTIONS,
  MAX_LISTED_SESSIONS,
  MemoryStore,
  type RevocationEvent,
  sessionIdOf,
} from '@evict/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';
import { FaultyStore } from '../../../test/support/faulty-store.js';
import { PagedMemoryStore } from '../../../test/support/paged-store.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

function twoNodes() {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const one = createEvict({ store, clock, nodeId: 1 });
  const two = createEvict({ store, clock, nodeId: 2 });
  opened.push(store, one, two);
  return { clock, store, one, two };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('sessions a person can see and end', () => {
  it('lists the live sessions newest first with their details and public ids, never a token or its hash', async () => {
    const { clock, one } = twoNodes();
    const phone = await one.issueSession({
      uid: 'anna',
      deviceFlag: 0,
      deviceId: 'install-1',
      userAgent: 'AnnaChat/2.1 (iPhone)',
      ip: '203.0.113.9',
      label: 'Anna’s phone',
    });
    clock.advance(1_000);
    const web = await one.issueSession({ uid: 'anna', deviceFlag: 1, userAgent: 'Mozilla/5.0' });
    clock.advance(1_000);
    const gone = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    await one.logout(gone.token);
    await one.issueSession({ uid: 'bob', deviceFlag: 0 });

    expect(phone.sessionId).toBe(sessionIdOf(hashToken(phone.token)));
    expect(phone.sessionId).not.toContain(phone.token);
    const listed = await one.listSessions('anna');
    expect(listed).toEqual([
      {
        sessionId: web.sessionId,
        deviceFlag: 1,
        issuedAtMs: web.issuedAtMs,
        expiresAtMs: web.expiresAtMs,
        userAgent: 'Mozilla/5.0',
      },
      {
        sessionId: phone.sessionId,
        deviceFlag: 0,
        issuedAtMs: phone.issuedAtMs,
        expiresAtMs: phone.expiresAtMs,
        deviceId: 'install-1',
        userAgent: 'AnnaChat/2.1 (iPhone)',
        ip: '203.0.113.9',
        label: 'Anna’s phone',
      },
    ]);
    const text = JSON.stringify(listed);
    for (const token of [phone.token, web.token]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(hashToken(token));
    }
    // A kick of the device ends its sessions: they leave the list.
    await one.quitDevice('anna', 1);
    expect((await one.listSessions('anna')).map((s) => s.sessionId)).toEqual([phone.sessionId]);
    expect(await one.listSessions('nobody')).toEqual([]);
    expect(MAX_LISTED_SESSIONS).toBeGreaterThan(0);
  });

  it('checks the details: control characters and overlong values are refused, an overlong user agent is cut', async () => {
    const { one } = twoNodes();
    for (const bad of [
      { deviceId: '' },
      { deviceId: 'a'.repeat(129) },
      { ip: 'x\ny' },
      { label: 7 },
      { label: 'tab\there' },
    ]) {
      await expect(
        one.issueSession({ uid: 'anna', deviceFlag: 0, ...(bad as object) }),
        JSON.stringify(bad),
      ).rejects.toThrow(TypeError);
    }
    expect(await one.listSessions('anna')).toEqual([]);
    await one.issueSession({ uid: 'anna', deviceFlag: 0, userAgent: `${'u'.repeat(511)}😀😀` });
    const [session] = await one.listSessions('anna');
    expect(session!.userAgent!.length).toBeLessThanOrEqual(512);
    expect(session!.userAgent!.isWellFormed()).toBe(true);
  });

  it('revokeSession ends one session by its public id, closes its sockets on every node (4004), and finds no other user’s', async () => {
    const { one, two } = twoNodes();
    const phone = await one.issueSession({ uid: 'anna', deviceFlag: 0 });
    const web = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    const bobs = await one.issueSession({ uid: 'bob', deviceFlag: 0 });
    const closed: string[] = [];
    const connect = (engine: Evict, name: string, token: string, uid = 'anna') =>
      engine.registerConnection({
        uid,
        deviceFlag: 0,
        credential: { type: 'session', token },
        close: (info: ConnectionCloseInfo) => closed.push(`${name} ${info.code}`),
      });
    await connect(two, 'phone on node 2', phone.token);
    await connect(one, 'web on node 1', web.token);
    const events: RevocationEvent[] = [];
    one.on('revocation', (e) => events.push(e));

    await expect(one.revokeSession({ uid: 'anna', sessionId: bobs.sessionId })).rejects.toMatchObject({
      code: 'EVICT_SESSION_NOT_FOUND',
    });
    await expect(one.revokeSession({ uid: 'anna', sessionId: 'no-such-id' })).rejects.toMatchObject({
      code: 'EVICT_SESSION_NOT_FOUND',
    });
    await expect(one.revokeSession({ uid: 'anna', sessionId: 7 as unknown as string })).rejects.toThrow(
      TypeError,
    );
    expect((await one.check({ type: 'session', token: bobs.token })).ok).toBe(true);

    const result = await one.revokeSession(
      { uid: 'anna', sessionId: phone.sessionId },
      { actor: { type: 'user', id: 'anna' } },
    );
    await tick();
    expect(result.connectionsClosed).toBe(0); // its socket is on node 2, which closes it on the message
    expect(closed).toEqual(['phone on node 2 4004']);
    expect(await one.check({ type: 'session', token: phone.token })).toMatchObject({
      ok: false,
      reason: 'logged_out',
    });
    expect(await two.check({ type: 'session', token: phone.token })).toMatchObject({
      ok: false,
      reason: 'logged_out',
    });
    expect((await one.check({ type: 'session', token: web.token })).ok).toBe(true);
    expect(events).toMatchObject([
      {
        action: 'revoke_session',
        uid: 'anna',
        deviceFlag: 0,
        sessionId: phone.sessionId,
        actor: { type: 'user', id: 'anna' },
      },
    ]);
    // Ended once: a second time it is not found.
    await expect(one.revokeSession({ uid: 'anna', sessionId: phone.sessionId })).rejects.toMatchObject({
      code: 'EVICT_SESSION_NOT_FOUND',
    });
  });

  it('revokeOtherSessions ends every live session of the user but the caller’s, and their sockets', async () => {
    const { one, two } = twoNodes();
    const mine = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    const others = [
      await one.issueSession({ uid: 'anna', deviceFlag: 0 }),
      await one.issueSession({ uid: 'anna', deviceFlag: 1 }),
    ];
    const bobs = await one.issueSession({ uid: 'bob', deviceFlag: 1 });
    const closed: string[] = [];
    for (const [i, session] of [mine, ...others].entries()) {
      await (i % 2 ? two : one).registerConnection({
        uid: 'anna',
        deviceFlag: session.deviceFlag,
        credential: { type: 'session', token: session.token },
        close: () => closed.push(session.sessionId),
      });
    }
    const result = await one.revokeOtherSessions(mine.token);
    await tick();
    expect(result.revoked).toBe(2);
    expect(closed.sort()).toEqual(others.map((s) => s.sessionId).sort());
    expect((await one.listSessions('anna')).map((s) => s.sessionId)).toEqual([mine.sessionId]);
    expect((await one.check({ type: 'session', token: mine.token })).ok).toBe(true);
    expect((await one.check({ type: 'session', token: bobs.token })).ok).toBe(true);
    // Nothing left to end.
    expect((await one.revokeOtherSessions(mine.token)).revoked).toBe(0);
    await expect(one.revokeOtherSessions('not-a-token')).rejects.toMatchObject({
      code: 'EVICT_INVALID_TOKEN',
    });
  });
});

describe('last seen', () => {
  function counted(store: MemoryStore) {
    const touches: { tokenHash: string; atMs: number }[][] = [];
    const original = store.touchSessions.bind(store);
    store.touchSessions = async (batch) => {
      touches.push([...batch]);
      return original(batch);
    };
    return touches;
  }

  it('writes a session the guard accepts at most once per resolution, in batches, and lists it', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const touches = counted(store);
    const engine = createEvict({ store, clock, lastSeenResolutionMs: 60_000 });
    opened.push(store);
    const a = await engine.issueSession({ uid: 'anna', deviceFlag: 0 });
    clock.advance(1); // b is the newer: listed first
    const b = await engine.issueSession({ uid: 'anna', deviceFlag: 1 });
    const t0 = clock.nowMs();
    for (let i = 0; i < 5; i += 1) {
      expect((await engine.check({ type: 'session', token: a.token })).ok).toBe(true);
      expect((await engine.check({ type: 'session', token: b.token })).ok).toBe(true);
    }
    // Nothing on the request's path: the batch goes out a second later (here: at close).
    expect(touches).toEqual([]);
    clock.advance(30_000);
    expect((await engine.check({ type: 'session', token: a.token })).ok).toBe(true);
    clock.advance(31_000);
    expect((await engine.check({ type: 'session', token: a.token })).ok).toBe(true);
    await engine.close();
    expect(touches).toHaveLength(1);
    expect(touches[0]!.sort((x, y) => x.atMs - y.atMs)).toEqual([
      { tokenHash: hashToken(b.token), atMs: t0 },
      { tokenHash: hashToken(a.token), atMs: t0 + 61_000 },
    ]);
    const reader = createEvict({ store, clock, lastSeenResolutionMs: 0 });
    opened.push(reader);
    const listed = await reader.listSessions('anna');
    expect(listed.map((s) => [s.sessionId, s.lastSeenAtMs])).toEqual([
      [b.sessionId, t0],
      [a.sessionId, t0 + 61_000],
    ]);
  });

  it('writes a session again at its next sighting after a failed write, from the warm cache too', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    opened.push(store);
    const touches: { tokenHash: string; atMs: number }[][] = [];
    const original = store.touchSessions.bind(store);
    store.touchSessions = async (batch) => {
      touches.push([...batch]);
      if (touches.length === 1) throw new Error('the store is down');
      return original(batch);
    };
    const engine = createEvict({ store, clock, lastSeenResolutionMs: 60_000 });
    const errors: Error[] = [];
    engine.on('error', (error) => errors.push(error));
    const { token } = await engine.issueSession({ uid: 'anna', deviceFlag: 0 });
    const t0 = clock.nowMs();
    // The first check reads the store; the second is answered by the cache alone.
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    expect(engine.checkNow({ type: 'session', token })).toMatchObject({ ok: true });
    // The batch goes out a second later (real time), and fails.
    await new Promise((done) => setTimeout(done, 1_200));
    expect(errors).toHaveLength(1);
    clock.advance(1_000);
    expect(engine.checkNow({ type: 'session', token })).toMatchObject({ ok: true });
    await engine.close();
    expect(touches).toEqual([
      [{ tokenHash: hashToken(token), atMs: t0 }],
      [{ tokenHash: hashToken(token), atMs: t0 + 1_000 }],
    ]);
  });

  it('writes nothing when turned off, nor for a rejected session', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const touches = counted(store);
    opened.push(store);
    const off = createEvict({ store, clock, lastSeenResolutionMs: 0 });
    const on = createEvict({ store, clock });
    const session = await off.issueSession({ uid: 'anna', deviceFlag: 0 });
    const gone = await off.issueSession({ uid: 'anna', deviceFlag: 1 });
    await off.logout(gone.token);
    await off.check({ type: 'session', token: session.token });
    await on.check({ type: 'session', token: gone.token });
    await off.close();
    await on.close();
    expect(touches).toEqual([]);
    expect(() => createEvict({ lastSeenResolutionMs: -1 })).toThrow(/lastSeenResolutionMs/);
  });
});

describe('a user with more sessions than a list shows', () => {
  it.each([
    ['in one page', false],
    ['in small pages that repeat an item', true],
  ])(
    'lists the newest MAX_LISTED_SESSIONS, and revokeOtherSessions still ends every other one (a store answering %s)',
    async (_, paged) => {
      const clock = new ManualClock();
      const store = paged ? new PagedMemoryStore({ clock }) : new MemoryStore({ clock });
      const engine = createEvict({ store, clock });
      opened.push(store, engine);
      const issued = [];
      for (let i = 0; i < MAX_LISTED_SESSIONS + 5; i += 1) {
        issued.push(await engine.issueSession({ uid: 'many', deviceFlag: i % 3 }));
        clock.advance(1);
      }
      const listed = await engine.listSessions('many');
      expect(listed).toHaveLength(MAX_LISTED_SESSIONS);
      expect(listed[0]!.sessionId).toBe(issued.at(-1)!.sessionId);
      expect(listed.at(-1)!.sessionId).toBe(issued[5]!.sessionId);
      // The oldest, beyond the list, can still be ended by its id.
      await engine.revokeSession({ uid: 'many', sessionId: issued[0]!.sessionId });
      const { revoked } = await engine.revokeOtherSessions(issued.at(-1)!.token);
      expect(revoked).toBe(MAX_LISTED_SESSIONS + 3);
      expect((await engine.listSessions('many')).map((s) => s.sessionId)).toEqual([issued.at(-1)!.sessionId]);
    },
  );
});

describe('connections an operator can see', () => {
  it('lists each with the session, device id and address it was registered with, on every node', async () => {
    const { one, two } = twoNodes();
    const session = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    const close = () => undefined;
    const tab = await one.registerConnection({
      uid: 'anna',
      deviceFlag: 1,
      close,
      credential: { type: 'session', token: session.token },
      deviceId: 'tab-7f3a',
      ip: '2001:db8::7',
      port: 443,
    });
    const bare = await two.registerConnection({ uid: 'anna', deviceFlag: 0, close });
    const listed = await two.listConnections('anna');
    expect(listed.map(({ incarnation: _, connectedAtMs: __, ...c }) => c)).toEqual([
      {
        uid: 'anna',
        deviceFlag: 1,
        nodeId: 1,
        connId: tab.connId,
        sessionId: session.sessionId,
        deviceId: 'tab-7f3a',
        ip: '2001:db8::7',
        port: 443,
      },
      { uid: 'anna', deviceFlag: 0, nodeId: 2, connId: bare.connId },
    ]);
    expect(one.localConnections()).toEqual([
      expect.objectContaining({
        connId: tab.connId,
        sessionId: session.sessionId,
        deviceId: 'tab-7f3a',
        ip: '2001:db8::7',
        port: 443,
      }),
    ]);
  });

  it('refuses bad details with a TypeError and registers nothing', async () => {
    const { one } = twoNodes();
    const close = () => undefined;
    for (const bad of [
      { ip: '' },
      { ip: 'a\nb' },
      { deviceId: 'x'.repeat(129) },
      { port: 0 },
      { port: 65_536 },
      { port: 1.5 },
      { deviceId: 7 },
    ]) {
      await expect(
        one.registerConnection({ uid: 'anna', deviceFlag: 0, close, ...(bad as object) }),
      ).rejects.toThrow(TypeError);
    }
    expect(await one.listConnections('anna')).toEqual([]);
  });

  it.each([
    ['in one page', 100_000],
    ['in pages that repeat an item', 500],
  ])(
    'lists at most MAX_LISTED_CONNECTIONS, those with the lowest ids, of a user holding more (a store answering %s)',
    async (_, pageSize) => {
      const clock = new ManualClock();
      const store = new PagedMemoryStore({ clock }, pageSize);
      const engine = createEvict({ store, clock });
      opened.push(store, engine);
      const close = () => undefined;
      const extra = 25;
      // Registered in a descending order of ids: the listing sorts, whatever order the store keeps.
      for (let i = MAX_LISTED_CONNECTIONS + extra; i >= 1; i -= 1)
        await engine.registerConnection({ uid: 'bot', deviceFlag: 0, connId: i, close });
      const listed = await engine.listConnections('bot');
      expect(listed).toHaveLength(MAX_LISTED_CONNECTIONS);
      expect(listed.map((c) => c.connId)).toEqual(
        Array.from({ length: MAX_LISTED_CONNECTIONS }, (_, i) => i + 1),
      );
      expect(await engine.countConnections('bot')).toEqual([
        { deviceFlag: 0, connections: MAX_LISTED_CONNECTIONS + extra },
      ]);
    },
  );
});

describe('a session revocation whose announcement fails', () => {
  it('fails the request but announces again until every node hears of it', async () => {
    const clock = new ManualClock();
    const memory = new MemoryStore({ clock });
    const faulty = new FaultyStore(memory);
    const one = createEvict({ store: faulty, clock, nodeId: 1 });
    const two = createEvict({ store: memory, clock, nodeId: 2 });
    opened.push(memory, one, two);
    one.on('error', () => undefined);
    const session = await one.issueSession({ uid: 'anna', deviceFlag: 0 });
    // Node 2 has the session in its cache.
    expect((await two.checkNow({ type: 'session', token: session.token })).ok).toBe(true);
    faulty.inject('fail', 'publish');
    await expect(one.logout(session.token)).rejects.toThrow(/publish/);
    // Revoked on file, but node 2 was not told: its cache still serves the session.
    expect(await memory.getSession(hashToken(session.token))).toMatchObject({ revokedAtMs: clock.nowMs() });
    expect(two.checkNow({ type: 'session', token: session.token })).toMatchObject({ ok: true });
    faulty.heal();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(two.checkNow({ type: 'session', token: session.token })).not.toMatchObject({ ok: true });
    expect(await two.check({ type: 'session', token: session.token })).toMatchObject({
      ok: false,
      reason: 'logged_out',
    });
  });
});

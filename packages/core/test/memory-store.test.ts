import type { ClusterMessage, ConnectionRecord, PushTokenRecord, SessionRecord } from '@evict/core';
import { MemoryStore } from '@evict/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';

const HOUR_MS = 60 * 60 * 1000;
/** Past the end of the minute a record that expires now is filed under. */
const PAST_ITS_MINUTE_MS = 2 * 60 * 1000;

let clock: ManualClock;
let store: MemoryStore;

beforeEach(() => {
  clock = new ManualClock();
  store = new MemoryStore({ clock });
});

afterEach(async () => {
  await store.close();
  vi.useRealTimers();
});

/** A session record; unless told otherwise the store may drop it as soon as it expires. */
function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const expiresAtMs = overrides.expiresAtMs ?? clock.now + HOUR_MS;
  return {
    tokenHash: 'hash-1',
    uid: 'alice',
    deviceFlag: 0,
    issuedAtMs: clock.now,
    expiresAtMs,
    retainUntilMs: expiresAtMs,
    ...overrides,
  };
}

function connection(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    uid: 'alice',
    deviceFlag: 0,
    nodeId: 1,
    connId: 1,
    connectedAtMs: clock.now,
    incarnation: 'run-1',
    ...overrides,
  };
}

function pushToken(overrides: Partial<PushTokenRecord> = {}): PushTokenRecord {
  return {
    kind: 'ring',
    token: 'apns-ring-token',
    deviceFlag: 0,
    updatedAtMs: clock.now,
    expiresAtMs: clock.now + HOUR_MS,
    ...overrides,
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('MemoryStore construction and lifecycle', () => {
  it('rejects a sweep interval that is not a positive integer with a TypeError', () => {
    for (const sweepIntervalMs of [0, -1, 1.5, Number.NaN]) {
      expect(() => new MemoryStore({ clock, sweepIntervalMs })).toThrow(TypeError);
    }
  });

  it('ready() resolves', async () => {
    await expect(store.ready()).resolves.toBeUndefined();
  });

  it('sweeps on its timer, in slices, and close() clears the timer', async () => {
    vi.useFakeTimers();
    const timed = new MemoryStore({ clock, sweepIntervalMs: 1_000 });
    const slice = vi.spyOn(timed, 'sweepSlice');
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(slice).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(2_000);
    expect(slice).toHaveBeenCalledTimes(3);

    await timed.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(slice).toHaveBeenCalledTimes(3);
  });

  it('close() stops delivering published messages', async () => {
    const received: ClusterMessage[] = [];
    store.subscribe((m) => received.push(m));
    await store.close();
    await store.publish({ type: 'revoked', uid: 'alice', fromNodeId: 1 });
    await tick();
    expect(received).toEqual([]);
  });
});

describe('MemoryStore expiry sweep', () => {
  /** Slices of at most `limit` keys until nothing is due; what each dropped (sessions + users). */
  function sliceDrops(limit: number): number[] {
    const drops: number[] = [];
    for (let done = false; !done; ) {
      const before = store.size();
      done = store.sweepSlice(limit);
      const after = store.size();
      drops.push(before.sessions - after.sessions + before.users - after.users);
    }
    return drops;
  }

  it('reads only what expired, at most `limit` keys a slice, and never returns an expired record', async () => {
    const live = 15_000;
    const expiring = 5_000;
    for (let i = 0; i < live + expiring; i++) {
      const expiresAtMs = clock.now + (i < expiring ? 1_000 : HOUR_MS);
      await store.putSession(session({ tokenHash: `h${i}`, uid: `u${i}`, expiresAtMs }));
    }
    clock.advance(PAST_ITS_MINUTE_MS);
    const drops: number[] = [];
    for (let done = false; !done; ) {
      const before = store.size();
      done = store.sweepSlice(100);
      const after = store.size();
      drops.push(before.sessions - after.sessions + before.users - after.users);
      expect(await store.getSession('h0')).toBeUndefined();
      expect(await store.getUser(`u${expiring - 1}`)).toBeUndefined();
      expect(await store.getSession(`h${expiring}`)).toMatchObject({ uid: `u${expiring}` });
    }
    expect(Math.max(...drops)).toBeLessThanOrEqual(100);
    // A session and a user for each expired one, and the few empty minutes between: the live records
    // (filed an hour on) are never read.
    expect(drops.length).toBeLessThanOrEqual((2 * expiring) / 100 + 2);
    expect(store.size()).toEqual({ sessions: live, users: live, counters: 0 });
  });

  it('leaves the minute under way to the next sweep, and sweep() drops it at once', async () => {
    await store.putSession(session({ expiresAtMs: clock.now + 1_000 }));
    clock.advance(1_000);
    expect(await store.getSession('hash-1')).toBeUndefined();
    expect(await store.listSessions('alice')).toEqual([]);
    store.sweepSlice();
    clock.advance(PAST_ITS_MINUTE_MS);
    expect(sliceDrops(100).reduce((a, b) => a + b, 0)).toBe(2);
    expect(store.size()).toEqual({ sessions: 0, users: 0, counters: 0 });

    await store.putSession(session({ tokenHash: 'hash-2', expiresAtMs: clock.now + 1_000 }));
    await store.putSession(session({ tokenHash: 'hash-3', expiresAtMs: clock.now + 2_000 }));
    clock.advance(1_000);
    store.sweep();
    expect(store.size().sessions).toBe(1);
    clock.advance(1_000);
    store.sweep();
    expect(store.size()).toEqual({ sessions: 0, users: 0, counters: 0 });
  });

  it('keeps a user extended past its minute, and drops it once the extension expires', async () => {
    await store.touchUser('alice', clock.now + 1_000);
    await store.touchUser('alice', clock.now + 10 * 60_000);
    clock.advance(PAST_ITS_MINUTE_MS);
    sliceDrops(100);
    expect(await store.getUser('alice')).toBeDefined();
    expect(store.size().users).toBe(1);
    clock.advance(10 * 60_000);
    sliceDrops(100);
    expect(store.size().users).toBe(0);
  });

  it('keeps a session replaced by a longer one under the same hash', async () => {
    await store.putSession(session({ expiresAtMs: clock.now + 1_000 }));
    await store.putSession(session({ expiresAtMs: clock.now + HOUR_MS }));
    clock.advance(PAST_ITS_MINUTE_MS);
    sliceDrops(100);
    expect(await store.getSession('hash-1')).toMatchObject({
      expiresAtMs: clock.now - PAST_ITS_MINUTE_MS + HOUR_MS,
    });
    expect(await store.listSessions('alice')).toHaveLength(1);
    clock.advance(HOUR_MS);
    sliceDrops(100);
    expect(store.size()).toEqual({ sessions: 0, users: 0, counters: 0 });
  });

  it('keeps an expired user while a connection holds it, and files it again once a session revives it', async () => {
    await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: clock.now + 24 * HOUR_MS });
    await store.touchUser('alice', clock.now + 1_000);
    await store.putConnection(connection());
    clock.advance(PAST_ITS_MINUTE_MS);
    sliceDrops(100);
    expect(store.size().users).toBe(1);
    await store.putSession(session({ expiresAtMs: clock.now + HOUR_MS }));
    expect(await store.deleteConnection('alice', 1, 1)).toBe(true);
    expect(await store.getUser('alice')).toBeDefined();
    clock.advance(HOUR_MS + PAST_ITS_MINUTE_MS);
    sliceDrops(100);
    expect(store.size()).toEqual({ sessions: 0, users: 0, counters: 0 });
  });

  it('drops expired counters and push tokens, and keeps live ones', async () => {
    await store.hit('short', clock.now, 1_000);
    await store.hit('long', clock.now, HOUR_MS);
    await store.touchUser('alice', clock.now + HOUR_MS);
    await store.setPushToken('alice', pushToken({ kind: 'ring', expiresAtMs: clock.now + 1_000 }));
    await store.setPushToken('alice', pushToken({ kind: 'message', expiresAtMs: clock.now + HOUR_MS }));
    clock.advance(PAST_ITS_MINUTE_MS);
    sliceDrops(100);
    const { counters, users } = store.snapshot() as {
      counters: [string, unknown][];
      users: [string, { pushTokens: [string, unknown][] }][];
    };
    expect(counters.map(([key]) => key)).toEqual(['long']);
    expect(users[0]![1].pushTokens.map(([kind]) => kind)).toEqual(['message']);
  });
});

describe('MemoryStore sessions', () => {
  it('returns a saved session until it expires, and never after', async () => {
    await store.putSession(session());
    expect(await store.getSession('hash-1')).toEqual(session());
    clock.advance(HOUR_MS - 1);
    expect(await store.getSession('hash-1')).toBeDefined();
    clock.advance(1);
    expect(await store.getSession('hash-1')).toBeUndefined();
    expect(await store.getSession('no-such-hash')).toBeUndefined();
  });

  it('returns copies: mutating what it returned does not change what is on file', async () => {
    await store.putSession(session());
    const got = (await store.getSession('hash-1'))!;
    got.revokedAtMs = 1;
    got.uid = 'mallory';
    expect(await store.getSession('hash-1')).toEqual(session());
    const user = (await store.getUser('alice'))!;
    user.cutoff = { atMs: clock.now, reason: 'kicked' };
    expect((await store.getUser('alice'))!.cutoff).toBeUndefined();
  });

  it('keeps returning an expired session until its retainUntilMs, so evict can answer "expired"', async () => {
    await store.putSession(session({ expiresAtMs: clock.now + 1_000, retainUntilMs: clock.now + 5_000 }));
    clock.advance(1_000);
    expect(await store.getSession('hash-1')).toMatchObject({ expiresAtMs: clock.now });
    store.sweep();
    expect(store.size().sessions).toBe(1);
    clock.advance(4_000);
    expect(await store.getSession('hash-1')).toBeUndefined();
    store.sweep();
    expect(store.size().sessions).toBe(0);
  });

  it('sweep() drops expired sessions, users and counters, and keeps live ones', async () => {
    await store.putSession(session({ tokenHash: 'short', uid: 'bob', expiresAtMs: clock.now + 1_000 }));
    await store.putSession(session({ tokenHash: 'long', expiresAtMs: clock.now + HOUR_MS }));
    await store.hit('rate', clock.now, 1_000);
    expect(store.size()).toEqual({ sessions: 2, users: 2, counters: 1 });

    clock.advance(1_000);
    // Not yet swept: expired records are still counted, but never returned.
    expect(store.size()).toEqual({ sessions: 2, users: 2, counters: 1 });
    store.sweep();
    expect(store.size()).toEqual({ sessions: 1, users: 1, counters: 0 });
    expect(await store.getSession('long')).toBeDefined();
    expect(await store.getUser('bob')).toBeUndefined();

    clock.advance(HOUR_MS);
    store.sweep();
    expect(store.size()).toEqual({ sessions: 0, users: 0, counters: 0 });
  });

  it('revokeSession returns the session as it was and keeps the first revocation time', async () => {
    await store.putSession(session());
    const first = await store.revokeSession('hash-1', clock.now + 5);
    expect(first).toEqual(session());
    expect(first!.revokedAtMs).toBeUndefined();

    const second = await store.revokeSession('hash-1', clock.now + 9);
    expect(second!.revokedAtMs).toBe(clock.now + 5);
    expect((await store.getSession('hash-1'))!.revokedAtMs).toBe(clock.now + 5);
  });

  it('revokeSession keeps the first revocation time under concurrent calls', async () => {
    await store.putSession(session());
    const [a, b] = await Promise.all([
      store.revokeSession('hash-1', clock.now + 5),
      store.revokeSession('hash-1', clock.now + 9),
    ]);
    expect(a!.revokedAtMs).toBeUndefined();
    expect(b!.revokedAtMs).toBe(clock.now + 5);
    expect((await store.getSession('hash-1'))!.revokedAtMs).toBe(clock.now + 5);
  });

  it('revokeSession of an unknown or expired session returns undefined and creates nothing', async () => {
    expect(await store.revokeSession('nothing', clock.now)).toBeUndefined();
    await store.putSession(session({ expiresAtMs: clock.now + 10 }));
    clock.advance(10);
    expect(await store.revokeSession('hash-1', clock.now)).toBeUndefined();
    expect(await store.getSession('hash-1')).toBeUndefined();
  });

  it('putSession grows the device lastIssuedAtMs / expiresAtMs and the user expiry monotonically', async () => {
    const t = clock.now;
    await store.putSession(session({ tokenHash: 'a', issuedAtMs: t + 10, expiresAtMs: t + 1_000 }));
    expect((await store.getUser('alice'))!.devices[0]).toEqual({
      lastIssuedAtMs: t + 10,
      expiresAtMs: t + 1_000,
    });

    // An older, shorter session (a host registering a token late) lowers nothing.
    await store.putSession(session({ tokenHash: 'b', issuedAtMs: t + 5, expiresAtMs: t + 500 }));
    let user = (await store.getUser('alice'))!;
    expect(user.devices[0]).toEqual({ lastIssuedAtMs: t + 10, expiresAtMs: t + 1_000 });
    expect(user.expiresAtMs).toBe(t + 1_000);

    // Each field grows on its own.
    await store.putSession(session({ tokenHash: 'c', issuedAtMs: t + 20, expiresAtMs: t + 800 }));
    user = (await store.getUser('alice'))!;
    expect(user.devices[0]).toEqual({ lastIssuedAtMs: t + 20, expiresAtMs: t + 1_000 });

    await store.putSession(session({ tokenHash: 'd', issuedAtMs: t + 15, expiresAtMs: t + 2_000 }));
    user = (await store.getUser('alice'))!;
    expect(user.devices[0]).toEqual({ lastIssuedAtMs: t + 20, expiresAtMs: t + 2_000 });
    expect(user.expiresAtMs).toBe(t + 2_000);

    // Other devices are recorded separately.
    await store.putSession(
      session({ tokenHash: 'e', deviceFlag: 2, issuedAtMs: t + 1, expiresAtMs: t + 50 }),
    );
    user = (await store.getUser('alice'))!;
    expect(user.devices[2]).toEqual({ lastIssuedAtMs: t + 1, expiresAtMs: t + 50 });
    expect(user.devices[0]).toEqual({ lastIssuedAtMs: t + 20, expiresAtMs: t + 2_000 });
  });
});

describe('MemoryStore users and cutoffs', () => {
  it('touchUser makes a user known until its expiry, and only grows it', async () => {
    expect(await store.getUser('alice')).toBeUndefined();
    await store.touchUser('alice', clock.now + 1_000);
    expect(await store.getUser('alice')).toEqual({
      uid: 'alice',
      deviceCutoffs: {},
      devices: {},
      expiresAtMs: clock.now + 1_000,
    });
    await store.touchUser('alice', clock.now + 10);
    expect((await store.getUser('alice'))!.expiresAtMs).toBe(clock.now + 1_000);
    clock.advance(1_000);
    expect(await store.getUser('alice')).toBeUndefined();
  });

  it('raiseCutoff keeps the maximum, per device and for all devices independently', async () => {
    const t = clock.now;
    const exp = t + HOUR_MS;
    await store.raiseCutoff('alice', 1, { atMs: t + 10, reason: 'device_quit' }, exp);
    await store.raiseCutoff('alice', 1, { atMs: t + 5, reason: 'kicked' }, exp);
    await store.raiseCutoff('alice', 2, { atMs: t + 3, reason: 'device_quit' }, exp);
    await store.raiseCutoff('alice', null, { atMs: t + 7, reason: 'kicked' }, exp);
    await store.raiseCutoff('alice', null, { atMs: t + 6, reason: 'device_quit' }, exp);

    let user = (await store.getUser('alice'))!;
    expect(user.deviceCutoffs[1]).toEqual({ atMs: t + 10, reason: 'device_quit' });
    expect(user.deviceCutoffs[2]).toEqual({ atMs: t + 3, reason: 'device_quit' });
    expect(user.deviceCutoffs[0]).toBeUndefined();
    expect(user.cutoff).toEqual({ atMs: t + 7, reason: 'kicked' });

    await store.raiseCutoff('alice', null, { atMs: t + 20, reason: 'device_quit' }, exp);
    await store.raiseCutoff('alice', 2, { atMs: t + 4, reason: 'device_quit' }, exp);
    user = (await store.getUser('alice'))!;
    expect(user.cutoff).toEqual({ atMs: t + 20, reason: 'device_quit' });
    expect(user.deviceCutoffs[2]).toEqual({ atMs: t + 4, reason: 'device_quit' });
    expect(user.deviceCutoffs[1]).toEqual({ atMs: t + 10, reason: 'device_quit' });
  });

  it('raiseCutoff is an atomic maximum under concurrent calls', async () => {
    const t = clock.now;
    const values = [30, 10, 50, 20, 40, 0, 45];
    await Promise.all(
      values.map((v) => store.raiseCutoff('alice', null, { atMs: t + v, reason: 'kicked' }, t + HOUR_MS)),
    );
    expect((await store.getUser('alice'))!.cutoff).toEqual({ atMs: t + 50, reason: 'kicked' });
  });

  it('raiseCutoff keeps the user at least until expiresAtMs, never shortening it', async () => {
    const t = clock.now;
    await store.raiseCutoff('alice', null, { atMs: t, reason: 'kicked' }, t + 2 * HOUR_MS);
    await store.raiseCutoff('alice', 0, { atMs: t, reason: 'device_quit' }, t + HOUR_MS);
    expect((await store.getUser('alice'))!.expiresAtMs).toBe(t + 2 * HOUR_MS);
    clock.advance(2 * HOUR_MS - 1);
    expect(await store.getUser('alice')).toBeDefined();
    clock.advance(1);
    expect(await store.getUser('alice')).toBeUndefined();
  });
});

describe('MemoryStore connections', () => {
  beforeEach(async () => {
    for (const nodeId of [1, 2]) {
      await store.heartbeatNode({ nodeId, incarnation: 'run-1', expiresAtMs: clock.now + HOUR_MS });
    }
  });

  it('lists, indexes per user and deletes connections', async () => {
    await store.putConnection(connection({ connId: 1 }));
    await store.putConnection(connection({ connId: 2, nodeId: 2, deviceFlag: 1 }));
    await store.putConnection(connection({ uid: 'bob', connId: 1 }));

    const listed = await store.listConnections('alice');
    expect(listed).toHaveLength(2);
    expect(listed).toContainEqual(connection({ connId: 1 }));
    expect(listed).toContainEqual(connection({ connId: 2, nodeId: 2, deviceFlag: 1 }));

    expect(await store.deleteConnection('alice', 2, 2)).toBe(true);
    expect(await store.deleteConnection('alice', 2, 2)).toBe(false);
    expect(await store.deleteConnection('alice', 1, 99)).toBe(false);
    expect(await store.deleteConnection('nobody', 1, 1)).toBe(false);
    expect(await store.listConnections('alice')).toEqual([connection({ connId: 1 })]);
    expect(await store.listConnections('bob')).toEqual([connection({ uid: 'bob', connId: 1 })]);
    expect(await store.listConnections('nobody')).toEqual([]);
  });

  it('putConnection replaces the record of the same node and connId', async () => {
    await store.putConnection(connection());
    await store.putConnection(connection({ deviceFlag: 3 }));
    expect(await store.listConnections('alice')).toEqual([connection({ deviceFlag: 3 })]);
  });

  it("a lapsed node's connections are not listed, and the sweep drops them and their user", async () => {
    await store.heartbeatNode({ nodeId: 3, incarnation: 'run-1', expiresAtMs: clock.now + 1_000 });
    const kept = connection({ nodeId: 1, connId: 2 });
    await store.putConnection(connection({ nodeId: 3, connId: 1 }));
    await store.putConnection(kept);
    await store.putConnection(connection({ uid: 'bob', nodeId: 3, connId: 3 }));
    clock.advance(1_000);
    expect((await store.listConnections('alice')).map((c) => c.connId)).toEqual([2]);
    expect(await store.sweepConnections(1)).toBe(1);
    expect(await store.sweepConnections(10)).toBe(1);
    expect(await store.sweepConnections(10)).toBe(0);
    expect(store.size().users).toBe(1);
    expect(await store.listConnections('alice')).toEqual([kept]);
  });
});

describe('MemoryStore push tokens', () => {
  it('sets, replaces and reads push tokens per kind', async () => {
    await store.setPushToken('alice', pushToken({ kind: 'ring', token: 'r1' }));
    await store.setPushToken('alice', pushToken({ kind: 'message', token: 'm1' }));
    await store.setPushToken('alice', pushToken({ kind: 'ring', token: 'r2' }));
    const tokens = await store.getPushTokens('alice');
    expect(tokens).toHaveLength(2);
    expect(tokens).toContainEqual(pushToken({ kind: 'ring', token: 'r2' }));
    expect(tokens).toContainEqual(pushToken({ kind: 'message', token: 'm1' }));
    expect(await store.getPushTokens('bob')).toEqual([]);
  });

  it('clearPushTokens returns only the kinds that were set', async () => {
    await store.setPushToken('alice', pushToken({ kind: 'message' }));
    expect(await store.clearPushTokens('alice', ['ring', 'message'])).toEqual(['message']);
    expect(await store.getPushTokens('alice')).toEqual([]);
    expect(await store.clearPushTokens('alice', ['ring', 'message'])).toEqual([]);
    expect(await store.clearPushTokens('nobody', ['ring'])).toEqual([]);

    await store.setPushToken('alice', pushToken({ kind: 'ring' }));
    await store.setPushToken('alice', pushToken({ kind: 'message' }));
    expect(await store.clearPushTokens('alice', ['ring'])).toEqual(['ring']);
    expect((await store.getPushTokens('alice')).map((t) => t.kind)).toEqual(['message']);
  });

  it('does not return expired push tokens', async () => {
    await store.setPushToken('alice', pushToken({ expiresAtMs: clock.now + 100 }));
    clock.advance(100);
    expect(await store.getPushTokens('alice')).toEqual([]);
    expect(await store.clearPushTokens('alice', ['ring'])).toEqual([]);
  });
});

describe('MemoryStore hit counter', () => {
  it('counts in fixed windows aligned to multiples of windowMs', async () => {
    const start = Math.ceil(clock.now / 1_000) * 1_000 + 1_000;
    expect(await store.hit('k', start + 500, 1_000)).toBe(1);
    expect(await store.hit('k', start + 600, 1_000)).toBe(2);
    expect(await store.hit('k', start + 999, 1_000)).toBe(3);
    // The boundary starts a new window, even though less than windowMs passed since the first hit.
    expect(await store.hit('k', start + 1_000, 1_000)).toBe(1);
    expect(await store.hit('k', start + 1_999, 1_000)).toBe(2);
    expect(await store.hit('k', start + 2_000, 1_000)).toBe(1);
  });

  it('keeps separate counts per key and is atomic under concurrent hits', async () => {
    const at = Math.floor(clock.now / 1_000) * 1_000;
    const counts = await Promise.all(Array.from({ length: 20 }, () => store.hit('a', at, 1_000)));
    expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await store.hit('b', at, 1_000)).toBe(1);
    expect(await store.hit('a', at, 1_000)).toBe(21);
  });
});

describe('MemoryStore messages', () => {
  const message: ClusterMessage = { type: 'revoked', uid: 'alice', fromNodeId: 1 };

  it('delivers a published message to every subscriber, on a later tick', async () => {
    const a: ClusterMessage[] = [];
    const b: ClusterMessage[] = [];
    store.subscribe((m) => a.push(m));
    store.subscribe((m) => b.push(m));
    const published = store.publish(message);
    expect(a).toEqual([]);
    expect(b).toEqual([]);
    await published;
    await tick();
    expect(a).toEqual([message]);
    expect(b).toEqual([message]);
  });

  it('delivers a copy: the publisher changing its object afterwards changes nothing', async () => {
    const received: ClusterMessage[] = [];
    store.subscribe((m) => received.push(m));
    const sent: ClusterMessage = { type: 'revoked', uid: 'alice', fromNodeId: 1 };
    const published = store.publish(sent);
    sent.uid = 'mallory';
    await published;
    await tick();
    expect(received).toEqual([{ type: 'revoked', uid: 'alice', fromNodeId: 1 }]);
  });

  it('stops delivering to a subscriber that unsubscribed', async () => {
    const kept: ClusterMessage[] = [];
    const dropped: ClusterMessage[] = [];
    store.subscribe((m) => kept.push(m));
    const unsubscribe = store.subscribe((m) => dropped.push(m));
    await store.publish(message);
    await tick();
    unsubscribe();
    await store.publish({ ...message, uid: 'bob' });
    await tick();
    expect(kept.map((m) => m.type === 'revoked' && m.uid)).toEqual(['alice', 'bob']);
    expect(dropped.map((m) => m.type === 'revoked' && m.uid)).toEqual(['alice']);
  });
});

describe('MemoryStore odd uids', () => {
  const uids = ['ユーザー', 'a:b', 'a', '{tag}', '{a}:b*', 'x*y', '*', '😀🎉', 'a:1:2', 'Ünïcødé ✓'];

  it('round-trips every record kind for each uid without mixing users', async () => {
    await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: clock.now + HOUR_MS });
    for (const [i, uid] of uids.entries()) {
      await store.putSession(session({ tokenHash: `h${i}`, uid, deviceFlag: i % 3 }));
      await store.raiseCutoff(
        uid,
        i % 3,
        { atMs: clock.now + i, reason: 'device_quit' },
        clock.now + HOUR_MS,
      );
      await store.putConnection(connection({ uid, connId: i + 1 }));
      await store.setPushToken(uid, pushToken({ token: `push-${i}` }));
    }
    for (const [i, uid] of uids.entries()) {
      expect((await store.getSession(`h${i}`))!.uid).toBe(uid);
      const user = (await store.getUser(uid))!;
      expect(user.uid).toBe(uid);
      expect(Object.keys(user.devices)).toEqual([String(i % 3)]);
      expect(user.deviceCutoffs[i % 3]).toEqual({ atMs: clock.now + i, reason: 'device_quit' });
      expect(await store.listConnections(uid)).toEqual([connection({ uid, connId: i + 1 })]);
      expect((await store.getPushTokens(uid)).map((t) => t.token)).toEqual([`push-${i}`]);
    }
    expect(store.size().users).toBe(uids.length);
    expect(await store.getUser('a:')).toBeUndefined();
    expect(await store.getUser('{a}')).toBeUndefined();
  });
});

import { createHash, randomBytes } from 'node:crypto';
import {
  type Clock,
  type ConnectionClosedEvent,
  type ConnectionCloseInfo,
  createEvict,
  type Evict,
  type EvictOptions,
  hashToken,
  isStoreFailure,
  MemoryStore,
  type RevocationEvent,
  StoreTimeoutError,
  UnknownUserError,
} from '@evict/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';
import { FaultyStore } from '../../../test/support/faulty-store.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Everything a test opened, closed after it. */
const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

interface Setup {
  clock: ManualClock;
  store: MemoryStore;
  engine: Evict;
  revocations: RevocationEvent[];
  errors: Error[];
}

/** An engine on a MemoryStore, both on one manual clock, with its events recorded. */
function setup(options: EvictOptions = {}): Setup {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  opened.push(store);
  const engine = createEvict({ store, clock, ...options });
  opened.push(engine);
  const revocations: RevocationEvent[] = [];
  const errors: Error[] = [];
  engine.on('revocation', (e) => revocations.push(e));
  engine.on('error', (e) => errors.push(e));
  return { clock, store, engine, revocations, errors };
}

/** An engine on a FaultyStore around a MemoryStore. */
function faultySetup(options: EvictOptions = {}, faulty: { kick?: boolean } = {}) {
  const clock = new ManualClock();
  const inner = new MemoryStore({ clock });
  opened.push(inner);
  const store = new FaultyStore(inner, faulty);
  const engine = createEvict({ store, clock, ...options });
  opened.push(engine);
  const revocations: RevocationEvent[] = [];
  const errors: Error[] = [];
  engine.on('revocation', (e) => revocations.push(e));
  engine.on('error', (e) => errors.push(e));
  return { clock, inner, store, engine, revocations, errors };
}

function closer() {
  return vi.fn<(info: ConnectionCloseInfo) => void>();
}

/** Lets microtasks and the cluster's messages run. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

const randomToken = () => randomBytes(32).toString('base64url');

describe('options', () => {
  it('rejects invalid options with a TypeError naming the option', () => {
    expect(() => createEvict({ nodeId: 0 })).toThrow(/nodeId/);
    expect(() => createEvict({ nodeId: 1.5 })).toThrow(TypeError);
    expect(() => createEvict({ storeTimeoutMs: -1 })).toThrow(/storeTimeoutMs/);
    expect(() => createEvict({ sessionTtlMs: 2 * DAY_MS, maxCredentialLifetimeMs: DAY_MS })).toThrow(
      /sessionTtlMs/,
    );
    expect(() => createEvict({ failOpen: 'yes' as unknown as boolean })).toThrow(/failOpen/);
    expect(() => createEvict({ clock: {} as Clock })).toThrow(/clock/);
    expect(() => createEvict({ userExists: true as unknown as () => boolean })).toThrow(/userExists/);
  });

  it('warns about an unknown option', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const store = new MemoryStore();
      opened.push(store);
      const engine = createEvict({ store, sesionTtlMs: 5 } as EvictOptions);
      opened.push(engine);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('sesionTtlMs'), expect.anything());
    } finally {
      warn.mockRestore();
    }
  });
});

describe('sessions', () => {
  it('issues a 43-character base64url token and stores only its SHA-256 hash', async () => {
    const { engine, store, clock } = setup({ sessionTtlMs: DAY_MS });
    const issued = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issued).toMatchObject({
      uid: 'alice',
      deviceFlag: 1,
      issuedAtMs: clock.now,
      expiresAtMs: clock.now + DAY_MS,
    });

    const expectedHash = createHash('sha256').update(issued.token).digest('base64url');
    expect(hashToken(issued.token)).toBe(expectedHash);
    const onFile = JSON.stringify(store.snapshot());
    expect(onFile).not.toContain(issued.token);
    expect(onFile).toContain(expectedHash);
    expect(await store.getSession(expectedHash)).toEqual({
      tokenHash: expectedHash,
      uid: 'alice',
      deviceFlag: 1,
      issuedAtMs: clock.now,
      expiresAtMs: clock.now + DAY_MS,
      retainUntilMs: clock.now + 2 * DAY_MS,
    });

    const other = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    expect(other.token).not.toBe(issued.token);
  });

  it('registers a host-issued token, stored as a hash only', async () => {
    const { engine, store, clock } = setup();
    const token = 'host-issued-login-token-0123456789';
    await engine.registerSession({ token, uid: 'alice', deviceFlag: 2, expiresAtMs: clock.now + 1_000 });
    expect(JSON.stringify(store.snapshot())).not.toContain(token);
    expect(await engine.check({ type: 'session', token })).toEqual({
      ok: true,
      uid: 'alice',
      deviceFlag: 2,
      credential: 'session',
    });
    expect((await store.getSession(hashToken(token)))!.issuedAtMs).toBe(clock.now);
  });

  it('rejects invalid session input with a TypeError and stores nothing', async () => {
    const { engine, store, clock } = setup({ maxCredentialLifetimeMs: 10 * DAY_MS, sessionTtlMs: DAY_MS });
    const exp = clock.now + 1_000;
    const before = store.snapshot();
    await expect(
      engine.registerSession({ token: 't', uid: '', deviceFlag: 0, expiresAtMs: exp }),
    ).rejects.toThrow(TypeError);
    await expect(
      engine.registerSession({ token: 't', uid: 'a\u0000b', deviceFlag: 0, expiresAtMs: exp }),
    ).rejects.toThrow(TypeError);
    await expect(
      engine.registerSession({ token: 't', uid: 'alice', deviceFlag: 256, expiresAtMs: exp }),
    ).rejects.toThrow(TypeError);
    await expect(
      engine.registerSession({ token: '', uid: 'alice', deviceFlag: 0, expiresAtMs: exp }),
    ).rejects.toThrow(TypeError);
    await expect(
      engine.registerSession({ token: 't', uid: 'alice', deviceFlag: 0, expiresAtMs: clock.now }),
    ).rejects.toThrow(TypeError);
    await expect(engine.issueSession({ uid: 'alice', deviceFlag: 0, ttlMs: 11 * DAY_MS })).rejects.toThrow(
      TypeError,
    );
    await expect(engine.issueSession({ uid: 'alice', deviceFlag: 0, ttlMs: 0 })).rejects.toThrow(TypeError);
    expect(store.snapshot()).toEqual(before);
  });

  it('answers ok until the ttl, expired from the ttl on, and unknown once the store dropped it a day later', async () => {
    const { engine, clock } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0, ttlMs: 60_000 });
    expect(await engine.check({ type: 'session', token })).toMatchObject({ ok: true, uid: 'alice' });
    clock.advance(59_999);
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    clock.advance(1);
    expect(await engine.check({ type: 'session', token })).toEqual({
      ok: false,
      reason: 'expired',
      uid: 'alice',
    });
    clock.advance(DAY_MS);
    expect(await engine.check({ type: 'session', token })).toEqual({ ok: false, reason: 'unknown' });
  });

  it('answers expired for a session the store still returns past its expiry (store clock behind the engine)', async () => {
    const storeClock = new ManualClock();
    const engineClock = new ManualClock(storeClock.now);
    const store = new MemoryStore({ clock: storeClock });
    opened.push(store);
    const engine = createEvict({ store, clock: engineClock });
    opened.push(engine);
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0, ttlMs: 60_000 });
    engineClock.advance(60_000);
    expect(await engine.check({ type: 'session', token })).toEqual({
      ok: false,
      reason: 'expired',
      uid: 'alice',
    });
    await expect(engine.logout(token)).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
  });

  it('answers unknown for tokens it never saw', async () => {
    const { engine } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    for (const token of [randomToken(), randomToken(), 'x', '', 'y'.repeat(5_000)]) {
      expect(await engine.check({ type: 'session', token })).toEqual({ ok: false, reason: 'unknown' });
    }
  });

  it('answers logged_out after logout', async () => {
    const { engine } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await engine.logout(token);
    expect(await engine.check({ type: 'session', token })).toEqual({
      ok: false,
      reason: 'logged_out',
      uid: 'alice',
    });
  });

  it('sessionOf answers the live session or EVICT_INVALID_TOKEN', async () => {
    const { engine } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    expect(await engine.sessionOf(token)).toMatchObject({ uid: 'alice', tokenHash: hashToken(token) });
    await expect(engine.sessionOf(randomToken())).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
    await expect(engine.sessionOf('')).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
  });
});

describe('kickUser', () => {
  it('rejects sessions issued at or before the kick; one issued 1 ms after works', async () => {
    const { engine, clock } = setup();
    const old = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    clock.advance(10);
    const sameMs = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    const kick = await engine.kickUser('alice');
    expect(kick.atMs).toBe(clock.now);
    expect(await engine.check({ type: 'session', token: old.token })).toEqual({
      ok: false,
      reason: 'kicked',
      uid: 'alice',
    });
    expect(await engine.check({ type: 'session', token: sameMs.token })).toEqual({
      ok: false,
      reason: 'kicked',
      uid: 'alice',
    });
    clock.advance(1);
    const fresh = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    expect(await engine.check({ type: 'session', token: fresh.token })).toMatchObject({
      ok: true,
      uid: 'alice',
    });
  });

  it('does not touch other users', async () => {
    const { engine } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const bob = await engine.issueSession({ uid: 'bob', deviceFlag: 0 });
    await engine.kickUser('alice');
    expect((await engine.check({ type: 'session', token: bob.token })).ok).toBe(true);
  });

  it('rejects a stateless credential issued at the kick ms, accepts one issued 1 ms after', async () => {
    const { engine, clock } = setup();
    await engine.addUser('alice');
    clock.advance(123);
    const { atMs } = await engine.kickUser('alice');
    clock.advance(10);
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: atMs - 1 })).toEqual({
      ok: false,
      reason: 'kicked',
      uid: 'alice',
    });
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: atMs })).toEqual({
      ok: false,
      reason: 'kicked',
      uid: 'alice',
    });
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: atMs + 1 })).toEqual({
      ok: true,
      uid: 'alice',
      credential: 'stateless',
    });
  });

  it('rejects a second-resolution credential of the kick second (same-second rule); the next second works', async () => {
    const { engine, clock } = setup();
    await engine.addUser('alice');
    clock.advance(500); // the kick lands in the middle of a second
    const { atMs } = await engine.kickUser('alice');
    const kickSec = Math.floor(atMs / 1000);
    clock.advance(1_000);
    for (const issuedAtSec of [kickSec - 1, kickSec]) {
      expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtSec })).toEqual({
        ok: false,
        reason: 'kicked',
        uid: 'alice',
      });
    }
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtSec: kickSec + 1 })).toEqual({
      ok: true,
      uid: 'alice',
      credential: 'stateless',
    });
  });

  it('a stateless credential without a device survives a single-device quit, not a kick', async () => {
    const { engine, clock } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const issuedAtMs = clock.now;
    clock.advance(5);
    await engine.quitDevice('alice', 0);
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs })).toEqual({
      ok: true,
      uid: 'alice',
      credential: 'stateless',
    });
    // The same credential bound to the quit device is rejected, one bound to another device is not.
    expect(await engine.check({ type: 'stateless', uid: 'alice', deviceFlag: 0, issuedAtMs })).toEqual({
      ok: false,
      reason: 'device_quit',
      uid: 'alice',
    });
    expect(await engine.check({ type: 'stateless', uid: 'alice', deviceFlag: 1, issuedAtMs })).toEqual({
      ok: true,
      uid: 'alice',
      deviceFlag: 1,
      credential: 'stateless',
    });
    clock.advance(5);
    await engine.kickUser('alice');
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs })).toEqual({
      ok: false,
      reason: 'kicked',
      uid: 'alice',
    });
  });

  it("a stateless credential without a device is rejected by quitDevice('all')", async () => {
    const { engine, clock } = setup();
    await engine.addUser('alice');
    const issuedAtMs = clock.now;
    clock.advance(5);
    await engine.quitDevice('alice', 'all');
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs })).toEqual({
      ok: false,
      reason: 'device_quit',
      uid: 'alice',
    });
    expect((await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: clock.now + 1 })).ok).toBe(
      true,
    );
  });

  it('rejects a stateless credential issued longer ago than maxCredentialLifetimeMs, or past its expiry', async () => {
    const { engine, clock } = setup({ maxCredentialLifetimeMs: 10 * DAY_MS, sessionTtlMs: DAY_MS });
    const now = clock.now;
    expect(
      await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: now - 10 * DAY_MS - 1 }),
    ).toEqual({
      ok: false,
      reason: 'expired',
      uid: 'alice',
    });
    expect((await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: now - 10 * DAY_MS })).ok).toBe(
      true,
    );
    for (const expiresAtMs of [now - 1, now]) {
      expect(
        await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: now - 1_000, expiresAtMs }),
      ).toEqual({ ok: false, reason: 'expired', uid: 'alice' });
    }
    expect(
      (await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: now - 1_000, expiresAtMs: now + 1 }))
        .ok,
    ).toBe(true);
  });

  it('keeps the kick record as long as the longest credential lifetime, then forgets it safely', async () => {
    const { engine, store, clock } = setup({ maxCredentialLifetimeMs: 10 * DAY_MS, sessionTtlMs: DAY_MS });
    await engine.addUser('alice');
    const issuedAtMs = clock.now;
    clock.advance(1);
    await engine.kickUser('alice');
    clock.advance(10 * DAY_MS - 1);
    expect((await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs })).ok).toBe(false);
    clock.advance(1);
    store.sweep();
    expect(store.size().users).toBe(0);
    // The record is gone, but the credential it rejected is now too old to pass anyway.
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs })).toEqual({
      ok: false,
      reason: 'expired',
      uid: 'alice',
    });
  });

  it('throws a TypeError for a stateless credential with no issue time', async () => {
    const { engine } = setup();
    await expect(engine.check({ type: 'stateless', uid: 'alice' })).rejects.toThrow(TypeError);
  });

  it('fails with EVICT_UNKNOWN_USER for a user evict knows nothing of, and TypeError for a bad uid', async () => {
    const { engine, store } = setup();
    const before = store.snapshot();
    const error = await engine.kickUser('nobody').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownUserError);
    expect(error).toMatchObject({ code: 'EVICT_UNKNOWN_USER' });
    await expect(engine.kickUser('')).rejects.toThrow(TypeError);
    expect(store.snapshot()).toEqual(before);
  });

  it('never lowers the cutoff under concurrent kicks with clocks going back and forth', async () => {
    const storeClock = new ManualClock();
    const base = storeClock.now;
    const offsets = [30, 10, 50, 20, 40, 0, 45];
    const pending = offsets.map((o) => base + o);
    // The engine reads "now" once per kick: each kick gets the next value of this jittery clock.
    const jittery: Clock = { nowMs: () => pending.shift() ?? base + 5 };
    // Writes land in reverse order of their start, so the kick with the latest time is not the last write.
    // The engine writes through the store's `kick` (the fallback's raiseCutoff: kick-fallback.test.ts).
    const delays = offsets.map((_, i) => (offsets.length - i) * 3);
    class SlowCutoffs extends MemoryStore {
      override async kick(...args: Parameters<MemoryStore['kick']>): ReturnType<MemoryStore['kick']> {
        await new Promise((resolve) => setTimeout(resolve, delays.shift() ?? 0));
        return super.kick(...args);
      }
    }
    const store = new SlowCutoffs({ clock: storeClock });
    opened.push(store);
    const engine = createEvict({ store, clock: jittery });
    opened.push(engine);
    await store.touchUser('alice', base + DAY_MS);

    const results = await Promise.all(offsets.map(() => engine.kickUser('alice')));
    expect(results.map((r) => r.atMs).sort()).toEqual(offsets.map((o) => base + o).sort());
    expect((await store.getUser('alice'))!.cutoff).toEqual({ atMs: base + 50, reason: 'kicked' });

    // A later kick whose clock went back does not lower it either.
    await engine.kickUser('alice');
    expect((await store.getUser('alice'))!.cutoff).toEqual({ atMs: base + 50, reason: 'kicked' });
    expect((await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: base + 50 })).ok).toBe(false);
  });
});

describe('quitDevice', () => {
  it("rejects only that device's sessions; other devices keep working", async () => {
    const { engine, clock } = setup();
    const d0 = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const d1 = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    const d2 = await engine.issueSession({ uid: 'alice', deviceFlag: 2 });
    clock.advance(1);
    await engine.quitDevice('alice', 1);
    expect(await engine.check({ type: 'session', token: d1.token })).toEqual({
      ok: false,
      reason: 'device_quit',
      uid: 'alice',
    });
    expect((await engine.check({ type: 'session', token: d0.token })).ok).toBe(true);
    expect((await engine.check({ type: 'session', token: d2.token })).ok).toBe(true);

    // A new login on the quit device works, and makes the device present again.
    clock.advance(1);
    const again = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    expect((await engine.check({ type: 'session', token: again.token })).ok).toBe(true);
    await expect(engine.quitDevice('alice', 1)).resolves.toMatchObject({ atMs: clock.now });
  });

  it("'all' quits every device", async () => {
    const { engine, clock } = setup();
    const tokens = [];
    for (const deviceFlag of [0, 1, 2])
      tokens.push((await engine.issueSession({ uid: 'alice', deviceFlag })).token);
    clock.advance(1);
    await engine.quitDevice('alice', 'all');
    for (const token of tokens) {
      expect(await engine.check({ type: 'session', token })).toEqual({
        ok: false,
        reason: 'device_quit',
        uid: 'alice',
      });
    }
  });

  it('fails with EVICT_UNKNOWN_USER for an unknown user', async () => {
    const { engine } = setup();
    await expect(engine.quitDevice('nobody', 0)).rejects.toMatchObject({ code: 'EVICT_UNKNOWN_USER' });
    await expect(engine.quitDevice('nobody', 'all')).rejects.toMatchObject({ code: 'EVICT_UNKNOWN_USER' });
  });

  it('fails with EVICT_DEVICE_NOT_FOUND for a device with no session and no connection, changing nothing', async () => {
    const { engine, store, revocations } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const before = store.snapshot();
    await expect(engine.quitDevice('alice', 1)).rejects.toMatchObject({
      code: 'EVICT_DEVICE_NOT_FOUND',
      uid: 'alice',
      deviceFlag: 1,
    });
    expect(store.snapshot()).toEqual(before);
    expect(revocations).toEqual([]);
  });

  it('finds a device that has only a connection', async () => {
    const { engine } = setup();
    await engine.addUser('alice');
    const close = closer();
    await engine.registerConnection({ uid: 'alice', deviceFlag: 2, close });
    await expect(engine.quitDevice('alice', 2)).resolves.toMatchObject({ connectionsClosed: 1 });
    expect(close).toHaveBeenCalledWith({ code: 4002, reason: 'device_quit' });
  });

  it('does not find a device whose only session has expired', async () => {
    const { engine, clock } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0, ttlMs: DAY_MS }); // keeps the user known
    await engine.issueSession({ uid: 'alice', deviceFlag: 1, ttlMs: 60_000 });
    clock.advance(59_999);
    await expect(engine.quitDevice('alice', 1)).resolves.toBeDefined();
    clock.advance(1);
    await engine.issueSession({ uid: 'alice', deviceFlag: 2, ttlMs: 60_000 });
    clock.advance(60_000);
    await expect(engine.quitDevice('alice', 2)).rejects.toMatchObject({ code: 'EVICT_DEVICE_NOT_FOUND' });
  });

  it('rejects an invalid device flag with a TypeError', async () => {
    const { engine } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    for (const flag of [-1, 256, 1.5, Number.NaN]) {
      await expect(engine.quitDevice('alice', flag)).rejects.toThrow(TypeError);
    }
  });

  it('lets the userExists option decide whether a user exists', async () => {
    const known = setup({ userExists: async (uid) => uid === 'carol' });
    await expect(known.engine.quitDevice('carol', 'all')).resolves.toBeDefined();
    await expect(known.engine.kickUser('carol')).resolves.toBeDefined();
    // Known to the host, but the device itself still has to be present.
    await expect(known.engine.quitDevice('carol', 0)).rejects.toMatchObject({
      code: 'EVICT_DEVICE_NOT_FOUND',
    });
    expect(await known.engine.userExists('carol')).toBe(true);

    // Unknown to the host: evict's own records do not make the user exist.
    await known.engine.issueSession({ uid: 'dave', deviceFlag: 0 });
    await expect(known.engine.quitDevice('dave', 0)).rejects.toMatchObject({ code: 'EVICT_UNKNOWN_USER' });
    await expect(known.engine.kickUser('dave')).rejects.toMatchObject({ code: 'EVICT_UNKNOWN_USER' });
    expect(await known.engine.userExists('dave')).toBe(false);
  });
});

describe('connections', () => {
  it('assigns connIds that are unique across nodes, so conn/remove without node_id is unambiguous', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const one = createEvict({ store, clock, nodeId: 1 });
    const two = createEvict({ store, clock, nodeId: 2 });
    opened.push(store, one, two);
    const closedOn = vi.fn();
    const a = await one.registerConnection({ uid: 'alice', deviceFlag: 0, close: () => closedOn(1) });
    const b = await two.registerConnection({ uid: 'alice', deviceFlag: 1, close: () => closedOn(2) });
    expect(a.connId).not.toBe(b.connId);
    expect([a.connId, b.connId]).toEqual([1_000_000_001, 2_000_000_001]);
    await two.removeConnection({ uid: 'alice', connId: a.connId });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(closedOn.mock.calls).toEqual([[1]]);
    expect(await store.listConnections('alice')).toMatchObject([{ nodeId: 2, connId: b.connId }]);
  });

  it('a logout closes the connections opened with that session on every node (4004), and no other', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const one = createEvict({ store, clock, nodeId: 1 });
    const two = createEvict({ store, clock, nodeId: 2 });
    opened.push(store, one, two);
    const { token } = await one.issueSession({ uid: 'alice', deviceFlag: 0 });
    const { token: other } = await one.issueSession({ uid: 'alice', deviceFlag: 0 });
    const closed: string[] = [];
    const open = (engine: Evict, name: string, credential?: string) =>
      engine.registerConnection({
        uid: 'alice',
        deviceFlag: 0,
        close: (info) => closed.push(`${name} ${info.code} ${info.reason}`),
        ...(credential === undefined ? {} : { credential: { type: 'session', token: credential } }),
      });
    await open(one, 'here');
    await open(one, 'here, this session', token);
    await open(two, 'there, this session', token);
    await open(two, 'there, the other session', other);
    await open(two, 'there, no credential');
    const events: RevocationEvent[] = [];
    one.on('revocation', (event) => events.push(event));
    const result = await one.logout(token);
    // This node's before the answer (and counted); the other node's on the logout's message.
    expect(result.connectionsClosed).toBe(1);
    expect(closed).toContain('here, this session 4004 session_revoked');
    await tick();
    expect(closed.sort()).toEqual([
      'here, this session 4004 session_revoked',
      'there, this session 4004 session_revoked',
    ]);
    expect(events).toMatchObject([{ action: 'logout', connectionsClosed: 1 }]);
    // Their records dropped by the nodes that held them.
    await tick();
    expect((await store.listConnections('alice')).length).toBe(3);
    // A connection that registers with the session after the logout is refused, and bound to nothing.
    await expect(open(two, 'late', token)).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
  });

  it('refuses a connectionKickGraceMs that is not a non-negative integer, and takes 0 (close at once)', async () => {
    for (const bad of [-1, 1.5, Number.NaN, '2000'])
      expect(() => createEvict({ connectionKickGraceMs: bad as number })).toThrow(/connectionKickGraceMs/);
    const engine = createEvict({ connectionKickGraceMs: 0 });
    opened.push(engine);
    const infos: ConnectionCloseInfo[] = [];
    const c = await engine.registerConnection({
      uid: 'alice',
      deviceFlag: 0,
      close: (info) => infos.push(info),
    });
    await engine.kickConnection({ uid: 'alice', connId: c.connId });
    expect(infos).toEqual([{ code: 4006, reason: 'connection_kicked', graceMs: 0 }]);
  });

  it('refuses a nodeId whose connIds would not be safe integers', () => {
    expect(() => createEvict({ nodeId: 9_007_199 })).toThrow(TypeError);
  });

  it('a store outage while registering a connection with a credential is a store error, not a bad token', async () => {
    const clock = new ManualClock();
    const faulty = new FaultyStore(new MemoryStore({ clock }));
    const engine = createEvict({ store: faulty, clock });
    opened.push(faulty, engine);
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    faulty.inject('fail', 'getSession');
    await expect(
      engine.registerConnection({
        uid: 'alice',
        deviceFlag: 0,
        close: () => {},
        credential: { type: 'session', token },
      }),
    ).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    faulty.heal();
    expect(await faulty.listConnections('alice')).toEqual([]);
  });

  it('assigns positive connIds and records the connection in the store', async () => {
    const { engine, store, clock } = setup({ nodeId: 3 });
    const a = await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: closer() });
    const b = await engine.registerConnection({ uid: 'alice', deviceFlag: 1, close: closer() });
    const c = await engine.registerConnection({ uid: 'bob', deviceFlag: 1, connId: 77, close: closer() });
    expect(a.connId).toBeGreaterThan(0);
    expect(b.connId).toBeGreaterThan(0);
    expect(Number.isSafeInteger(a.connId) && Number.isSafeInteger(b.connId)).toBe(true);
    expect(a.connId).not.toBe(b.connId);
    expect(c).toMatchObject({ uid: 'bob', deviceFlag: 1, connId: 77, nodeId: 3 });
    expect(await store.listConnections('alice')).toEqual(
      expect.arrayContaining([
        {
          uid: 'alice',
          deviceFlag: 0,
          nodeId: 3,
          connId: a.connId,
          connectedAtMs: clock.now,
          incarnation: expect.any(String),
        },
        {
          uid: 'alice',
          deviceFlag: 1,
          nodeId: 3,
          connId: b.connId,
          connectedAtMs: clock.now,
          incarnation: expect.any(String),
        },
      ]),
    );
    expect(engine.localConnections()).toHaveLength(3);
  });

  it('keeps its connections alive with one node heartbeat per interval, whatever their number', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const engine = createEvict({ store, clock, nodeId: 4, connectionTtlMs: 300 });
    const beats = vi.spyOn(store, 'heartbeatNode');
    const puts = vi.spyOn(store, 'putConnections');
    const written = () => puts.mock.calls.reduce((sum, [records]) => sum + records.length, 0);
    for (let i = 0; i < 50; i++)
      await engine.registerConnection({ uid: `u${i}`, deviceFlag: 1, close: closer() });
    expect(beats).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(beats.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(beats.mock.calls.length).toBeLessThanOrEqual(5);
    expect(written()).toBe(50);
    clock.advance(10 * 300);
    expect(await store.listConnections('u1')).toEqual([]);
    // The lapsed incarnation stays dead: the next heartbeat starts a new one and registers every connection again.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await store.listConnections('u1')).toHaveLength(1);
    expect((await store.listConnections('u1'))[0]?.nodeId).toBe(4);
    await engine.close();
    await store.close();
  });

  it('rejects a duplicate or invalid connection with a TypeError', async () => {
    const { engine, store } = setup();
    await engine.registerConnection({ uid: 'alice', deviceFlag: 0, connId: 7, close: closer() });
    await expect(
      engine.registerConnection({ uid: 'bob', deviceFlag: 0, connId: 7, close: closer() }),
    ).rejects.toThrow(TypeError);
    for (const connId of [0, -1, 1.5, Number.NaN]) {
      await expect(
        engine.registerConnection({ uid: 'alice', deviceFlag: 0, connId, close: closer() }),
      ).rejects.toThrow(TypeError);
    }
    await expect(engine.registerConnection({ uid: '', deviceFlag: 0, close: closer() })).rejects.toThrow(
      TypeError,
    );
    await expect(
      engine.registerConnection({ uid: 'alice', deviceFlag: 300, close: closer() }),
    ).rejects.toThrow(TypeError);
    await expect(
      engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: 'no' as unknown as () => void }),
    ).rejects.toThrow(TypeError);
    expect(engine.localConnections()).toHaveLength(1);
    expect(await store.listConnections('bob')).toEqual([]);
  });

  it("kickUser closes all of the user's connections, once, with 4001 kicked", async () => {
    const { engine, store } = setup();
    await engine.addUser('alice');
    const a = closer();
    const b = closer();
    const bob = closer();
    const closed: ConnectionClosedEvent[] = [];
    engine.on('connectionClosed', (e) => closed.push(e));
    const ca = await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: a });
    await engine.registerConnection({ uid: 'alice', deviceFlag: 1, close: b });
    await engine.registerConnection({ uid: 'bob', deviceFlag: 0, close: bob });

    const result = await engine.kickUser('alice');
    expect(result.connectionsClosed).toBe(2);
    expect(a).toHaveBeenCalledTimes(1);
    expect(a).toHaveBeenCalledWith({ code: 4001, reason: 'kicked' });
    expect(b).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledWith({ code: 4001, reason: 'kicked' });
    expect(bob).not.toHaveBeenCalled();
    expect(await store.listConnections('alice')).toEqual([]);
    expect(await store.listConnections('bob')).toHaveLength(1);
    expect(engine.localConnections().map((c) => c.uid)).toEqual(['bob']);
    expect(closed).toContainEqual({
      uid: 'alice',
      deviceFlag: 0,
      connId: ca.connId,
      nodeId: 1,
      code: 4001,
      reason: 'kicked',
      atMs: expect.any(Number),
    });

    // A second kick finds nothing left to close.
    expect((await engine.kickUser('alice')).connectionsClosed).toBe(0);
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
    // Unregistering an already closed connection is harmless.
    await expect(ca.unregister()).resolves.toBeUndefined();
  });

  it("quitDevice closes only that device's connections, with 4002", async () => {
    const { engine } = setup();
    await engine.addUser('alice');
    const d0 = closer();
    const d1 = closer();
    await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: d0 });
    await engine.registerConnection({ uid: 'alice', deviceFlag: 1, close: d1 });
    expect((await engine.quitDevice('alice', 1)).connectionsClosed).toBe(1);
    expect(d1).toHaveBeenCalledExactlyOnceWith({ code: 4002, reason: 'device_quit' });
    expect(d0).not.toHaveBeenCalled();
    expect((await engine.quitDevice('alice', 'all')).connectionsClosed).toBe(1);
    expect(d0).toHaveBeenCalledExactlyOnceWith({ code: 4002, reason: 'device_quit' });
  });

  it('removeConnection closes one connection with 4003 and leaves credentials valid', async () => {
    const { engine, store } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const first = closer();
    const second = closer();
    const c1 = await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: first });
    await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: second });

    expect(await engine.removeConnection({ uid: 'alice', connId: c1.connId })).toMatchObject({
      connectionsClosed: 1,
    });
    expect(first).toHaveBeenCalledExactlyOnceWith({ code: 4003, reason: 'connection_removed' });
    expect(second).not.toHaveBeenCalled();
    expect(await store.listConnections('alice')).toHaveLength(1);
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);

    await expect(engine.removeConnection({ uid: 'alice', connId: c1.connId })).rejects.toMatchObject({
      code: 'EVICT_CONNECTION_NOT_FOUND',
    });
    expect(first).toHaveBeenCalledTimes(1);
  });

  it('removeConnection with a wrong nodeId, uid or connId finds nothing and closes nothing', async () => {
    const { engine } = setup({ nodeId: 1 });
    const close = closer();
    const c = await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close });
    for (const input of [
      { uid: 'alice', connId: c.connId, nodeId: 2 },
      { uid: 'bob', connId: c.connId },
      { uid: 'alice', connId: c.connId + 1 },
    ]) {
      await expect(engine.removeConnection(input)).rejects.toMatchObject({
        code: 'EVICT_CONNECTION_NOT_FOUND',
      });
    }
    expect(close).not.toHaveBeenCalled();
    await expect(engine.removeConnection({ uid: 'alice', connId: 0 })).rejects.toThrow(TypeError);
    await expect(engine.removeConnection({ uid: 'alice', connId: 1, nodeId: -1 })).rejects.toThrow(TypeError);
    await expect(
      engine.removeConnection({ uid: 'alice', connId: c.connId, nodeId: 1 }),
    ).resolves.toMatchObject({
      connectionsClosed: 1,
    });
    expect(close).toHaveBeenCalledTimes(1);
  });

  describe('across two engines sharing one store', () => {
    function cluster() {
      const { engine: node1, store, clock, revocations } = setup({ nodeId: 1 });
      const node2 = createEvict({ store, clock, nodeId: 2 });
      opened.push(node2);
      return { node1, node2, store, clock, revocations };
    }

    it('a kick on node 1 closes a connection held by node 2', async () => {
      const { node1, node2, store, revocations } = cluster();
      await node1.addUser('alice');
      const close = closer();
      const closedOn2: ConnectionClosedEvent[] = [];
      node2.on('connectionClosed', (e) => closedOn2.push(e));
      const handle = await node2.registerConnection({ uid: 'alice', deviceFlag: 0, close });

      const result = await node1.kickUser('alice');
      expect(result.connectionsClosed).toBe(1);
      expect(revocations[0]).toMatchObject({ servedByNodeId: 1, connectionsClosed: 1 });
      await tick();
      expect(close).toHaveBeenCalledExactlyOnceWith({ code: 4001, reason: 'kicked' });
      expect(closedOn2).toEqual([
        {
          uid: 'alice',
          deviceFlag: 0,
          connId: handle.connId,
          nodeId: 2,
          code: 4001,
          reason: 'kicked',
          atMs: expect.any(Number),
        },
      ]);
      expect(node2.localConnections()).toEqual([]);
      expect(await store.listConnections('alice')).toEqual([]);
    });

    it('removeConnection on node 2 without nodeId closes the connection held by node 1', async () => {
      const { node1, node2, store } = cluster();
      const close = closer();
      const other = closer();
      await node1.registerConnection({ uid: 'alice', deviceFlag: 0, connId: 5, close });
      await node2.registerConnection({ uid: 'alice', deviceFlag: 0, connId: 6, close: other });
      expect(await node2.removeConnection({ uid: 'alice', connId: 5 })).toMatchObject({
        connectionsClosed: 1,
      });
      await tick();
      expect(close).toHaveBeenCalledExactlyOnceWith({ code: 4003, reason: 'connection_removed' });
      expect(other).not.toHaveBeenCalled();
      expect(node1.localConnections()).toEqual([]);
      expect((await store.listConnections('alice')).map((c) => [c.nodeId, c.connId])).toEqual([[2, 6]]);
    });

    it('a message for node 2 does not close the connection with the same connId on node 1', async () => {
      const { node1, node2 } = cluster();
      const on1 = closer();
      const on2 = closer();
      await node1.registerConnection({ uid: 'alice', deviceFlag: 0, connId: 9, close: on1 });
      await node2.registerConnection({ uid: 'alice', deviceFlag: 0, connId: 9, close: on2 });
      await node1.removeConnection({ uid: 'alice', connId: 9, nodeId: 2 });
      await tick();
      expect(on2).toHaveBeenCalledTimes(1);
      expect(on1).not.toHaveBeenCalled();
    });
  });

  it('unregister removes the connection from the store and from this node', async () => {
    const { engine, store } = setup();
    await engine.addUser('alice');
    const close = closer();
    const handle = await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close });
    expect(await store.listConnections('alice')).toHaveLength(1);
    await handle.unregister();
    await handle.unregister();
    expect(await store.listConnections('alice')).toEqual([]);
    expect(engine.localConnections()).toEqual([]);
    expect((await engine.kickUser('alice')).connectionsClosed).toBe(0);
    expect(close).not.toHaveBeenCalled();
  });

  it('rejects a connection whose credential is already revoked, and does not leave it registered', async () => {
    const { engine, store, clock } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    clock.advance(1);
    await engine.kickUser('alice');
    const close = closer();
    await expect(
      engine.registerConnection({
        uid: 'alice',
        deviceFlag: 0,
        close,
        credential: { type: 'session', token },
      }),
    ).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
    expect(engine.localConnections()).toEqual([]);
    expect(await store.listConnections('alice')).toEqual([]);

    clock.advance(1);
    const fresh = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const handle = await engine.registerConnection({
      uid: 'alice',
      deviceFlag: 0,
      close,
      credential: { type: 'session', token: fresh.token },
    });
    expect(await store.listConnections('alice')).toHaveLength(1);
    await handle.unregister();
  });

  it('a close function that throws does not break the kick; the error is emitted', async () => {
    const { engine, store, errors, revocations } = setup();
    await engine.addUser('alice');
    const boom = new Error('socket already gone');
    const thrower = vi.fn(() => {
      throw boom;
    });
    const fine = closer();
    await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: thrower });
    await engine.registerConnection({ uid: 'alice', deviceFlag: 1, close: fine });
    await expect(engine.kickUser('alice')).resolves.toMatchObject({ connectionsClosed: 2 });
    expect(thrower).toHaveBeenCalledTimes(1);
    expect(fine).toHaveBeenCalledTimes(1);
    expect(errors).toEqual([boom]);
    expect(revocations).toHaveLength(1);
    expect(engine.localConnections()).toEqual([]);
    expect(await store.listConnections('alice')).toEqual([]);
  });

  it('refuses new connections once the engine is closed', async () => {
    const { engine } = setup();
    await engine.close();
    await expect(
      engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: closer() }),
    ).rejects.toMatchObject({
      code: 'EVICT_CLOSED',
    });
  });
});

describe('audit events', () => {
  it('every revocation emits exactly one event with who, what, when and where', async () => {
    const { engine, clock, revocations } = setup({ nodeId: 4 });
    const session = await engine.issueSession({ uid: 'alice', deviceFlag: 2 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'ring-1', deviceFlag: 2 });
    await engine.setPushToken('alice', { kind: 'message', token: 'msg-1', deviceFlag: 2 });
    const conn = await engine.registerConnection({ uid: 'alice', deviceFlag: 2, close: closer() });
    const manager = { type: 'manager' } as const;
    const t0 = clock.now;

    clock.advance(1);
    await engine.removeConnection(
      { uid: 'alice', connId: conn.connId, nodeId: 4 },
      { actor: manager, endpoint: 'POST /conn/remove' },
    );
    expect(revocations).toEqual([
      {
        action: 'remove_connection',
        uid: 'alice',
        connId: conn.connId,
        nodeId: 4,
        actor: manager,
        endpoint: 'POST /conn/remove',
        atMs: t0 + 1,
        servedByNodeId: 4,
        connectionsClosed: 1,
      },
    ]);

    const second = await engine.issueSession({ uid: 'alice', deviceFlag: 2 });
    clock.advance(1);
    await engine.clearPushToken(second.token, 'message', { endpoint: 'DELETE /v1/api/user/message/token' });
    expect(revocations.at(-1)).toEqual({
      action: 'clear_push_token',
      uid: 'alice',
      pushTokenKinds: ['message'],
      actor: { type: 'user', id: 'alice' },
      endpoint: 'DELETE /v1/api/user/message/token',
      atMs: t0 + 2,
      servedByNodeId: 4,
      connectionsClosed: 0,
    });

    clock.advance(1);
    await engine.logout(session.token, { uid: 'alice', endpoint: 'POST /v1/api/user/logout' });
    expect(revocations.at(-1)).toEqual({
      action: 'logout',
      uid: 'alice',
      deviceFlag: 2,
      sessionId: session.sessionId,
      pushTokenKinds: ['ring'],
      actor: { type: 'user', id: 'alice' },
      endpoint: 'POST /v1/api/user/logout',
      atMs: t0 + 3,
      servedByNodeId: 4,
      connectionsClosed: 0,
    });

    clock.advance(1);
    await engine.quitDevice('alice', 2, { actor: manager, endpoint: 'POST /user/device_quit' });
    expect(revocations.at(-1)).toEqual({
      action: 'quit_device',
      uid: 'alice',
      deviceFlag: 2,
      actor: manager,
      endpoint: 'POST /user/device_quit',
      atMs: t0 + 4,
      servedByNodeId: 4,
      connectionsClosed: 0,
    });

    clock.advance(1);
    await engine.quitDevice('alice', 'all');
    expect(revocations.at(-1)).toEqual({
      action: 'quit_device',
      uid: 'alice',
      deviceFlag: 'all',
      actor: { type: 'host' },
      atMs: t0 + 5,
      servedByNodeId: 4,
      connectionsClosed: 0,
    });

    clock.advance(1);
    const admin = { type: 'admin', id: 'administrator' } as const;
    await engine.kickUser('alice', { actor: admin, endpoint: 'POST /v4/im_open_login_svc/kick' });
    expect(revocations.at(-1)).toEqual({
      action: 'kick_user',
      uid: 'alice',
      actor: admin,
      endpoint: 'POST /v4/im_open_login_svc/kick',
      atMs: t0 + 6,
      servedByNodeId: 4,
      connectionsClosed: 0,
    });
    expect(revocations).toHaveLength(6);

    const all = JSON.stringify(revocations);
    expect(all).not.toContain(session.token);
    expect(all).not.toContain(second.token);
  });

  it('a failed revocation emits no event', async () => {
    const { engine, revocations } = setup();
    await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await expect(engine.kickUser('nobody')).rejects.toThrow();
    await expect(engine.quitDevice('alice', 1)).rejects.toThrow();
    await expect(engine.removeConnection({ uid: 'alice', connId: 1 })).rejects.toThrow();
    await expect(engine.logout(randomToken())).rejects.toThrow();
    expect(revocations).toEqual([]);
  });

  it('a throwing listener does not fail the revocation; the error is emitted and other listeners still run', async () => {
    const { engine, errors, revocations } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const boom = new Error('audit sink down');
    engine.on('revocation', () => {
      throw boom;
    });
    const after = vi.fn();
    engine.on('revocation', after);
    await expect(engine.kickUser('alice')).resolves.toMatchObject({ connectionsClosed: 0 });
    expect(revocations).toHaveLength(1);
    expect(after).toHaveBeenCalledTimes(1);
    expect(errors).toEqual([boom]);
    expect((await engine.check({ type: 'session', token })).ok).toBe(false);
  });

  it('on() returns a function that removes the listener', async () => {
    const { engine } = setup();
    await engine.addUser('alice');
    const listener = vi.fn();
    const off = engine.on('revocation', listener);
    await engine.kickUser('alice');
    off();
    await engine.kickUser('alice');
    expect(listener).toHaveBeenCalledTimes(1);
  });
});

describe('logout and push tokens', () => {
  it('sets and reads push tokens, one per kind', async () => {
    const { engine, clock } = setup({ maxCredentialLifetimeMs: 10 * DAY_MS, sessionTtlMs: DAY_MS });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r1', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'message', token: 'm1', deviceFlag: 1 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r2', deviceFlag: 0 });
    const tokens = await engine.pushTokens('alice');
    expect(tokens).toHaveLength(2);
    expect(tokens).toContainEqual({
      kind: 'ring',
      token: 'r2',
      deviceFlag: 0,
      updatedAtMs: clock.now,
      expiresAtMs: clock.now + 10 * DAY_MS,
    });
    expect(tokens).toContainEqual(expect.objectContaining({ kind: 'message', token: 'm1', deviceFlag: 1 }));
    await expect(
      engine.setPushToken('alice', { kind: 'voip' as 'ring', token: 'x', deviceFlag: 0 }),
    ).rejects.toThrow(TypeError);
    await expect(engine.setPushToken('alice', { kind: 'ring', token: '', deviceFlag: 0 })).rejects.toThrow(
      TypeError,
    );
    await expect(engine.setPushToken('', { kind: 'ring', token: 'x', deviceFlag: 0 })).rejects.toThrow(
      TypeError,
    );
    await expect(engine.pushTokens('')).rejects.toThrow(TypeError);
  });

  it('logout clears ring and message and revokes the session', async () => {
    const { engine } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const other = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'message', token: 'm', deviceFlag: 0 });
    await engine.setPushToken('bob', { kind: 'ring', token: 'bob-r', deviceFlag: 0 });

    await expect(engine.logout(token, { uid: 'alice' })).resolves.toMatchObject({ connectionsClosed: 0 });
    expect(await engine.pushTokens('alice')).toEqual([]);
    expect(await engine.pushTokens('bob')).toHaveLength(1);
    expect(await engine.check({ type: 'session', token })).toMatchObject({ ok: false, reason: 'logged_out' });
    // Only that session: the user's other session is still live.
    expect((await engine.check({ type: 'session', token: other.token })).ok).toBe(true);
    await expect(engine.logout(token)).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
  });

  it("logout with a uid that is not the session's user fails with EVICT_INVALID_TOKEN and changes nothing", async () => {
    const { engine, store, revocations } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r', deviceFlag: 0 });
    const before = store.snapshot();
    await expect(engine.logout(token, { uid: 'mallory' })).rejects.toMatchObject({
      code: 'EVICT_INVALID_TOKEN',
    });
    expect(store.snapshot()).toEqual(before);
    expect(revocations).toEqual([]);
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
  });

  it('clearPushToken clears only the named kind', async () => {
    const { engine, revocations } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'message', token: 'm', deviceFlag: 0 });
    await engine.clearPushToken(token, 'ring');
    expect((await engine.pushTokens('alice')).map((t) => t.kind)).toEqual(['message']);
    expect(revocations.at(-1)!.pushTokenKinds).toEqual(['ring']);
    await engine.clearPushToken(token, 'ring');
    expect(revocations.at(-1)!.pushTokenKinds).toEqual([]);
    expect((await engine.pushTokens('alice')).map((t) => t.kind)).toEqual(['message']);
    // The session itself stays live.
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    await expect(engine.clearPushToken(token, 'voip' as 'ring')).rejects.toThrow(TypeError);
    await expect(engine.clearPushToken(randomToken(), 'message')).rejects.toMatchObject({
      code: 'EVICT_INVALID_TOKEN',
    });
    expect(await engine.pushTokens('alice')).toHaveLength(1);
  });

  it('if clearing push tokens fails, logout throws a store error and the session stays live; a retry succeeds', async () => {
    const { engine, store, revocations } = faultySetup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r', deviceFlag: 0 });
    store.inject('fail', 'clearPushTokens');
    const error = await engine.logout(token).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    expect(isStoreFailure(error)).toBe(true);
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    expect(await engine.pushTokens('alice')).toHaveLength(1);
    expect(revocations).toEqual([]);

    store.heal();
    await expect(engine.logout(token)).resolves.toBeDefined();
    expect(await engine.check({ type: 'session', token })).toMatchObject({ ok: false, reason: 'logged_out' });
    expect(await engine.pushTokens('alice')).toEqual([]);
    expect(revocations).toHaveLength(1);
  });

  it('if revoking the session fails, push tokens may already be cleared but the session stays live, and a retry completes the logout', async () => {
    const { engine, store, revocations } = faultySetup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await engine.setPushToken('alice', { kind: 'ring', token: 'r', deviceFlag: 0 });
    store.inject('fail', 'revokeSession');
    await expect(engine.logout(token)).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    expect(await engine.pushTokens('alice')).toEqual([]); // the documented half-way state
    expect(revocations).toEqual([]);

    store.heal();
    await expect(engine.logout(token)).resolves.toBeDefined();
    expect(await engine.check({ type: 'session', token })).toMatchObject({ ok: false, reason: 'logged_out' });
    expect(revocations).toHaveLength(1);
    expect(revocations[0]).toMatchObject({ action: 'logout', pushTokenKinds: [] });
  });
});

describe('store failures', () => {
  it('fails closed: a session check answers unavailable when getSession fails, and emits the error', async () => {
    const { engine, store, errors } = faultySetup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    store.inject('fail', 'getSession');
    expect(await engine.check({ type: 'session', token })).toEqual({ ok: false, reason: 'unavailable' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    store.heal();
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
  });

  it('fails closed when getUser fails, for sessions and stateless credentials alike', async () => {
    const { engine, store, errors, clock } = faultySetup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    store.inject('fail', 'getUser');
    expect(await engine.check({ type: 'session', token })).toEqual({ ok: false, reason: 'unavailable' });
    expect(await engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: clock.now })).toEqual({
      ok: false,
      reason: 'unavailable',
      uid: 'alice',
    });
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => isStoreFailure(e))).toBe(true);
  });

  it('with failOpen, a stateless credential passes degraded but a session token is still rejected', async () => {
    const { engine, store, errors, clock } = faultySetup({ failOpen: true });
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    store.inject('fail', 'getSession', 'getUser');
    expect(
      await engine.check({ type: 'stateless', uid: 'alice', deviceFlag: 1, issuedAtMs: clock.now }),
    ).toEqual({
      ok: true,
      uid: 'alice',
      deviceFlag: 1,
      credential: 'stateless',
      degraded: true,
    });
    expect(await engine.check({ type: 'session', token })).toEqual({ ok: false, reason: 'unavailable' });
    // Failing open never lets through what the credential itself says is dead.
    expect(
      await engine.check({
        type: 'stateless',
        uid: 'alice',
        issuedAtMs: clock.now - 10,
        expiresAtMs: clock.now,
      }),
    ).toEqual({ ok: false, reason: 'expired', uid: 'alice' });
    expect(errors.length).toBeGreaterThanOrEqual(2);
  });

  it('a hanging store makes kickUser reject with EVICT_STORE_TIMEOUT, and check answer unavailable', async () => {
    const { engine, store } = faultySetup({ storeTimeoutMs: 50 });
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    store.inject('hang');
    const error = await engine.kickUser('alice').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreTimeoutError);
    expect(error).toMatchObject({ code: 'EVICT_STORE_TIMEOUT', timeoutMs: 50 });
    expect(isStoreFailure(error)).toBe(true);
    expect(await engine.check({ type: 'session', token })).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('a failed raiseCutoff leaves no cutoff, closes nothing and emits nothing; a retry applies the kick', async () => {
    const { engine, store, inner, revocations, clock } = faultySetup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const close = closer();
    await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close });
    const before = inner.snapshot();
    clock.advance(1);
    store.inject('fail', 'raiseCutoff');
    await expect(engine.kickUser('alice')).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    await expect(engine.quitDevice('alice', 0)).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    expect(inner.snapshot()).toEqual(before);
    expect((await inner.getUser('alice'))!.cutoff).toBeUndefined();
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    expect(close).not.toHaveBeenCalled();
    expect(revocations).toEqual([]);

    store.heal();
    await expect(engine.kickUser('alice')).resolves.toMatchObject({ connectionsClosed: 1 });
    expect(await engine.check({ type: 'session', token })).toMatchObject({ ok: false, reason: 'kicked' });
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('the one-step kick (store.kick) failing: nothing written, closed, announced or emitted; a retry applies it', async () => {
    const { engine, store, inner, revocations, clock } = faultySetup({}, { kick: true });
    const messages: unknown[] = [];
    inner.subscribe((message) => messages.push(message));
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const close = closer();
    await engine.registerConnection({ uid: 'alice', deviceFlag: 0, close });
    await engine.check({ type: 'session', token }); // cached: the failure must not leave it stale either
    await tick();
    messages.length = 0;
    const before = inner.snapshot();
    clock.advance(1);
    store.inject('fail', 'kick');
    await expect(engine.kickUser('alice')).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    await expect(engine.quitDevice('alice', 0)).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    await tick();
    expect(inner.snapshot()).toEqual(before);
    expect(messages).toEqual([]);
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    expect(close).not.toHaveBeenCalled();
    expect(revocations).toEqual([]);

    store.heal();
    await expect(engine.quitDevice('alice', 0)).resolves.toMatchObject({ connectionsClosed: 1 });
    expect(await engine.check({ type: 'session', token })).toMatchObject({
      ok: false,
      reason: 'device_quit',
    });
    expect(close).toHaveBeenCalledTimes(1);
    expect(revocations).toHaveLength(1);
  });

  it('the one-step kick hanging past storeTimeoutMs rejects with EVICT_STORE_TIMEOUT and drops the cached user', async () => {
    const { engine, store } = faultySetup({ storeTimeoutMs: 50 }, { kick: true });
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    await engine.check({ type: 'session', token });
    store.inject('hang', 'kick');
    const started = Date.now();
    const error = await engine.kickUser('alice').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'EVICT_STORE_TIMEOUT', timeoutMs: 50 });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The write may still land: the next check reads the user again instead of trusting the cache.
    const misses = engine.cacheStats().misses;
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    expect(engine.cacheStats().misses).toBe(misses + 1);
  });

  it('a failed write when issuing a session rejects with a store error', async () => {
    const { engine, store } = faultySetup();
    store.inject('fail', 'putSession');
    await expect(engine.issueSession({ uid: 'alice', deviceFlag: 0 })).rejects.toMatchObject({
      code: 'EVICT_STORE_UNAVAILABLE',
    });
  });

  it('a failed connection write leaves nothing registered on this node', async () => {
    const { engine, store } = faultySetup();
    store.inject('fail', 'putConnection', 'putConnections');
    await expect(
      engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: closer() }),
    ).rejects.toMatchObject({
      code: 'EVICT_STORE_UNAVAILABLE',
    });
    expect(engine.localConnections()).toEqual([]);
  });
});

describe('sessionsOf', () => {
  it('lists the user sessions with their state, never a token', async () => {
    const { engine, clock } = setup();
    const a = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    clock.advance(1);
    const b = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    clock.advance(1);
    const c = await engine.issueSession({ uid: 'alice', deviceFlag: 2 });
    await engine.issueSession({ uid: 'bobby', deviceFlag: 0 });
    await engine.logout(a.token);
    await engine.quitDevice('alice', 1);
    const listed = await engine.sessionsOf('alice');
    expect(listed.map((s) => [s.deviceFlag, s.live, s.reason])).toEqual([
      [0, false, 'logged_out'],
      [1, false, 'device_quit'],
      [2, true, undefined],
    ]);
    expect(listed.map((s) => s.tokenHash)).toEqual([a, b, c].map((s) => hashToken(s.token)));
    expect(JSON.stringify(listed)).not.toContain(c.token);
    expect(await engine.sessionsOf('nobody')).toEqual([]);
  });
});

import {
  type ClusterMessage,
  createEvict,
  type Evict,
  type EvictOptions,
  type EvictStore,
  hashToken,
  isStoreFailure,
  MemoryStore,
  type RevocationEvent,
} from '@evict/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';
import { FaultyStore } from '../../../test/support/faulty-store.js';

/**
 * One node's view of a shared MemoryStore: faults as in FaultyStore, plus counts of the reads the
 * guard's cache saves, a getUser that can be held open, messages that can be held back, and a
 * link that the test raises and drops.
 */
class ProbeStore extends FaultyStore {
  readonly reads = { getSession: 0, getUser: 0 };
  /** While set, getUser reads the store at once but answers only when the gate opens. */
  userGate: Promise<void> | undefined;
  #holding: ClusterMessage[] | undefined;
  readonly #subscribers = new Set<(message: ClusterMessage) => void>();
  readonly #linkListeners = new Set<(up: boolean) => void>();

  constructor(inner: EvictStore, withLink: boolean) {
    super(inner);
    const getSession = this.getSession;
    const getUser = this.getUser;
    this.getSession = (tokenHash) => {
      this.reads.getSession += 1;
      return getSession(tokenHash);
    };
    this.getUser = async (uid) => {
      this.reads.getUser += 1;
      const gate = this.userGate;
      const user = await getUser(uid);
      if (gate !== undefined) await gate;
      return user;
    };
    if (!withLink) this.onLinkChange = undefined;
  }

  get storeReads(): number {
    return this.reads.getSession + this.reads.getUser;
  }

  override subscribe(listener: (message: ClusterMessage) => void): () => void {
    this.#subscribers.add(listener);
    const off = super.subscribe((message) => {
      if (this.#holding !== undefined) this.#holding.push(message);
      else listener(message);
    });
    return () => {
      this.#subscribers.delete(listener);
      off();
    };
  }

  /** Messages to this node wait until `deliverHeld()`. */
  holdMessages(): void {
    this.#holding = [];
  }

  deliverHeld(): void {
    const held = this.#holding ?? [];
    this.#holding = undefined;
    for (const message of held) for (const listener of this.#subscribers) listener(message);
  }

  onLinkChange?: (listener: (up: boolean) => void) => () => void = (listener) => {
    this.#linkListeners.add(listener);
    return () => this.#linkListeners.delete(listener);
  };

  link(up: boolean): void {
    for (const listener of this.#linkListeners) listener(up);
  }
}

const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

/** A cluster of engines (nodeIds 1, 2, …) on one MemoryStore, each through its own ProbeStore. */
function cluster(count: number, options: EvictOptions & { link?: boolean } = {}) {
  const { link = false, ...engineOptions } = options;
  const clock = new ManualClock();
  const memory = new MemoryStore({ clock });
  opened.push(memory);
  const nodes = Array.from({ length: count }, (_, i) => {
    const store = new ProbeStore(memory, link);
    const engine = createEvict({ store, clock, nodeId: i + 1, ...engineOptions });
    opened.push(engine);
    const revocations: RevocationEvent[] = [];
    engine.on('revocation', (e) => revocations.push(e));
    return { store, engine, revocations };
  });
  return { clock, memory, nodes };
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** A promise and the function that settles it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const session = (token: string) => ({ type: 'session' as const, token });

async function login(engine: Evict, uid = 'alice', deviceFlag = 0) {
  return (await engine.issueSession({ uid, deviceFlag })).token;
}

describe('the guard cache', () => {
  it('answers a second check of the same token without reading the store', async () => {
    const {
      nodes: [a],
    } = cluster(1);
    const token = await login(a!.engine);
    a!.store.reads.getSession = 0;
    a!.store.reads.getUser = 0;
    expect(await a!.engine.check(session(token))).toMatchObject({ ok: true, uid: 'alice' });
    expect(a!.store.reads).toEqual({ getSession: 1, getUser: 1 });
    for (let i = 0; i < 5; i += 1)
      expect(await a!.engine.check(session(token))).toMatchObject({ ok: true, uid: 'alice' });
    expect(a!.store.reads).toEqual({ getSession: 1, getUser: 1 });
    expect(a!.engine.cacheStats()).toMatchObject({ entries: 2, trusted: true, hits: 10, misses: 2 });
  });

  it('answers a second check of a stateless credential without reading the store', async () => {
    const {
      clock,
      nodes: [a],
    } = cluster(1);
    const jwt = { type: 'stateless' as const, uid: 'bob', deviceFlag: 1, issuedAtMs: clock.now };
    expect(await a!.engine.check(jwt)).toMatchObject({ ok: true, uid: 'bob' });
    expect(await a!.engine.check(jwt)).toMatchObject({ ok: true, uid: 'bob' });
    expect(a!.store.reads.getUser).toBe(1);
  });

  it('does not cache unknown tokens: each costs one read, and none takes a place in the cache', async () => {
    const {
      nodes: [a],
    } = cluster(1);
    for (let i = 0; i < 3; i += 1)
      expect(await a!.engine.check(session('never-issued'))).toEqual({ ok: false, reason: 'unknown' });
    expect(a!.store.reads.getSession).toBe(3);
    expect(a!.engine.cacheStats().entries).toBe(0);
  });

  it('expires a cached session by its own expiry, with no store read', async () => {
    const {
      clock,
      nodes: [a],
    } = cluster(1, { sessionTtlMs: 60_000 });
    const token = await login(a!.engine);
    await a!.engine.check(session(token));
    const before = a!.store.storeReads;
    clock.advance(60_000);
    expect(await a!.engine.check(session(token))).toEqual({ ok: false, reason: 'expired', uid: 'alice' });
    expect(a!.store.storeReads).toBe(before);
    // Past its retention the store has dropped it: the cache asks again and answers unknown.
    clock.advance(24 * 60 * 60 * 1000);
    expect(await a!.engine.check(session(token))).toEqual({ ok: false, reason: 'unknown' });
    expect(a!.store.storeReads).toBe(before + 1);
  });

  it('keeps at most cacheSize entries, least recently used dropped first', async () => {
    const {
      nodes: [a],
    } = cluster(1, { cacheSize: 3 });
    const tokens = [];
    for (const uid of ['u1', 'u2', 'u3', 'u4']) tokens.push(await login(a!.engine, uid));
    for (const token of tokens) await a!.engine.check(session(token));
    expect(a!.engine.cacheStats()).toMatchObject({ entries: 3, capacity: 3 });
    // The last check left u4's session and user, and u3's user: u4's session is still a hit.
    const reads = a!.store.storeReads;
    await a!.engine.check(session(tokens[3]!));
    expect(a!.store.storeReads).toBe(reads);
    // u1's records were dropped long ago: both are read again.
    await a!.engine.check(session(tokens[0]!));
    expect(a!.store.storeReads).toBe(reads + 2);
    expect(a!.engine.cacheStats().entries).toBe(3);
  });

  it('cacheSize 0 turns it off: every check reads the store', async () => {
    const {
      nodes: [a],
    } = cluster(1, { cacheSize: 0 });
    const token = await login(a!.engine);
    a!.store.reads.getSession = 0;
    for (let i = 0; i < 3; i += 1) await a!.engine.check(session(token));
    expect(a!.store.reads.getSession).toBe(3);
    expect(a!.engine.cacheStats()).toMatchObject({ entries: 0, capacity: 0 });
    expect(() => createEvict({ cacheSize: -1 })).toThrow(/cacheSize/);
    expect(() => createEvict({ cacheSize: 1.5 })).toThrow(TypeError);
  });
});

describe('revocations and the caches of the cluster', () => {
  it('a kick on node 1 is rejected on node 1 at once and on node 2 once the message arrives', async () => {
    const {
      nodes: [a, b],
    } = cluster(2);
    const token = await login(a!.engine);
    expect(await a!.engine.check(session(token))).toMatchObject({ ok: true });
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: true });
    const readsOfB = b!.store.storeReads;
    // Node 2 is answering from its cache now.
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: true });
    expect(b!.store.storeReads).toBe(readsOfB);

    const kicked = a!.engine.kickUser('alice');
    await kicked;
    // The node that served the kick: no tick needed.
    expect(await a!.engine.check(session(token))).toEqual({ ok: false, reason: 'kicked', uid: 'alice' });
    await tick();
    expect(await b!.engine.check(session(token))).toEqual({ ok: false, reason: 'kicked', uid: 'alice' });
    // The audit event is unchanged: once, on the node that served it.
    expect(a!.revocations).toMatchObject([{ action: 'kick_user', uid: 'alice', servedByNodeId: 1 }]);
    expect(b!.revocations).toEqual([]);
  });

  it('a device quit on node 2 reaches node 1, for that device only', async () => {
    const {
      nodes: [a, b],
    } = cluster(2);
    const app = await login(a!.engine, 'alice', 0);
    const web = await login(a!.engine, 'alice', 1);
    await a!.engine.check(session(app));
    await a!.engine.check(session(web));
    await b!.engine.quitDevice('alice', 1);
    await tick();
    expect(await a!.engine.check(session(web))).toEqual({ ok: false, reason: 'device_quit', uid: 'alice' });
    expect(await a!.engine.check(session(app))).toMatchObject({ ok: true });
  });

  it('a logout on node 1 reaches the cached session on node 2', async () => {
    const {
      nodes: [a, b],
    } = cluster(2);
    const token = await login(a!.engine);
    await b!.engine.check(session(token));
    await a!.engine.logout(token);
    expect(await a!.engine.check(session(token))).toEqual({
      ok: false,
      reason: 'logged_out',
      uid: 'alice',
    });
    await tick();
    expect(await b!.engine.check(session(token))).toEqual({
      ok: false,
      reason: 'logged_out',
      uid: 'alice',
    });
  });

  it('a kick of a stateless credential reaches the other node', async () => {
    const {
      clock,
      nodes: [a, b],
    } = cluster(2);
    await a!.engine.addUser('bob');
    const jwt = { type: 'stateless' as const, uid: 'bob', issuedAtMs: clock.now };
    expect(await b!.engine.check(jwt)).toMatchObject({ ok: true });
    clock.advance(1);
    await a!.engine.kickUser('bob');
    await tick();
    expect(await b!.engine.check(jwt)).toEqual({ ok: false, reason: 'kicked', uid: 'bob' });
  });

  it('publishes a revoked message for each revocation that can reject a credential', async () => {
    const {
      memory,
      nodes: [a],
    } = cluster(1);
    const messages: ClusterMessage[] = [];
    memory.subscribe((m) => messages.push(m));
    const token = await login(a!.engine);
    await a!.engine.kickUser('alice');
    await a!.engine.quitDevice('alice', 'all');
    const fresh = await login(a!.engine);
    await a!.engine.logout(fresh);
    await a!.engine.removeConnection({ uid: 'alice', connId: 1 }).catch(() => undefined);
    await tick();
    expect(messages.filter((m) => m.type === 'revoked')).toEqual([
      // Each stamped with when it was made, for the lag a receiver measures.
      { type: 'revoked', uid: 'alice', fromNodeId: 1, sentAtMs: expect.any(Number) },
      { type: 'revoked', uid: 'alice', fromNodeId: 1, sentAtMs: expect.any(Number) },
      {
        type: 'revoked',
        uid: 'alice',
        tokenHash: hashToken(fresh),
        fromNodeId: 1,
        sentAtMs: expect.any(Number),
      },
    ]);
    expect(token).not.toBe(fresh);
  });

  it('a read under way when the revocation arrives does not put its stale answer in the cache', async () => {
    const {
      nodes: [a, b],
    } = cluster(2);
    const token = await login(a!.engine);
    // Node 2 has the session cached but not the user (a message dropped it): the user read is the one in flight.
    await b!.engine.check(session(token));
    await b!.store.publish({ type: 'revoked', uid: 'alice', fromNodeId: 9 });
    await tick();
    const gate = deferred();
    b!.store.userGate = gate.promise;
    const inFlight = b!.engine.check(session(token));
    await tick(); // node 2 has read the user record from before the kick and waits at the gate
    await a!.engine.kickUser('alice');
    await tick(); // the revoked message reaches node 2 while its read is still open
    b!.store.userGate = undefined;
    gate.resolve();
    // The check that started before the kick may answer from before it...
    expect(await inFlight).toMatchObject({ ok: true });
    // ...but its answer was not cached: the next check reads the store and rejects.
    const reads = b!.store.reads.getUser;
    expect(await b!.engine.check(session(token))).toEqual({ ok: false, reason: 'kicked', uid: 'alice' });
    expect(b!.store.reads.getUser).toBe(reads + 1);
  });

  it('re-checks a registering connection against the store, not a cache the kick message has not reached yet', async () => {
    const {
      nodes: [a, b],
    } = cluster(2);
    const token = await login(a!.engine);
    await b!.engine.check(session(token));
    b!.store.holdMessages();
    await a!.engine.kickUser('alice');
    await tick();
    // Node 2 has not heard of the kick: its guard still answers from the cache...
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: true });
    // ...but the registration's own check reads the store.
    await expect(
      b!.engine.registerConnection({
        uid: 'alice',
        deviceFlag: 0,
        close: () => {},
        credential: session(token),
      }),
    ).rejects.toMatchObject({ code: 'EVICT_INVALID_TOKEN' });
    b!.store.deliverHeld();
    expect(await b!.engine.check(session(token))).toEqual({ ok: false, reason: 'kicked', uid: 'alice' });
  });

  it('a failed publish fails the revocation (written, and rejected here); the retry tells the others', async () => {
    const {
      nodes: [a, b],
    } = cluster(2);
    const token = await login(a!.engine);
    await b!.engine.check(session(token));
    a!.store.inject('fail', 'publish');
    const error = await a!.engine.kickUser('alice').catch((e: unknown) => e);
    expect(isStoreFailure(error)).toBe(true);
    expect(a!.revocations).toEqual([]);
    // Written to the store, so this node rejects; node 2 has not heard and still answers from its cache.
    expect(await a!.engine.check(session(token))).toMatchObject({ ok: false, reason: 'kicked' });
    await tick();
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: true });
    a!.store.heal();
    await a!.engine.kickUser('alice');
    await tick();
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: false, reason: 'kicked' });
  });

  it('registering a token again drops the cached record of it', async () => {
    const {
      clock,
      nodes: [a],
    } = cluster(1);
    const token = 'host-issued-token';
    await a!.engine.registerSession({ token, uid: 'alice', deviceFlag: 0, expiresAtMs: clock.now + 60_000 });
    await a!.engine.check(session(token));
    await a!.engine.registerSession({ token, uid: 'alice', deviceFlag: 0, expiresAtMs: clock.now + 1_000 });
    clock.advance(1_000);
    expect(await a!.engine.check(session(token))).toEqual({ ok: false, reason: 'expired', uid: 'alice' });
  });
});

describe("the store's link", () => {
  it('while the link is down every check reads the store, and fails closed when the store fails', async () => {
    const {
      clock,
      nodes: [a],
    } = cluster(1, { link: true });
    const token = await login(a!.engine);
    await a!.engine.check(session(token));
    expect(a!.engine.cacheStats().entries).toBe(2);
    a!.store.link(false);
    expect(a!.engine.cacheStats()).toMatchObject({ entries: 0, trusted: false });
    const reads = a!.store.storeReads;
    await a!.engine.check(session(token));
    await a!.engine.check(session(token));
    expect(a!.store.storeReads).toBe(reads + 4);
    expect(a!.engine.cacheStats().entries).toBe(0);

    a!.store.inject('fail', 'getSession', 'getUser');
    expect(await a!.engine.check(session(token))).toEqual({ ok: false, reason: 'unavailable' });
    expect(await a!.engine.check({ type: 'stateless', uid: 'alice', issuedAtMs: clock.now })).toEqual({
      ok: false,
      reason: 'unavailable',
      uid: 'alice',
    });
  });

  it('with failOpen, a stateless credential passes degraded while the link and the store are down', async () => {
    const {
      clock,
      nodes: [a],
    } = cluster(1, { link: true, failOpen: true });
    const token = await login(a!.engine);
    const jwt = { type: 'stateless' as const, uid: 'alice', deviceFlag: 0, issuedAtMs: clock.now };
    await a!.engine.check(session(token));
    await a!.engine.check(jwt);
    a!.store.link(false);
    a!.store.inject('fail', 'getSession', 'getUser');
    expect(await a!.engine.check(jwt)).toEqual({
      ok: true,
      uid: 'alice',
      deviceFlag: 0,
      credential: 'stateless',
      degraded: true,
    });
    expect(await a!.engine.check(session(token))).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('when the link is back the cache starts empty (a resync) and fills again', async () => {
    const {
      nodes: [a, b],
    } = cluster(2, { link: true });
    const token = await login(a!.engine);
    await b!.engine.check(session(token));
    // Node 2 loses its link and, with it, the kick's message.
    b!.store.link(false);
    b!.store.holdMessages();
    await a!.engine.kickUser('alice');
    await tick();
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: false, reason: 'kicked' });
    b!.store.link(true);
    expect(b!.engine.cacheStats()).toMatchObject({ entries: 0, trusted: true });
    expect(await b!.engine.check(session(token))).toMatchObject({ ok: false, reason: 'kicked' });
    expect(b!.engine.cacheStats().entries).toBe(2);
    const reads = b!.store.storeReads;
    await b!.engine.check(session(token));
    expect(b!.store.storeReads).toBe(reads);
  });

  it('a read under way when the link drops or comes back does not fill the cache', async () => {
    const {
      nodes: [a],
    } = cluster(1, { link: true });
    const token = await login(a!.engine);
    const gate = deferred();
    a!.store.userGate = gate.promise;
    const inFlight = a!.engine.check(session(token));
    await tick();
    a!.store.link(false);
    a!.store.link(true);
    a!.store.userGate = undefined;
    gate.resolve();
    await inFlight;
    // The session record landed before the link dropped and was cleared with it; the user read was under way.
    expect(a!.engine.cacheStats().entries).toBe(0);
  });

  it('a store without onLinkChange is always trusted, and close() stops listening to the link', async () => {
    const {
      nodes: [a],
    } = cluster(1);
    expect(a!.engine.cacheStats().trusted).toBe(true);
    const linked = cluster(1, { link: true });
    const node = linked.nodes[0]!;
    await node.engine.close();
    node.store.link(false);
    expect(node.engine.cacheStats().trusted).toBe(true);
  });
});

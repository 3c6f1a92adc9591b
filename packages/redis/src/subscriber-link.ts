import { randomUUID } from 'node:crypto';
import type {
  ClientKind,
  IoredisClient,
  NodeRedisClient,
  NodeRedisClusterClient,
  NodeRedisSentinelClient,
  RedisClient,
} from './redis-commands.js';

/** What a subscriber connection reports to the store. */
export interface LinkEvents {
  message(raw: string): void;
  /** Messages may be missed from now on (the connection dropped). */
  down(): void;
  /** Subscribed again: messages flow. */
  up(): void;
}

/** The store's subscription to its channel, on a connection of its own or one the host lent it. */
export interface SubscriberLink {
  /** Subscribes; resolves once Redis confirmed it. */
  start(): Promise<void>;
  /** Unsubscribes, and closes the connection if the store created it. */
  close(): Promise<void>;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2_000;

/**
 * @param source the host's client: duplicated when `owned` (the store then closes the duplicate),
 * used as it is otherwise (a subscriber connection the host lent, never closed by the store).
 */
export function createSubscriberLink(
  source: RedisClient,
  kind: ClientKind,
  owned: boolean,
  channel: string,
  events: LinkEvents,
): SubscriberLink {
  switch (kind) {
    case 'ioredis':
    case 'ioredis-cluster':
      return new IoredisLink(source as IoredisClient, kind === 'ioredis-cluster', owned, channel, events);
    case 'node-redis':
      return new NodeRedisLink(source as NodeRedisClient, owned, channel, events);
    case 'node-redis-cluster':
      return new NodeRedisClusterLink(source as NodeRedisClusterClient, owned, channel, events);
    case 'node-redis-sentinel':
      return new NodeRedisSentinelLink(source as NodeRedisSentinelClient, channel, events);
  }
}

const noop = () => {};

/** Listeners put on an emitter, taken off together. */
class Attached {
  readonly #off: (() => void)[] = [];

  add(
    emitter: { on(e: string, l: never): unknown; off(e: string, l: never): unknown },
    event: string,
    listener: (...args: never[]) => void,
  ): void {
    emitter.on(event, listener as never);
    this.#off.push(() => emitter.off(event, listener as never));
  }

  clear(): void {
    for (const off of this.#off.splice(0)) off();
  }
}

/** Retries `attempt` with a capped backoff until it succeeds or `stopped()` says so. */
function retry(attempt: () => Promise<void>, stopped: () => boolean): void {
  let delayMs = RETRY_MIN_MS;
  const run = () => {
    if (stopped()) return;
    attempt().catch(() => {
      delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
      setTimeout(run, delayMs).unref();
    });
  };
  setTimeout(run, RETRY_MIN_MS).unref();
}

/**
 * ioredis: the connection reports `close` / `reconnecting` / `end` when it drops and `ready` when it
 * is back; ioredis then resubscribes by itself (`autoResubscribe`, forced on for the duplicate), and
 * the SUBSCRIBE sent here on `ready` answers after that one: when it does, messages flow again.
 * A `Cluster` subscribes on one node through an inner connection it replaces when that one ends,
 * without an event of its own: the inner connection is watched too.
 */
class IoredisLink implements SubscriberLink {
  readonly #conn: IoredisClient;
  readonly #owned: boolean;
  readonly #isCluster: boolean;
  readonly #channel: string;
  readonly #events: LinkEvents;
  readonly #attached = new Attached();
  readonly #innerAttached = new Attached();
  #inner: unknown;
  #started = false;
  #closed = false;

  constructor(
    source: IoredisClient,
    isCluster: boolean,
    owned: boolean,
    channel: string,
    events: LinkEvents,
  ) {
    this.#owned = owned;
    this.#isCluster = isCluster;
    this.#channel = channel;
    this.#events = events;
    const override = { autoResubscribe: true, enableOfflineQueue: true };
    const duplicate = source.duplicate as (...args: unknown[]) => IoredisClient;
    this.#conn = !owned
      ? source
      : isCluster
        ? duplicate.call(source, [], { ...override, redisOptions: override })
        : duplicate.call(source, override);
    // A connection the store owns always has an error listener, so ioredis never reports one as unhandled.
    if (owned) this.#conn.on('error', noop);
    this.#attached.add(this.#conn, 'message', (ch: string, message: string) => {
      if (String(ch) === this.#channel) this.#events.message(String(message));
    });
    for (const event of ['close', 'reconnecting', 'end'])
      this.#attached.add(this.#conn, event, () => this.#down());
    this.#attached.add(this.#conn, 'ready', () => {
      if (this.#started && !this.#closed) this.#resubscribe().catch(noop);
    });
  }

  async start(): Promise<void> {
    await this.#resubscribe();
    this.#started = true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#attached.clear();
    this.#innerAttached.clear();
    if (!this.#owned) {
      await this.#conn.unsubscribe(this.#channel).catch(noop);
      return;
    }
    try {
      await this.#conn.quit();
    } catch {
      this.#conn.disconnect();
    }
  }

  #down(): void {
    if (this.#started && !this.#closed) this.#events.down();
  }

  async #resubscribe(): Promise<void> {
    await this.#conn.subscribe(this.#channel);
    if (this.#closed) return;
    this.#watchInner();
    this.#events.up();
  }

  /** A cluster's inner subscriber connection: when it ends, the cluster picks another node. */
  #watchInner(): void {
    if (!this.#isCluster) return;
    const subscriber = (this.#conn as unknown as { subscriber?: { getInstance?: () => unknown } }).subscriber;
    const inner = subscriber?.getInstance?.() as IoredisClient | null | undefined;
    if (inner === undefined || inner === null || inner === this.#inner) return;
    this.#innerAttached.clear();
    this.#inner = inner;
    const lost = () => {
      if (this.#closed || this.#inner !== inner) return;
      this.#innerAttached.clear();
      this.#inner = undefined;
      this.#down();
      retry(
        () => this.#resubscribe(),
        () => this.#closed || this.#inner !== undefined,
      );
    };
    this.#innerAttached.add(inner, 'close', lost);
    this.#innerAttached.add(inner, 'end', lost);
  }
}

/**
 * node-redis: the connection reports `error` (while not ready), `reconnecting` and `end` when it
 * drops, and `ready` once it is back, after node-redis resubscribed to every channel (it does so
 * before `ready`).
 */
class NodeRedisLink implements SubscriberLink {
  readonly #conn: NodeRedisClient;
  readonly #owned: boolean;
  readonly #channel: string;
  readonly #events: LinkEvents;
  readonly #attached = new Attached();
  readonly #listener: (message: string | Buffer) => void;
  #started = false;
  #closed = false;

  constructor(source: NodeRedisClient, owned: boolean, channel: string, events: LinkEvents) {
    this.#owned = owned;
    this.#channel = channel;
    this.#events = events;
    this.#listener = (message) => this.#events.message(String(message));
    this.#conn = owned ? (source.duplicate() as NodeRedisClient) : source;
    // node-redis throws an `error` event nobody listens to: the store's own connection always has a listener.
    if (owned) this.#conn.on('error', noop);
    watchNodeRedisClient(
      this.#attached,
      this.#conn,
      () => this.#down(),
      () => this.#up(),
    );
  }

  async start(): Promise<void> {
    const conn = this.#conn as NodeRedisClient & { connect(): Promise<unknown> };
    if (this.#owned && !conn.isOpen) await conn.connect();
    await conn.subscribe(this.#channel, this.#listener);
    this.#started = true;
    this.#up();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#attached.clear();
    if (this.#owned) await closeNodeRedis(this.#conn);
    else await this.#conn.unsubscribe(this.#channel, this.#listener).catch(noop);
  }

  #down(): void {
    if (this.#started && !this.#closed) this.#events.down();
  }

  #up(): void {
    if (this.#started && !this.#closed) this.#events.up();
  }
}

/**
 * node-redis cluster: it subscribes through one node client (`pubSubNode`), which behaves like a
 * node-redis client (see above); when that client ends the cluster moves the subscription to another
 * node, which is then watched instead.
 */
class NodeRedisClusterLink implements SubscriberLink {
  readonly #conn: NodeRedisClusterClient;
  readonly #owned: boolean;
  readonly #channel: string;
  readonly #events: LinkEvents;
  readonly #innerAttached = new Attached();
  readonly #listener: (message: string | Buffer) => void;
  #inner: unknown;
  #closed = false;

  constructor(source: NodeRedisClusterClient, owned: boolean, channel: string, events: LinkEvents) {
    this.#owned = owned;
    this.#channel = channel;
    this.#events = events;
    this.#listener = (message) => this.#events.message(String(message));
    this.#conn = owned ? (source.duplicate() as NodeRedisClusterClient) : source;
    if (owned) this.#conn.on('error', noop);
  }

  async start(): Promise<void> {
    const conn = this.#conn as NodeRedisClusterClient & { connect(): Promise<unknown> };
    if (this.#owned && !conn.isOpen) await conn.connect();
    await this.#resubscribe();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#innerAttached.clear();
    if (this.#owned) await closeNodeRedis(this.#conn);
    else await this.#conn.unsubscribe(this.#channel, this.#listener).catch(noop);
  }

  async #resubscribe(): Promise<void> {
    await this.#conn.subscribe(this.#channel, this.#listener);
    if (this.#closed) return;
    const inner = (this.#conn as unknown as { pubSubNode?: { client?: NodeRedisClient } }).pubSubNode?.client;
    if (inner !== undefined && inner !== this.#inner) {
      this.#innerAttached.clear();
      this.#inner = inner;
      watchNodeRedisClient(
        this.#innerAttached,
        inner,
        () => {
          if (!this.#closed) this.#events.down();
        },
        () => {
          if (!this.#closed && inner.isReady) this.#events.up();
        },
      );
      this.#innerAttached.add(inner, 'end', () => {
        if (this.#closed || this.#inner !== inner) return;
        this.#inner = undefined;
        retry(
          () => this.#resubscribe(),
          () => this.#closed || this.#inner !== undefined,
        );
      });
    }
    this.#events.up();
  }
}

/** How long a probe of a Sentinel client's subscription waits for its own message. */
const PROBE_WAIT_MS = 1_000;

/**
 * node-redis Sentinel: it subscribes on a connection of its own to the primary, which it moves to
 * the new primary on a failover (subscriptions included), but it reports no event when that
 * connection is back: `error` when it drops (also for its other connections), `reconnecting` when the
 * primary changed, `ready` once the new one is connected. So after any of these the link counts as
 * down until a probe comes round: a message published on the primary to a channel of this link's
 * own, heard on the subscription connection. That channel was subscribed after the store's own, on
 * the same connection, and node-redis subscribes again in that order: when the probe is heard, the
 * store's channel is subscribed too. Never duplicated: the subscriptions are on a connection apart
 * already, and the store unsubscribes on close, leaving the host's client open.
 */
class NodeRedisSentinelLink implements SubscriberLink {
  readonly #sentinel: NodeRedisSentinelClient;
  readonly #channel: string;
  readonly #probeChannel: string;
  readonly #events: LinkEvents;
  readonly #attached = new Attached();
  readonly #listener: (message: string | Buffer) => void;
  readonly #probeListener: (message: string | Buffer) => void;
  /** The nonce the running probe waits for, and what to call when it comes. */
  #awaited: { nonce: string; heard: () => void } | undefined;
  /** Drops reported so far: a probe heard across a drop proves nothing. */
  #drops = 0;
  #probing = false;
  #started = false;
  #closed = false;

  constructor(source: NodeRedisSentinelClient, channel: string, events: LinkEvents) {
    this.#sentinel = source;
    this.#channel = channel;
    this.#probeChannel = `${channel}:probe:${randomUUID()}`;
    this.#events = events;
    this.#listener = (message) => this.#events.message(String(message));
    this.#probeListener = (message) => {
      if (this.#awaited !== undefined && String(message) === this.#awaited.nonce) this.#awaited.heard();
    };
    // The client's `error` listener, so that no drop it reports is unhandled.
    for (const event of ['error', 'client-error', 'reconnecting', 'end'])
      this.#attached.add(this.#sentinel, event, () => this.#dropped());
    this.#attached.add(this.#sentinel, 'ready', () => this.#confirm());
  }

  async start(): Promise<void> {
    await this.#sentinel.subscribe(this.#channel, this.#listener);
    await this.#sentinel.subscribe(this.#probeChannel, this.#probeListener);
    this.#started = true;
    // The subscription is confirmed, but a drop may have come in between: the probe settles it.
    if (this.#drops === 0) this.#events.up();
    else this.#confirm();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#attached.clear();
    this.#awaited = undefined;
    await this.#sentinel.unsubscribe(this.#probeChannel, this.#probeListener).catch(noop);
    await this.#sentinel.unsubscribe(this.#channel, this.#listener).catch(noop);
  }

  #dropped(): void {
    this.#drops += 1;
    if (!this.#started || this.#closed) return;
    this.#events.down();
    this.#confirm();
  }

  /** Probes until one is heard with no drop in between, then reports the link up. One at a time. */
  #confirm(): void {
    if (!this.#started || this.#closed || this.#probing) return;
    this.#probing = true;
    retry(
      async () => {
        const drops = this.#drops;
        await this.#probe();
        if (this.#drops !== drops) throw new Error('dropped during the probe');
        this.#probing = false;
        if (!this.#closed) this.#events.up();
      },
      () => this.#closed,
    );
  }

  /** Publishes a nonce on the primary; resolves once the subscription hears it, rejects after PROBE_WAIT_MS. */
  async #probe(): Promise<void> {
    const nonce = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#awaited = { nonce, heard: resolve };
        timer = setTimeout(() => reject(new Error('probe not heard')), PROBE_WAIT_MS);
        this.#sentinel.sendCommand(false, ['PUBLISH', this.#probeChannel, nonce]).catch(reject);
      });
    } finally {
      clearTimeout(timer);
      if (this.#awaited?.nonce === nonce) this.#awaited = undefined;
    }
  }
}

function watchNodeRedisClient(
  attached: Attached,
  client: NodeRedisClient,
  down: () => void,
  up: () => void,
): void {
  // An `error` while the socket is still ready is a failed command, not a lost link.
  attached.add(client, 'error', () => {
    if (!client.isReady) down();
  });
  attached.add(client, 'reconnecting', down);
  attached.add(client, 'end', down);
  attached.add(client, 'ready', up);
}

/** node-redis 5+ has `close()`, 4 has `quit()`; `destroy()` / `disconnect()` when the polite way fails. */
async function closeNodeRedis(client: object): Promise<void> {
  const c = client as {
    close?: () => Promise<unknown>;
    quit?: () => Promise<unknown>;
    destroy?: () => void;
    disconnect?: () => Promise<unknown>;
  };
  try {
    if (typeof c.close === 'function') await c.close();
    else if (typeof c.quit === 'function') await c.quit();
  } catch {
    if (typeof c.destroy === 'function') c.destroy();
    else await c.disconnect?.().catch(noop);
  }
}

import type { ClusterMessage } from '@evict/core';
import type { KeyLayout } from './keys.js';
import { runScript } from './lua-script.js';
import type { ResolvedOptions } from './options.js';
import { PUBLISH } from './publish-script.js';
import { parseMessage } from './records.js';
import type { RedisCommands } from './redis-commands.js';
import { createSubscriberLink, type SubscriberLink } from './subscriber-link.js';

const LINK_RETRY_MIN_MS = 100;
const LINK_RETRY_MAX_MS = 5_000;
/** How long `publish` waits for the store's own first subscription, at most. */
const PUBLISH_WAITS_FOR_LINK_MS = 1_000;

/**
 * The cluster messages of `RedisStore` on its pub/sub channel: published through PUBLISH's routing
 * key, received on the subscriber link (`subscriber-link.ts`), which starts on first use and is
 * retried with backoff until its first subscription is confirmed. Each message goes to the
 * `subscribe` listeners; the link's drops and returns go to the `onLinkChange` listeners.
 */
export class ClusterChannel {
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #subscriberSource: ResolvedOptions['subscriber'];
  readonly #listeners = new Set<(message: ClusterMessage) => void>();
  readonly #linkListeners = new Set<(up: boolean) => void>();
  #link: SubscriberLink | undefined;
  /** The latest attempt at the first subscription: resolved once it is confirmed, rejected if it failed. */
  #linkStarted: Promise<void> | undefined;
  #linkRetryMs = LINK_RETRY_MIN_MS;
  /** Last state reported to link listeners; undefined before the first subscription. */
  #linkUp: boolean | undefined;
  #closed = false;

  constructor(commands: RedisCommands, keys: KeyLayout, subscriber: ResolvedOptions['subscriber']) {
    this.#commands = commands;
    this.#keys = keys;
    this.#subscriberSource = subscriber;
  }

  /** Starts the subscription unless closed; resolves once it is confirmed (see `RedisStore.ready`). */
  async ready(): Promise<void> {
    if (!this.#closed) this.#startLink();
    await this.#linkStarted;
  }

  /** Stops deliveries and link reports, then unsubscribes and closes the connection the store created. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#linkListeners.clear();
    await this.#link?.close();
  }

  async publish(message: ClusterMessage): Promise<void> {
    await this.awaitOwnSubscription();
    await runScript(
      this.#commands,
      PUBLISH,
      [this.#keys.publishRoute],
      [this.#keys.channel, JSON.stringify(message)],
    );
  }

  subscribe(listener: (message: ClusterMessage) => void): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    this.#startLink();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  onLinkChange(listener: (up: boolean) => void): () => void {
    if (this.#closed) return () => {};
    this.#linkListeners.add(listener);
    return () => {
      this.#linkListeners.delete(listener);
    };
  }

  /**
   * Before a publish: a store subscribed a moment ago receives its own message, so the subscription
   * is confirmed first (waiting a bounded time: a subscriber connection in trouble must not hold
   * revocations back). Costs nothing once the link is up.
   */
  async awaitOwnSubscription(): Promise<void> {
    if (this.#linkStarted === undefined || this.#linkUp === true) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PUBLISH_WAITS_FOR_LINK_MS);
    });
    await Promise.race([this.#linkStarted.catch(() => {}), waited]);
    clearTimeout(timer);
  }

  /** The subscriber connection, created on first use. */
  #startLink(): void {
    if (this.#link !== undefined) return;
    const { client, kind, owned } = this.#subscriberSource;
    this.#link = createSubscriberLink(client, kind, owned, this.#keys.channel, {
      message: (raw) => this.#deliver(raw),
      down: () => this.#setLink(false),
      up: () => this.#setLink(true),
    });
    this.#startAttempt(this.#link);
  }

  /** One attempt at the first subscription; a failed one is retried (with backoff) until one succeeds. */
  #startAttempt(link: SubscriberLink): void {
    const attempt = link.start().catch((error: unknown) => {
      this.#setLink(false);
      if (!this.#closed) {
        const delayMs = this.#linkRetryMs;
        this.#linkRetryMs = Math.min(delayMs * 2, LINK_RETRY_MAX_MS);
        setTimeout(() => {
          if (!this.#closed) this.#startAttempt(link);
        }, delayMs).unref();
      }
      throw error;
    });
    // ready() reports a failed attempt; until someone asks, it must not be an unhandled rejection.
    attempt.catch(() => {});
    this.#linkStarted = attempt;
  }

  #setLink(up: boolean): void {
    if (this.#closed || this.#linkUp === up) return;
    this.#linkUp = up;
    for (const listener of this.#linkListeners) listener(up);
  }

  #deliver(raw: string): void {
    const message = parseMessage(raw);
    if (message === undefined) return;
    // Each listener on a later tick, as MemoryStore does: a listener never runs inside the client's reader.
    for (const listener of this.#listeners) queueMicrotask(() => listener(message));
  }
}

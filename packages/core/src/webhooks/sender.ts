/**
 * The webhook sender: the engine's presence and revocation events, POSTed to a URL of the host's.
 *
 * Its rules:
 * - Never in the way of a kick: its listeners only put the event in a bounded queue (or count it
 *   dropped when the queue is full); delivery happens later, on its own.
 * - One request at a time, in the order the events happened (an "offline" never overtakes its
 *   "online"); a receiver that stalls holds the queue up, and the queue's bound is what gives.
 * - At least once: a delivery is retried (exponential backoff with jitter) until a 2xx answers it,
 *   it was tried `maxAttempts` times, its oldest event waited `maxEventAgeMs`, or the receiver
 *   refused it (a 4xx but 408 and 429). A delivery whose answer was lost (a timeout) is sent
 *   again, with the same `webhook-id`: receivers dedupe on it.
 * - Every event is delivered or counted in `stats().dropped`, by reason.
 */
import { randomUUID } from 'node:crypto';
import type { Evict } from '../engine/evict.js';
import {
  CARRIED_EVENTS,
  carries,
  DEFAULT_STATE_CHANGE_PLATFORMS,
  type FormatSettings,
  type QueuedWebhookEvent,
  WEBHOOK_FORMATS,
  type WebhookEvent,
  type WebhookEventType,
  type WebhookFormat,
  webhookRequestOf,
} from './formats.js';
import { signWebhook, WEBHOOK_HEADERS, webhookKeyOf } from './signature.js';

export interface WebhookSenderOptions {
  /** Where to POST (`http:` or `https:`); the format's query parameters are added to it. */
  url: string;
  format: WebhookFormat;
  /** The HMAC-SHA256 key of the `webhook-signature` header: a `whsec_<base64>` secret, or any string. */
  secret: string;
  /** Which events to send, of those the format carries. Default: all of them. */
  events?: readonly WebhookEventType[];
  /** Events waiting at most (the delivery under way included); past it, new events are dropped (`queue_full`). Default 10,000. */
  maxQueuedEvents?: number;
  /** Tries of one delivery before it is dropped (`max_attempts`). Default 10. */
  maxAttempts?: number;
  /** A delivery whose oldest event waited longer is dropped (`expired`) rather than tried again. Default 10 minutes. */
  maxEventAgeMs?: number;
  /** One request's time to answer, body included; past it the request is aborted and retried. Default 5,000. */
  requestTimeoutMs?: number;
  /** The first retry's delay; each next one doubles it, up to `maxBackoffMs`, each drawn in its upper half. Default 500. */
  minBackoffMs?: number;
  /** Default 30,000. */
  maxBackoffMs?: number;
  /** Events one `wukongim` request carries at most (the other formats carry one). Default 100. */
  maxBatchSize?: number;
  /** For the `tencent` format: the `SdkAppid` query parameter, and each device flag's `Platform` (default `DEFAULT_STATE_CHANGE_PLATFORMS`). */
  tencent?: { sdkAppId?: number; platforms?: Readonly<Record<number, string>> };
  /** More headers of every request (e.g. the receiver's own token). */
  headers?: Readonly<Record<string, string>>;
}

export type WebhookDropReason = 'queue_full' | 'max_attempts' | 'expired' | 'rejected' | 'closed';

/** What the operator watches: every event the sender took is delivered, dropped, or still queued. */
export interface WebhookStats {
  /** Events taken from the engine (not those the format does not carry, nor those dropped as `queue_full`). */
  accepted: number;
  /** Events waiting, the delivery under way included. */
  queued: number;
  /** Events a 2xx answered. */
  delivered: number;
  /** Requests made, first tries and retries. */
  attempts: number;
  /** Failed tries followed by another try of the same delivery. */
  retries: number;
  /** Events given up on, by reason. An event dropped after a timed-out try may still have reached the receiver. */
  dropped: Record<WebhookDropReason, number>;
  /** The last failed try, for the operator's eyes: `HTTP 500`, `timeout after 5000 ms`, a network error. */
  lastFailure?: string;
}

export interface WebhookSender {
  stats(): WebhookStats;
  /**
   * Stops listening, delivers what is queued for up to `drainTimeoutMs` (default 5,000), then
   * aborts the request under way and drops the rest (`closed`). Resolves with the final stats.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<WebhookStats>;
}

interface ResolvedOptions {
  url: string;
  format: WebhookFormat;
  secret: string;
  events: readonly WebhookEventType[];
  maxQueuedEvents: number;
  maxAttempts: number;
  maxEventAgeMs: number;
  requestTimeoutMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  maxBatchSize: number;
  settings: FormatSettings;
  headers: Readonly<Record<string, string>>;
}

const KNOWN_OPTIONS = new Set([
  'url',
  'format',
  'secret',
  'events',
  'maxQueuedEvents',
  'maxAttempts',
  'maxEventAgeMs',
  'requestTimeoutMs',
  'minBackoffMs',
  'maxBackoffMs',
  'maxBatchSize',
  'tencent',
  'headers',
]);

function parseWebhookOptions(options: WebhookSenderOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object')
    throw new TypeError('evict: createWebhookSender needs options { url, format, secret }');
  for (const name of Object.keys(options))
    if (!KNOWN_OPTIONS.has(name)) throw new TypeError(`evict: unknown webhook option ${name}`);
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved = {
    maxQueuedEvents: 10_000,
    maxAttempts: 10,
    maxEventAgeMs: 600_000,
    requestTimeoutMs: 5_000,
    minBackoffMs: 500,
    maxBackoffMs: 30_000,
    maxBatchSize: 100,
    headers: {},
    ...defined,
  } as WebhookSenderOptions & Omit<ResolvedOptions, 'settings' | 'events'>;
  let url: URL;
  try {
    url = new URL(resolved.url);
  } catch {
    throw new TypeError('evict: webhook url must be an absolute http: or https: URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError('evict: webhook url must be an absolute http: or https: URL');
  if (!WEBHOOK_FORMATS.includes(resolved.format))
    throw new TypeError(`evict: webhook format must be one of ${WEBHOOK_FORMATS.join(', ')}`);
  webhookKeyOf(resolved.secret);
  for (const name of [
    'maxQueuedEvents',
    'maxAttempts',
    'maxEventAgeMs',
    'requestTimeoutMs',
    'maxBatchSize',
  ] as const)
    if (!Number.isSafeInteger(resolved[name]) || resolved[name] < 1)
      throw new TypeError(`evict: webhook ${name} must be a positive integer`);
  for (const name of ['minBackoffMs', 'maxBackoffMs'] as const)
    if (!Number.isSafeInteger(resolved[name]) || resolved[name] < 0)
      throw new TypeError(`evict: webhook ${name} must be a non-negative integer of milliseconds`);
  const carried = CARRIED_EVENTS[resolved.format];
  const events = resolved.events ?? carried;
  if (!Array.isArray(events) || events.some((e) => !carried.includes(e)))
    throw new TypeError(
      `evict: webhook events of the ${resolved.format} format are among ${carried.join(', ')}`,
    );
  const tencent = resolved.tencent ?? {};
  return {
    ...resolved,
    events: [...new Set(events)],
    settings: {
      sdkAppId: tencent.sdkAppId,
      platforms: tencent.platforms ?? DEFAULT_STATE_CHANGE_PLATFORMS,
    },
  };
}

/** A delivery: the events of one request, fixed once formed, so that a retry resends the same body and id. */
interface Delivery {
  id: string;
  events: QueuedWebhookEvent[];
  attempts: number;
}

type Outcome = 'delivered' | 'retry' | 'rejected';

/**
 * Sends the engine's events to `options.url` in `options.format` (see the formats' module), signed
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`: `verifyWebhook` checks them). Call
 * `close()` before the engine's.
 */
export function createWebhookSender(engine: Evict, options: WebhookSenderOptions): WebhookSender {
  const o = parseWebhookOptions(options);
  return new Sender(engine, o);
}

class Sender implements WebhookSender {
  readonly #o: ResolvedOptions;
  readonly #unsubscribe: (() => void)[];
  /** Waiting events from `#head` on: a queue without `shift()`'s copying. */
  #waiting: QueuedWebhookEvent[] = [];
  #head = 0;
  #delivery: Delivery | undefined;
  #pumping = false;
  #scheduled = false;
  #closing = false;
  #stopped = false;
  /** The request under way: `close` aborts it. */
  #request: AbortController | undefined;
  /** The backoff under way: `close` cuts it short. */
  #wake: (() => void) | undefined;
  /** Resolved when the queue empties (for `close`'s drain). */
  #onIdle: (() => void) | undefined;
  readonly #stats: WebhookStats = {
    accepted: 0,
    queued: 0,
    delivered: 0,
    attempts: 0,
    retries: 0,
    dropped: { queue_full: 0, max_attempts: 0, expired: 0, rejected: 0, closed: 0 },
  };

  constructor(engine: Evict, o: ResolvedOptions) {
    this.#o = o;
    this.#unsubscribe = o.events.map((type) =>
      engine.on(type, (data) => this.#enqueue({ type, data } as WebhookEvent)),
    );
  }

  stats(): WebhookStats {
    return { ...this.#stats, queued: this.#queued(), dropped: { ...this.#stats.dropped } };
  }

  async close({ drainTimeoutMs = 5_000 }: { drainTimeoutMs?: number } = {}): Promise<WebhookStats> {
    if (!this.#closing) {
      this.#closing = true;
      for (const unsubscribe of this.#unsubscribe) unsubscribe();
      if (this.#queued() > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            this.#onIdle = resolve;
          }),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, drainTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
      }
      this.#stopped = true;
      this.#request?.abort();
      this.#wake?.();
      // What is left was never answered: given up on, counted.
      this.#stats.dropped.closed += this.#queued();
      this.#waiting = [];
      this.#head = 0;
      this.#delivery = undefined;
    }
    return this.stats();
  }

  #queued(): number {
    return this.#waiting.length - this.#head + (this.#delivery?.events.length ?? 0);
  }

  /** The listener: no I/O, no waiting, nothing that throws into the engine. */
  #enqueue(event: WebhookEvent): void {
    if (this.#closing || !carries(this.#o.format, event)) return;
    if (this.#queued() >= this.#o.maxQueuedEvents) {
      this.#stats.dropped.queue_full += 1;
      return;
    }
    this.#stats.accepted += 1;
    this.#waiting.push({ id: randomUUID(), queuedAtMs: Date.now(), event });
    if (!this.#pumping && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.#pump();
      });
    }
  }

  /** The next delivery: the head event, or for `wukongim` up to `maxBatchSize` of them. */
  #nextDelivery(): Delivery | undefined {
    const size = Math.min(
      this.#o.format === 'wukongim' ? this.#o.maxBatchSize : 1,
      this.#waiting.length - this.#head,
    );
    if (size === 0) return undefined;
    const events = this.#waiting.slice(this.#head, this.#head + size);
    this.#head += size;
    // Compacted once empty, or once half of it is behind the head: amortised O(1) per event.
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else if (this.#head > 1_024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    const id = events.length === 1 ? (events[0] as QueuedWebhookEvent).id : randomUUID();
    return { id, events, attempts: 0 };
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#stopped) {
        this.#delivery ??= this.#nextDelivery();
        const delivery = this.#delivery;
        if (delivery === undefined) break;
        const oldest = delivery.events[0] as QueuedWebhookEvent;
        if (Date.now() - oldest.queuedAtMs > this.#o.maxEventAgeMs) {
          this.#finish('expired');
          continue;
        }
        const outcome = await this.#attempt(delivery);
        if (this.#stopped) break;
        if (outcome === 'delivered') this.#finish('delivered');
        else if (outcome === 'rejected') this.#finish('rejected');
        else if (delivery.attempts >= this.#o.maxAttempts) this.#finish('max_attempts');
        else {
          this.#stats.retries += 1;
          await this.#backoff(delivery.attempts);
        }
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#queued() === 0) this.#onIdle?.();
  }

  #finish(outcome: 'delivered' | WebhookDropReason): void {
    const count = this.#delivery?.events.length ?? 0;
    if (outcome === 'delivered') this.#stats.delivered += count;
    else this.#stats.dropped[outcome] += count;
    this.#delivery = undefined;
  }

  /** Waits before the next try: `min × 2^(n-1)`, capped, drawn in its upper half (so retries of many senders spread). */
  #backoff(attempts: number): Promise<void> {
    const ceilingMs = Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** (attempts - 1));
    const delayMs = Math.round(ceilingMs / 2 + Math.random() * (ceilingMs / 2));
    return new Promise((resolve) => {
      // Unref'd: a process may exit between retries; `close()` is what delivers before it does.
      const timer = setTimeout(done, delayMs).unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  async #attempt(delivery: Delivery): Promise<Outcome> {
    const { url, body } = webhookRequestOf(this.#o.format, this.#o.url, delivery.events, this.#o.settings);
    const timestampSec = Math.floor(Date.now() / 1000);
    const controller = new AbortController();
    this.#request = controller;
    const timeout = setTimeout(() => controller.abort(), this.#o.requestTimeoutMs);
    delivery.attempts += 1;
    this.#stats.attempts += 1;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          ...this.#o.headers,
          'content-type': 'application/json',
          [WEBHOOK_HEADERS.id]: delivery.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestampSec),
          [WEBHOOK_HEADERS.signature]: signWebhook(this.#o.secret, delivery.id, timestampSec, body),
        },
        body,
        signal: controller.signal,
        redirect: 'manual',
      });
      // Read to the end (under the same timeout), so the connection can be reused.
      await response.arrayBuffer();
      if (response.status >= 200 && response.status < 300) return 'delivered';
      this.#stats.lastFailure = `HTTP ${response.status}`;
      const retriable = response.status === 408 || response.status === 429 || response.status >= 500;
      return retriable ? 'retry' : 'rejected';
    } catch (error) {
      this.#stats.lastFailure = controller.signal.aborted
        ? `timeout after ${this.#o.requestTimeoutMs} ms`
        : String((error as Error)?.cause ?? error);
      return 'retry';
    } finally {
      clearTimeout(timeout);
      this.#request = undefined;
    }
  }
}

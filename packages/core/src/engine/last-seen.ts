import type { SessionRecord } from '../model.js';
import type { EventHub } from './events.js';
import type { TimedStore } from './timed-store.js';

/** How long touches wait to go out together: one store call a second at most, off the request's path. */
const FLUSH_DELAY_MS = 1_000;

/**
 * Keeps sessions' last-seen times coarsely: a session seen by the guard is written at most once per
 * `resolutionMs` by this node, in batches a second apart, never on the request's path. The times
 * this node wrote are remembered for at most `capacity` sessions (the oldest forgotten first; a
 * forgotten one is at worst written once more).
 */
export class LastSeen {
  readonly #store: TimedStore;
  readonly #events: EventHub;
  readonly #resolutionMs: number;
  readonly #capacity: number;
  /** Token hash → the last time this node sent for it, oldest first. */
  readonly #sent = new Map<string, number>();
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  /**
   * Counts the times this node forgot what it sent (a failed write, the oldest time dropped): a time
   * `saw` returned holds only while this is unchanged. A field: the guard reads it on every check.
   */
  forgotten = 0;

  constructor(options: { store: TimedStore; events: EventHub; resolutionMs: number; capacity: number }) {
    this.#store = options.store;
    this.#events = options.events;
    this.#resolutionMs = options.resolutionMs;
    this.#capacity = Math.max(1, options.capacity);
  }

  /**
   * The guard accepted this session at `nowMs`. Returns the time before which another sighting of
   * the same record would write nothing, while `forgotten` stays as it is: the guard need not call
   * again until then.
   */
  saw(session: SessionRecord, nowMs: number): number {
    const { tokenHash } = session;
    const last = this.#sent.get(tokenHash) ?? session.lastSeenAtMs;
    if (last !== undefined && nowMs - last < this.#resolutionMs) return last + this.#resolutionMs;
    this.#sent.delete(tokenHash);
    this.#sent.set(tokenHash, nowMs);
    if (this.#sent.size > this.#capacity) {
      this.#sent.delete(this.#sent.keys().next().value!);
      this.forgotten += 1;
    }
    this.#pending.set(tokenHash, nowMs);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
      this.#timer.unref();
    }
    return nowMs + this.#resolutionMs;
  }

  /** Sends what is pending now (the engine closes). A failure is reported, not retried: the next sighting writes again. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const touches = Array.from(this.#pending, ([tokenHash, atMs]) => ({ tokenHash, atMs }));
    this.#pending = new Map();
    this.#store.touchSessions(touches).catch((error: unknown) => {
      for (const { tokenHash } of touches) this.#sent.delete(tokenHash);
      this.forgotten += 1;
      this.#events.error(error);
    });
  }
}

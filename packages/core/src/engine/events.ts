import type { EvictEvents } from './types.js';

type Listener<T> = (payload: T) => void;

/** The engine's listeners. A listener that throws is reported as an `error` event, never to the emitter. */
export class EventHub {
  readonly #listeners: { [K in keyof EvictEvents]: Set<Listener<EvictEvents[K]>> } = {
    revocation: new Set(),
    connectionClosed: new Set(),
    connectionOpened: new Set(),
    connectionEnded: new Set(),
    error: new Set(),
  };

  on<K extends keyof EvictEvents>(event: K, listener: Listener<EvictEvents[K]>): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /** Whether anything listens to `event`: an emitter may skip building a payload nobody reads. */
  listens(event: keyof EvictEvents): boolean {
    return this.#listeners[event].size > 0;
  }

  emit<K extends keyof EvictEvents>(event: K, payload: EvictEvents[K]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(payload);
      } catch (error) {
        // A listener that throws must not undo or fail a revocation that is already applied.
        if (event !== 'error') this.error(error);
      }
    }
  }

  /** Reports a background failure (anything thrown) as an `error` event. */
  error(error: unknown): void {
    this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }
}

import type { EvictEvents, RevocationContext, RevocationEvent } from './types.js';

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

/** A revocation as the code that carried it out knows it; `emitRevocation` adds who asked, through what, and where. */
export type RevocationFacts = Omit<RevocationEvent, 'actor' | 'servedByNodeId' | 'endpoint' | 'family'>;

/** Emits the `revocation` event of one served by this node, with its request's context. */
export function emitRevocation(
  engine: { events: EventHub; nodeId: number },
  event: RevocationFacts,
  context: RevocationContext,
): void {
  engine.events.emit('revocation', {
    ...event,
    actor: context.actor ?? { type: 'host' },
    ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
    ...(context.family === undefined ? {} : { family: context.family }),
    servedByNodeId: engine.nodeId,
  });
}

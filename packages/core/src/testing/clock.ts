import type { Clock } from '../clock.js';

/**
 * The clock the suite hands to `makeStore`. It starts at the real time and only moves forward.
 * Manual (the default), it stands still until `advance`; following real time, it reads
 * `max(real time, where advance put it)`, so that a store whose keys expire by the backend's clock
 * agrees with it once real time has caught up.
 */
export class ConformanceClock implements Clock {
  readonly followsRealTime: boolean;
  #ms = Date.now();

  constructor(options: { followsRealTime?: boolean } = {}) {
    this.followsRealTime = options.followsRealTime ?? false;
  }

  nowMs(): number {
    return this.followsRealTime ? Math.max(this.#ms, Date.now()) : this.#ms;
  }

  /** Moves the clock `ms` forward. */
  advance(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new RangeError('ConformanceClock.advance: ms must be a non-negative integer');
    }
    this.#ms = this.nowMs() + ms;
  }
}

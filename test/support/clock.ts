import type { Clock } from '@evict/core';

/** A clock that moves only when told: expiry and same-second rules without waiting. */
export class ManualClock implements Clock {
  constructor(public now = Date.UTC(2026, 0, 1, 12, 0, 0)) {}
  nowMs(): number {
    return this.now;
  }
  advance(ms: number): void {
    this.now += ms;
  }
}

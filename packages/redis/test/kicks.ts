/** What the replica and Sentinel tests kick with, and how they read a call's outcome. */
import { isEvictError, type KickRequest } from '@evict/core';

const MINUTE_MS = 60_000;

/** A kick of every device of `uid` at `atMs`, announced from node 1, as the engine builds one. */
export function kickOf(uid: string, atMs: number): KickRequest {
  return {
    uid,
    deviceFlag: null,
    cutoff: { atMs, reason: 'kicked' },
    expiresAtMs: atMs + 10 * MINUTE_MS,
    require: { user: false, device: false },
    announce: { type: 'revoked', uid, fromNodeId: 1 },
  };
}

/** `ok`, the evict error code the call failed with, or `thrown: …` for any other failure. */
export async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return isEvictError(error) ? error.code : `thrown: ${String(error)}`;
  }
}

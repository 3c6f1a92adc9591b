/** What the kick, replica and Sentinel tests kick with, and how they read a call's outcome. */
import { type ConnectionRecord, type EvictStore, isEvictError, type KickRequest } from '@evict/core';

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

/**
 * One connection of `uid` on file, held by node 2 (its node record put live first), and the
 * `closes` of a kick from node 1 at `atMs`: what a kick that announces its closes names.
 */
export async function connectionOnNode2(
  store: EvictStore,
  uid: string,
  atMs: number,
): Promise<{ connection: ConnectionRecord; closes: NonNullable<KickRequest['closes']> }> {
  await store.heartbeatNode({ nodeId: 2, incarnation: 'run-1', expiresAtMs: atMs + MINUTE_MS });
  const connection = { uid, deviceFlag: 1, nodeId: 2, connId: 7, connectedAtMs: atMs, incarnation: 'run-1' };
  await store.putConnection(connection);
  return { connection, closes: { code: 4001, reason: 'kicked', fromNodeId: 1, sentAtMs: atMs } };
}

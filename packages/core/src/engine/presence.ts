/**
 * What the cluster's connection records say of users, read from the store whatever node holds each
 * connection: who is online, and which connections a user holds.
 */
import type { ConnectionRecord } from '../model.js';
import { assertUid, uidListProblem } from '../validation.js';
import { FirstDistinct } from './first-distinct.js';
import type { TimedStore } from './timed-store.js';
import { MAX_LISTED_CONNECTIONS, MAX_PRESENCE_UIDS, type UserPresence } from './types.js';

/** Connections one page of `connectionsOf`' scan asks the store for. */
const CONNECTION_SCAN_PAGE = 500;

const byConnection = (a: ConnectionRecord, b: ConnectionRecord) => a.connId - b.connId || a.nodeId - b.nodeId;

/**
 * Who is online, for each of `uids` (at most `MAX_PRESENCE_UIDS`, no repeats), in their order: the
 * live connections on every node counted by device flag, and `pushOnline` for a user with none but a
 * push token on file. Every user's reads go out together; their replies do not grow with a user's
 * connections. `userExists` is asked only for users neither online nor reachable by push.
 */
export async function presenceOf(
  store: TimedStore,
  userExists: (uid: string) => Promise<boolean>,
  uids: readonly string[],
): Promise<UserPresence[]> {
  const problem = uidListProblem(uids, MAX_PRESENCE_UIDS);
  if (problem !== undefined) throw new TypeError(`uids ${problem}`);
  return Promise.all(
    uids.map(async (uid): Promise<UserPresence> => {
      const [devices, pushTokens] = await Promise.all([
        store.countConnections(uid),
        store.getPushTokens(uid),
      ]);
      const online = devices.length > 0;
      const pushDevices = online
        ? []
        : [...new Set(pushTokens.map((t) => t.deviceFlag))].sort((a, b) => a - b);
      // A user online is on file; only the others need the (larger) user record read.
      const exists = online || pushTokens.length > 0 || (await userExists(uid));
      return { uid, exists, online, devices, pushOnline: pushDevices.length > 0, pushDevices };
    }),
  );
}

/** The user's live connections as `Evict.listConnections` lists them: the lowest ids, a page read at a time. */
export async function connectionsOf(store: TimedStore, uid: string): Promise<ConnectionRecord[]> {
  assertUid(uid);
  const lowest = new FirstDistinct(byConnection, MAX_LISTED_CONNECTIONS);
  let cursor: string | undefined;
  do {
    const page = await store.scanConnections(uid, cursor, CONNECTION_SCAN_PAGE);
    lowest.add(page.items);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return lowest.result();
}

import type { ClusterMessage } from '../model.js';
import { delivered, type Group, inbox, newTokenHash, newUid } from './harness.js';

export const pubSub: Group = {
  name: 'publish and subscribe',
  tests(h, { it, expect }, options) {
    it('a published message reaches every subscriber, the publisher included, once each', async () => {
      const uid = newUid();
      const first = inbox(h.store, uid);
      const second = inbox(h.store, uid);
      const message: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 4 };
      await h.store.publish(message);
      await delivered([first, second], 1);
      first.stop();
      second.stop();
      expect(first.received).toEqual([message]);
      expect(second.received).toEqual([message]);
    });

    it('both kinds of message arrive unchanged and in order', async () => {
      const uid = newUid();
      const box = inbox(h.store, uid);
      const messages: ClusterMessage[] = [
        { type: 'revoked', uid, fromNodeId: 1 },
        {
          type: 'close-connections',
          nodeId: 2,
          connections: [
            { uid, connId: 1 },
            { uid, connId: 2 },
          ],
          code: 4001,
          reason: 'kicked: "signed in elsewhere" ✓',
          fromNodeId: 1,
        },
        { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 3 },
      ];
      for (const message of messages) await h.store.publish(message);
      await delivered([box], messages.length);
      box.stop();
      expect(box.received).toEqual(messages);
    });

    it('unsubscribing stops delivery to that listener only, and twice is harmless', async () => {
      const uid = newUid();
      const gone = inbox(h.store, uid);
      const kept = inbox(h.store, uid);
      gone.stop();
      gone.stop();
      const message: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      await h.store.publish(message);
      await delivered([kept], 1);
      kept.stop();
      expect(kept.received).toEqual([message]);
      expect(gone.received).toEqual([]);
    });

    if (!options.sharedBackend) return;

    it('(shared backend) a second store sees the records of the first', async () => {
      const other = await h.open();
      const uid = newUid();
      const session = h.session(uid);
      await h.store.putSession(session);
      const connection = h.connection(uid);
      await h.store.putConnection(connection);
      expect(await other.getSession(session.tokenHash)).toEqual(session);
      expect(await other.listSessions(uid)).toEqual([session]);
      expect(await other.listConnections(uid)).toEqual([connection]);
      expect(await other.deleteConnection(uid, connection.nodeId, connection.connId)).toBe(true);
      expect(await h.store.listConnections(uid)).toEqual([]);
    });

    it('(shared backend) a message published by one store reaches the subscribers of both', async () => {
      const other = await h.open();
      const uid = newUid();
      const here = inbox(h.store, uid);
      const there = inbox(other, uid);
      const fromHere: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      const fromThere: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 2 };
      await h.store.publish(fromHere);
      await delivered([here, there], 1);
      await other.publish(fromThere);
      await delivered([here, there], 2);
      here.stop();
      there.stop();
      expect(here.received).toEqual([fromHere, fromThere]);
      expect(there.received).toEqual([fromHere, fromThere]);
    });

    it('(shared backend) a closed store delivers nothing more', async () => {
      const other = await h.open();
      const uid = newUid();
      const closed = inbox(other, uid);
      const open = inbox(h.store, uid);
      await other.close();
      const message: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      await h.store.publish(message);
      await delivered([open], 1);
      open.stop();
      expect(open.received).toEqual([message]);
      expect(closed.received).toEqual([]);
    });
  },
};

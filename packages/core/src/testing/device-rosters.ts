import type { ConnectionRecord } from '../model.js';
import { byConnection, type Group, CONCURRENT_CALLS as N, newUid, range } from './harness.js';

const refOf = (c: ConnectionRecord) => ({
  uid: c.uid,
  nodeId: c.nodeId,
  connId: c.connId,
  deviceFlag: c.deviceFlag,
});

export const deviceRosters: Group = {
  name: 'device rosters (joinDevice)',
  tests(h, { it, expect }) {
    it('each connection that joins gets those of its user and device flag that joined before it, still on file', async () => {
      const uid = newUid();
      const first = h.connection(uid, { nodeId: 1, connId: 1, deviceFlag: 1, deviceId: 'phone' });
      const second = h.connection(uid, { nodeId: 2, connId: 1, deviceFlag: 1, deviceId: 'tablet' });
      const third = h.connection(uid, { nodeId: 1, connId: 2, deviceFlag: 1 });
      // Another flag, and one on file that never joined: neither is on this roster.
      const web = h.connection(uid, { nodeId: 1, connId: 3, deviceFlag: 5 });
      const unjoined = h.connection(uid, { nodeId: 1, connId: 4, deviceFlag: 1 });
      for (const c of [first, second, third, web, unjoined]) await h.store.putConnection(c);
      expect(await h.store.joinDevice(refOf(first))).toEqual([]);
      expect(await h.store.joinDevice(refOf(web))).toEqual([]);
      expect(await h.store.joinDevice(refOf(second))).toEqual([first]);
      expect(byConnection(await h.store.joinDevice(refOf(third)))).toEqual(byConnection([first, second]));
      // Joining again: not its own predecessor, and it moves to the end.
      expect(byConnection(await h.store.joinDevice(refOf(first)))).toEqual(byConnection([second, third]));
      expect(await h.store.listConnections(uid)).toHaveLength(5);
    });

    it('a connection removed leaves the roster; one not on file joins nothing', async () => {
      const uid = newUid();
      const [a, b, c] = [1, 2, 3].map((connId) => h.connection(uid, { connId, deviceFlag: 2 }));
      for (const conn of [a!, b!]) await h.store.putConnection(conn);
      await h.store.joinDevice(refOf(a!));
      await h.store.joinDevice(refOf(b!));
      expect(await h.store.deleteConnection(uid, a!.nodeId, a!.connId)).toBe(true);
      // Never put: nothing, and it is not on the roster afterwards.
      expect(await h.store.joinDevice(refOf(c!))).toEqual([]);
      await h.store.putConnection(c!);
      expect(await h.store.joinDevice(refOf(c!))).toEqual([b]);
      // Put again after it left, `a` is a newcomer: it has not joined.
      await h.store.putConnection(a!);
      expect(byConnection(await h.store.joinDevice(refOf(a!)))).toEqual(byConnection([b!, c!]));
    });

    it("a roster holds up on a user with a session's record, and a user of connections alone", async () => {
      const withSession = newUid();
      await h.store.putSession(h.session(withSession, { deviceFlag: 1 }));
      const alone = newUid();
      for (const uid of [withSession, alone]) {
        const [a, b] = [1, 2].map((connId) => h.connection(uid, { connId, deviceFlag: 1 }));
        for (const conn of [a!, b!]) await h.store.putConnection(conn);
        await h.store.joinDevice(refOf(a!));
        expect(await h.store.joinDevice(refOf(b!))).toEqual([a]);
        // Every read of the user and its connections still works.
        expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection([a!, b!]));
        expect(await h.store.countConnections(uid)).toEqual([{ deviceFlag: 1, connections: 2 }]);
        expect((await h.store.getUser(uid))?.uid).toBe(uid);
        expect(await h.store.deleteConnection(uid, b!.nodeId, b!.connId)).toBe(true);
        expect(await h.store.deleteConnection(uid, a!.nodeId, a!.connId)).toBe(true);
        expect(await h.store.listConnections(uid)).toEqual([]);
      }
    });

    it(`${N} connections joining at once: each sees exactly those that joined before it`, async () => {
      const uid = newUid();
      const stores = h.options.sharedBackend ? [h.store, await h.open()] : [h.store];
      const all = range(N).map((i) =>
        h.connection(uid, { nodeId: 1 + (i % 3), connId: 1 + i, deviceFlag: 1 }),
      );
      for (const c of all) await h.store.putConnection(c);
      const seen = await Promise.all(all.map((c, i) => stores[i % stores.length]!.joinDevice(refOf(c))));
      // One order of joins explains every answer: the i-th to join saw the i before it.
      const order = seen
        .map((earlier, i) => ({ key: `${all[i]!.nodeId}:${all[i]!.connId}`, earlier }))
        .sort((x, y) => x.earlier.length - y.earlier.length);
      expect(order.map((o) => o.earlier.length)).toEqual(range(N));
      for (const [i, o] of order.entries()) {
        expect(o.earlier.map((c) => `${c.nodeId}:${c.connId}`).sort()).toEqual(
          order
            .slice(0, i)
            .map((p) => p.key)
            .sort(),
        );
      }
      // Under "the newest stands" exactly one is left: every other was seen by a later one.
      const closedByLater = new Set(seen.flat().map((c) => `${c.nodeId}:${c.connId}`));
      expect(all.filter((c) => !closedByLater.has(`${c.nodeId}:${c.connId}`))).toHaveLength(1);
    });
  },
};

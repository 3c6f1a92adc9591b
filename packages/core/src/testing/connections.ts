import { byConnection, type Group, newUid } from './harness.js';

export const connections: Group = {
  name: 'connections',
  tests(h, { it, expect }) {
    it('putConnection then listConnections returns it; deleteConnection removes it', async () => {
      const uid = newUid();
      const connection = h.connection(uid, { deviceFlag: 0, nodeId: 3, connId: 42 });
      await h.store.putConnection(connection);
      expect(await h.store.listConnections(uid)).toEqual([connection]);
      expect(await h.store.deleteConnection(uid, 3, 42)).toBe(true);
      expect(await h.store.listConnections(uid)).toEqual([]);
      expect(await h.store.deleteConnection(uid, 3, 42)).toBe(false);
    });

    it('putting a connection again replaces it, without a second entry', async () => {
      const uid = newUid();
      const connection = h.connection(uid);
      await h.store.putConnection(connection);
      const refreshed = { ...connection, deviceFlag: 5, connectedAtMs: connection.connectedAtMs + 30_000 };
      await h.store.putConnection(refreshed);
      expect(await h.store.listConnections(uid)).toEqual([refreshed]);
    });

    it('a connection is keyed by nodeId and connId together, on every node', async () => {
      const uid = newUid();
      const all = [
        h.connection(uid, { nodeId: 1, connId: 1 }),
        h.connection(uid, { nodeId: 2, connId: 1, deviceFlag: 2 }),
        h.connection(uid, { nodeId: 1, connId: 2 }),
        h.connection(uid, { nodeId: 12, connId: 3 }),
        h.connection(uid, { nodeId: 1, connId: 23 }),
      ];
      for (const connection of all) await h.store.putConnection(connection);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(all));
      expect(await h.store.deleteConnection(uid, 2, 1)).toBe(true);
      expect(await h.store.deleteConnection(uid, 1, 23)).toBe(true);
      expect(await h.store.deleteConnection(uid, 2, 2)).toBe(false);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(
        byConnection([all[0]!, all[2]!, all[3]!]),
      );
    });

    it("deleteConnection under another uid returns false and leaves the owner's connection", async () => {
      const owner = newUid();
      const connection = h.connection(owner);
      await h.store.putConnection(connection);
      expect(await h.store.deleteConnection(newUid(), connection.nodeId, connection.connId)).toBe(false);
      expect(await h.store.listConnections(owner)).toEqual([connection]);
    });
  },
};

import { byConnection, distinct, type Group, kickRequest, LIVE_MS, newUid, scanAll } from './harness.js';

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

    it('keeps the session id, device id, IP and port a connection was registered with, and its own copy', async () => {
      const uid = newUid();
      const detailed = h.connection(uid, {
        connId: 7,
        sessionId: 'Zm9vYmFyYmF6cXV4cXV1eA',
        deviceId: 'install 7f3a-é',
        ip: '2001:db8::1',
        port: 51_234,
      });
      const partial = h.connection(uid, { connId: 8, ip: '203.0.113.9' });
      const bare = h.connection(uid, { connId: 9 });
      for (const connection of [detailed, partial, bare]) await h.store.putConnection({ ...connection });
      const listed = byConnection(await h.store.listConnections(uid));
      expect(listed).toEqual([detailed, partial, bare]);
      // Absent details are absent, not empty.
      expect(Object.keys(listed[2]!).sort()).toEqual(Object.keys(bare).sort());
      listed[0]!.deviceId = 'changed';
      expect(byConnection(await h.store.listConnections(uid))[0]).toEqual(detailed);
      expect(await h.store.countConnections(uid)).toEqual([{ deviceFlag: 1, connections: 3 }]);
      if (h.store.kick !== undefined) {
        await h.store.touchUser(uid, h.now() + LIVE_MS);
        const kicked = await h.store.kick(kickRequest(h, uid));
        expect(kicked.applied && byConnection(kicked.connections)).toEqual([detailed, partial, bare]);
      }
      // Put again without them: they go.
      await h.store.putConnection({ ...bare, connId: 7 });
      expect(byConnection(await h.store.listConnections(uid))[0]).toEqual({ ...bare, connId: 7 });
    });

    it('scanConnections pages through exactly what listConnections lists, and ends', async () => {
      const uid = newUid();
      const all = Array.from({ length: 300 }, (_, i) =>
        h.connection(uid, {
          nodeId: 1 + (i % 3),
          connId: 1 + i,
          ...(i % 2 === 0 ? { ip: '10.0.0.1', port: 1 + i } : {}),
        }),
      );
      await h.store.putConnections(all);
      await h.store.putConnection(h.connection(newUid(), { connId: 999 }));
      const scanned = await scanAll((cursor, count) => h.store.scanConnections(uid, cursor, count), 25);
      const key = (c: { nodeId: number; connId: number }) => `${c.nodeId}:${c.connId}`;
      expect(byConnection(distinct(scanned.items, key))).toEqual(byConnection(all));
      expect(byConnection(distinct(scanned.items, key))).toEqual(
        byConnection(await h.store.listConnections(uid)),
      );
      const none = await scanAll((cursor, count) => h.store.scanConnections(newUid(), cursor, count), 25);
      expect(none.items).toEqual([]);
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

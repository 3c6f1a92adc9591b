import { randomBytes } from 'node:crypto';
import type { ClusterMessage } from '../model.js';
import { bySessionHash, delivered, type Group, inbox, newUid, range } from './harness.js';

export const largeValues: Group = {
  name: 'large values',
  tests(h, { it, expect }) {
    it('a 4 KiB push token round-trips', async () => {
      const uid = newUid();
      const token = randomBytes(3_072).toString('base64');
      expect(token).toHaveLength(4_096);
      const ring = h.pushToken('ring', { token });
      await h.store.setPushToken(uid, ring);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
    });

    it('1000 sessions of one user are all listed', async () => {
      const uid = newUid();
      const t = h.now();
      const all = range(1_000).map((i) => h.session(uid, { deviceFlag: i % 256, issuedAtMs: t + i }));
      await Promise.all(all.map((session) => h.store.putSession(session)));
      const listed = await h.store.listSessions(uid);
      expect(listed).toHaveLength(1_000);
      expect(bySessionHash(listed)).toEqual(bySessionHash(all));
      const user = await h.store.getUser(uid);
      expect(Object.keys(user?.devices ?? {})).toHaveLength(256);
      expect(user?.devices[255]?.lastIssuedAtMs).toBe(t + 767);
    });

    it('a message closing 500 connections arrives whole', async () => {
      const uid = newUid();
      const box = inbox(h.store, uid);
      const message: ClusterMessage = {
        type: 'close-connections',
        nodeId: 7,
        connections: range(500).map((connId) => ({ uid, connId })),
        code: 4000,
        reason: 'x'.repeat(123),
        fromNodeId: 8,
      };
      await h.store.publish(message);
      await delivered([box], 1);
      box.stop();
      expect(box.received).toEqual([message]);
    });
  },
};

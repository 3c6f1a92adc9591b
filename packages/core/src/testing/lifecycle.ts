import { PUSH_TOKEN_KINDS } from '../model.js';
import { type Group, lacks, newTokenHash, newUid, SETTLE_MS, sleep } from './harness.js';

export const lifecycle: Group = {
  name: 'lifecycle',
  tests(h, { it, expect }) {
    it('ready() resolves, again and again', async () => {
      await expect(h.store.ready()).resolves.toBeUndefined();
      await expect(h.store.ready()).resolves.toBeUndefined();
    });

    it('close() resolves and is idempotent', async () => {
      const store = await h.open();
      await expect(store.close()).resolves.toBeUndefined();
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('a new store answers "nothing on file" for unknown keys', async () => {
      const uid = newUid();
      const { store } = h;
      expect(await store.getSession(newTokenHash())).toBeUndefined();
      expect(await store.revokeSession(newTokenHash(), h.now())).toBeUndefined();
      expect(await store.listSessions(uid)).toEqual([]);
      expect(await store.getUser(uid)).toBeUndefined();
      expect(await store.listConnections(uid)).toEqual([]);
      expect(await store.deleteConnection(uid, 1, 1)).toBe(false);
      expect(await store.getPushTokens(uid)).toEqual([]);
      expect(await store.clearPushTokens(uid, PUSH_TOKEN_KINDS)).toEqual([]);
    });

    it('onLinkChange, when the store has it, returns an unsubscribe function and reports no outage', async (...context) => {
      if (lacks(context, h.store.onLinkChange !== undefined, 'onLinkChange')) return;
      const reports: boolean[] = [];
      const stop = h.store.onLinkChange!((up) => reports.push(up));
      expect(typeof stop).toBe('function');
      await h.store.putSession(h.session(newUid()));
      await sleep(SETTLE_MS);
      stop();
      expect(reports).not.toContain(false);
    });
  },
};

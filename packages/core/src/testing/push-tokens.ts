import { PUSH_TOKEN_KINDS } from '../model.js';
import { byKind, type Group, newUid, sortedKinds } from './harness.js';

export const pushTokens: Group = {
  name: 'push tokens',
  tests(h, { it, expect }) {
    it('setPushToken then getPushTokens returns it', async () => {
      const uid = newUid();
      const ring = h.pushToken('ring', { deviceFlag: 0 });
      await h.store.setPushToken(uid, ring);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
      expect(await h.store.getPushTokens(newUid())).toEqual([]);
    });

    it('setPushToken replaces the token of its kind only', async () => {
      const uid = newUid();
      await h.store.setPushToken(uid, h.pushToken('ring'));
      const ring = h.pushToken('ring', { deviceFlag: 2, updatedAtMs: h.now() + 1 });
      await h.store.setPushToken(uid, ring);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
      const message = h.pushToken('message');
      await h.store.setPushToken(uid, message);
      expect(byKind(await h.store.getPushTokens(uid))).toEqual(byKind([ring, message]));
    });

    it('clearPushTokens clears the named kinds and returns those that were set', async () => {
      const uid = newUid();
      const ring = h.pushToken('ring');
      const message = h.pushToken('message');
      await h.store.setPushToken(uid, ring);
      await h.store.setPushToken(uid, message);
      expect(await h.store.clearPushTokens(uid, ['message'])).toEqual(['message']);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
      expect(await h.store.clearPushTokens(uid, ['ring', 'message'])).toEqual(['ring']);
      expect(await h.store.getPushTokens(uid)).toEqual([]);
      expect(await h.store.clearPushTokens(uid, ['ring', 'message'])).toEqual([]);
    });

    it('clearPushTokens with both kinds set returns both; with no kinds, clears nothing', async () => {
      const uid = newUid();
      const ring = h.pushToken('ring');
      const message = h.pushToken('message');
      await h.store.setPushToken(uid, ring);
      await h.store.setPushToken(uid, message);
      expect(await h.store.clearPushTokens(uid, [])).toEqual([]);
      expect(byKind(await h.store.getPushTokens(uid))).toEqual(byKind([ring, message]));
      expect(sortedKinds(await h.store.clearPushTokens(uid, PUSH_TOKEN_KINDS))).toEqual(['message', 'ring']);
      expect(await h.store.getPushTokens(uid)).toEqual([]);
    });
  },
};

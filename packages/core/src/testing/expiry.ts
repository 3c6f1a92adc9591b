import { PUSH_TOKEN_KINDS } from '../model.js';
import { type Group, LIVE_MS, newUid } from './harness.js';

export const expiry: Group = {
  name: 'expiry',
  // Each check that a record is still there comes at least two steps before its deadline, and each
  // check that it is gone comes just after: the margins hold even when real time drives expiry.
  tests(h, { it, expect }) {
    it('a session is returned past its expiresAtMs until its retainUntilMs, even once the user record is gone', async () => {
      const uid = newUid();
      const t = h.now();
      const session = h.session(uid, { expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs });
      await h.store.putSession(session);
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).toBeUndefined();
      expect(await h.store.getSession(session.tokenHash)).toEqual(session);
      expect(await h.store.listSessions(uid)).toEqual([session]);
      await h.elapse(2 * h.stepMs);
      expect(await h.store.getSession(session.tokenHash)).toBeUndefined();
      expect(await h.store.listSessions(uid)).toEqual([]);
    });

    it('a revoked session stays on file until its retainUntilMs, then goes', async () => {
      const t = h.now();
      const session = h.session(newUid(), { expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs });
      await h.store.putSession(session);
      await h.store.revokeSession(session.tokenHash, t);
      await h.elapse(h.stepMs);
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs: t });
      await h.elapse(2 * h.stepMs);
      expect(await h.store.getSession(session.tokenHash)).toBeUndefined();
      expect(await h.store.revokeSession(session.tokenHash, h.now())).toBeUndefined();
    });

    it('listSessions drops each session once its own retainUntilMs has passed', async () => {
      const uid = newUid();
      const t = h.now();
      const short = h.session(uid, { expiresAtMs: t + h.stepMs, retainUntilMs: t + h.stepMs });
      const long = h.session(uid, { expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs });
      await h.store.putSession(short);
      await h.store.putSession(long);
      await h.elapse(h.stepMs);
      expect(await h.store.listSessions(uid)).toEqual([long]);
      expect(await h.store.getSession(short.tokenHash)).toBeUndefined();
    });

    it('the user record goes once its expiresAtMs has passed, and comes back empty', async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.raiseCutoff(uid, null, { atMs: t, reason: 'kicked' }, t + h.stepMs);
      await h.store.raiseCutoff(uid, 4, { atMs: t, reason: 'device_quit' }, t + h.stepMs);
      expect((await h.store.getUser(uid))?.cutoff).toEqual({ atMs: t, reason: 'kicked' });
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).toBeUndefined();
      const expiresAtMs = h.now() + LIVE_MS;
      await h.store.touchUser(uid, expiresAtMs);
      expect(await h.store.getUser(uid)).toEqual({ uid, deviceCutoffs: {}, devices: {}, expiresAtMs });
    });

    it('touchUser keeps a user known until its expiresAtMs', async () => {
      const uid = newUid();
      const expiresAtMs = h.now() + 3 * h.stepMs;
      await h.store.touchUser(uid, expiresAtMs);
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).toEqual({ uid, deviceCutoffs: {}, devices: {}, expiresAtMs });
      await h.elapse(2 * h.stepMs);
      expect(await h.store.getUser(uid)).toBeUndefined();
    });

    it('a push token past its expiresAtMs is neither returned nor reported as cleared', async () => {
      const uid = newUid();
      const t = h.now();
      const ring = h.pushToken('ring', { expiresAtMs: t + h.stepMs });
      const message = h.pushToken('message', { expiresAtMs: t + 3 * h.stepMs });
      await h.store.setPushToken(uid, ring);
      await h.store.setPushToken(uid, message);
      await h.elapse(h.stepMs);
      expect(await h.store.getPushTokens(uid)).toEqual([message]);
      expect(await h.store.clearPushTokens(uid, PUSH_TOKEN_KINDS)).toEqual(['message']);
    });
  },
};

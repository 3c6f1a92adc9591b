import type { Cutoff } from '../model.js';
import { type Group, LIVE_MS, newUid } from './harness.js';

export const users: Group = {
  name: 'users',
  tests(h, { it, expect }) {
    it('getUser of an unknown user is undefined', async () => {
      expect(await h.store.getUser(newUid())).toBeUndefined();
    });

    it('touchUser makes an empty record, and never shortens its life', async () => {
      const uid = newUid();
      const expiresAtMs = h.now() + LIVE_MS;
      await h.store.touchUser(uid, expiresAtMs);
      expect(await h.store.getUser(uid)).toEqual({ uid, deviceCutoffs: {}, devices: {}, expiresAtMs });
      await h.store.touchUser(uid, expiresAtMs - 1_000);
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(expiresAtMs);
      await h.store.touchUser(uid, expiresAtMs + 1_000);
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(expiresAtMs + 1_000);
    });

    it('touchUser keeps what is on file', async () => {
      const uid = newUid();
      const session = h.session(uid, { deviceFlag: 3 });
      const cutoff: Cutoff = { atMs: h.now() - 1, reason: 'kicked' };
      await h.store.putSession(session);
      await h.store.raiseCutoff(uid, null, cutoff, session.expiresAtMs);
      await h.store.touchUser(uid, session.expiresAtMs + 1);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff,
        deviceCutoffs: {},
        devices: { 3: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs + 1,
      });
    });

    it('putSession records the device on the user', async () => {
      const uid = newUid();
      const session = h.session(uid, { deviceFlag: 0 });
      await h.store.putSession(session);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: { 0: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs,
      });
    });

    it("a device's lastIssuedAtMs and expiresAtMs, and the user's expiresAtMs, only grow", async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.putSession(
        h.session(uid, { deviceFlag: 2, issuedAtMs: t + 10, expiresAtMs: t + 100_000 }),
      );
      await h.store.putSession(
        h.session(uid, { deviceFlag: 2, issuedAtMs: t + 5, expiresAtMs: t + 200_000 }),
      );
      expect((await h.store.getUser(uid))?.devices[2]).toEqual({
        lastIssuedAtMs: t + 10,
        expiresAtMs: t + 200_000,
      });
      await h.store.putSession(
        h.session(uid, { deviceFlag: 2, issuedAtMs: t + 20, expiresAtMs: t + 50_000 }),
      );
      await h.store.putSession(h.session(uid, { deviceFlag: 7, issuedAtMs: t + 1, expiresAtMs: t + 40_000 }));
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: {
          2: { lastIssuedAtMs: t + 20, expiresAtMs: t + 200_000 },
          7: { lastIssuedAtMs: t + 1, expiresAtMs: t + 40_000 },
        },
        expiresAtMs: t + 200_000,
      });
    });

    it('raiseCutoff with deviceFlag null sets the user cutoff: an atomic maximum', async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.raiseCutoff(uid, null, { atMs: t, reason: 'kicked' }, t + LIVE_MS);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff: { atMs: t, reason: 'kicked' },
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: t + LIVE_MS,
      });
      await h.store.raiseCutoff(uid, null, { atMs: t - 1, reason: 'device_quit' }, t + LIVE_MS);
      expect((await h.store.getUser(uid))?.cutoff).toEqual({ atMs: t, reason: 'kicked' });
      await h.store.raiseCutoff(uid, null, { atMs: t + 1, reason: 'device_quit' }, t + LIVE_MS);
      expect((await h.store.getUser(uid))?.cutoff).toEqual({ atMs: t + 1, reason: 'device_quit' });
    });

    it('raiseCutoff with a device flag sets that device only (flag 0 is a device, not "all")', async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.raiseCutoff(uid, 0, { atMs: t, reason: 'device_quit' }, t + LIVE_MS);
      await h.store.raiseCutoff(uid, 255, { atMs: t + 5, reason: 'kicked' }, t + LIVE_MS);
      await h.store.raiseCutoff(uid, 0, { atMs: t - 5, reason: 'kicked' }, t + LIVE_MS);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: { 0: { atMs: t, reason: 'device_quit' }, 255: { atMs: t + 5, reason: 'kicked' } },
        devices: {},
        expiresAtMs: t + LIVE_MS,
      });
      expect((await h.store.getUser(uid))?.cutoff).toBeUndefined();
      await h.store.raiseCutoff(uid, 0, { atMs: t + 9, reason: 'kicked' }, t + LIVE_MS);
      expect((await h.store.getUser(uid))?.deviceCutoffs).toEqual({
        0: { atMs: t + 9, reason: 'kicked' },
        255: { atMs: t + 5, reason: 'kicked' },
      });
    });

    it("raiseCutoff grows the user's expiresAtMs, never shrinks it, and keeps devices", async () => {
      const uid = newUid();
      const session = h.session(uid);
      await h.store.putSession(session);
      const cutoff: Cutoff = { atMs: h.now(), reason: 'kicked' };
      await h.store.raiseCutoff(uid, null, cutoff, session.expiresAtMs - 1_000);
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(session.expiresAtMs);
      await h.store.raiseCutoff(uid, 1, cutoff, session.expiresAtMs + 1_000);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff,
        deviceCutoffs: { 1: cutoff },
        devices: { 1: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs + 1_000,
      });
    });
  },
};

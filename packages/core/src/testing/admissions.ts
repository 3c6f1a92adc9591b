import { type AdmissionRequest, admit } from '../engine/login-policy.js';
import { sessionRejection } from '../engine/rules.js';
import type { Admission, SessionRecord } from '../model.js';
import {
  delivered,
  type Group,
  type Harness,
  inbox,
  LIVE_MS,
  CONCURRENT_CALLS as N,
  newUid,
  range,
  shuffled,
} from './harness.js';

/** The admission entry a session makes in `deviceClass`. */
const entryOf = (session: SessionRecord, deviceClass: string): Admission => ({
  tokenHash: session.tokenHash,
  deviceFlag: session.deviceFlag,
  deviceClass,
  issuedAtMs: session.issuedAtMs,
  expiresAtMs: session.expiresAtMs,
});

const oneWeb: AdmissionRequest = { deviceClass: 'web', classLimit: 1, refuse: false, fromNodeId: 3 };

/** A session of `uid` on `deviceFlag`, issued `agoMs` before now. */
const sessionOf = (h: Harness, uid: string, deviceFlag: number, agoMs: number) =>
  h.session(uid, { deviceFlag, issuedAtMs: h.now() - agoMs });

export const admissions: Group = {
  name: 'admissions (login policies)',
  tests(h, { it, expect }) {
    it('a login past its class limit pushes the oldest of its class out, atomically with its own write', async () => {
      const uid = newUid();
      const first = sessionOf(h, uid, 1, 2_000);
      const second = sessionOf(h, uid, 1, 1_000);
      expect(await h.store.admitSession(first, oneWeb)).toEqual({ admitted: true, replaced: [] });
      expect(await h.store.admitSession(second, oneWeb)).toEqual({
        admitted: true,
        replaced: [entryOf(first, 'web')],
      });
      const user = await h.store.getUser(uid);
      expect(user?.admissions).toEqual([entryOf(second, 'web')]);
      // Both records stay on file, governed; the list says which one is live.
      const [a, b] = [await h.store.getSession(first.tokenHash), await h.store.getSession(second.tokenHash)];
      expect(a).toEqual({ ...first, governed: true });
      expect(b).toEqual({ ...second, governed: true });
      expect(sessionRejection(a!, user, h.now())).toBe('replaced');
      expect(sessionRejection(b!, user, h.now())).toBeUndefined();
      // The user's side is written as putSession's: the device is on file.
      expect(user?.devices[1]).toEqual({
        lastIssuedAtMs: second.issuedAtMs,
        expiresAtMs: second.expiresAtMs,
      });
    });

    it('announces each session it pushes out, to every subscriber, and nothing for a refused login', async () => {
      // JSON's escapes and UTF-8 in the uid: a store may build the announcement itself.
      const uid = `${newUid()} "q" \\ / é 😀`;
      const box = inbox(h.store, uid);
      try {
        const first = sessionOf(h, uid, 1, 2_000);
        await h.store.admitSession(first, oneWeb);
        await h.store.admitSession(sessionOf(h, uid, 1, 1_000), oneWeb);
        await h.store.admitSession(h.session(uid, { deviceFlag: 1 }), { ...oneWeb, refuse: true });
        await delivered([box], 1);
        expect(box.received).toEqual([
          { type: 'revoked', uid, tokenHash: first.tokenHash, replaced: true, fromNodeId: 3 },
        ]);
      } finally {
        box.stop();
      }
    });

    it('other classes are left alone; a user limit pushes out the oldest of all', async () => {
      const uid = newUid();
      const app = sessionOf(h, uid, 0, 3_000);
      const web = sessionOf(h, uid, 1, 2_000);
      await h.store.admitSession(app, { deviceClass: 'app', classLimit: 1, refuse: false, fromNodeId: 3 });
      expect(await h.store.admitSession(web, oneWeb)).toEqual({ admitted: true, replaced: [] });
      const pc = sessionOf(h, uid, 2, 1_000);
      expect(
        await h.store.admitSession(pc, {
          deviceClass: 'pc',
          classLimit: 1,
          userLimit: 2,
          refuse: false,
          fromNodeId: 3,
        }),
      ).toEqual({ admitted: true, replaced: [entryOf(app, 'app')] });
      expect((await h.store.getUser(uid))?.admissions).toEqual([entryOf(web, 'web'), entryOf(pc, 'pc')]);
    });

    it('refuse-new: a login that would push one out is refused, and nothing is written', async () => {
      const uid = newUid();
      const first = sessionOf(h, uid, 1, 1_000);
      await h.store.admitSession(first, { ...oneWeb, refuse: true });
      const refused = h.session(uid, { deviceFlag: 1 });
      expect(await h.store.admitSession(refused, { ...oneWeb, refuse: true })).toEqual({
        admitted: false,
        full: [entryOf(first, 'web')],
      });
      expect(await h.store.getSession(refused.tokenHash)).toBeUndefined();
      expect((await h.store.getUser(uid))?.admissions).toEqual([entryOf(first, 'web')]);
    });

    it('an admission no longer counts once expired, cut off by a kick or device quit, or discharged', async () => {
      const uid = newUid();
      const old = sessionOf(h, uid, 1, 5_000);
      await h.store.admitSession(old, oneWeb);
      await h.store.raiseCutoff(uid, 1, { atMs: h.now() - 4_000, reason: 'device_quit' }, h.now() + LIVE_MS);
      const next = sessionOf(h, uid, 1, 3_000);
      // The quit device's session is dead already: nothing to push out, and it leaves the list.
      expect(await h.store.admitSession(next, oneWeb)).toEqual({ admitted: true, replaced: [] });
      expect((await h.store.getUser(uid))?.admissions).toEqual([entryOf(next, 'web')]);
      await h.store.dischargeSessions(uid, [next.tokenHash]);
      expect((await h.store.getUser(uid))?.admissions).toBeUndefined();
      const short = h.session(uid, { deviceFlag: 1, expiresAtMs: h.now() + h.stepMs });
      await h.store.admitSession(short, oneWeb);
      await h.elapse(2 * h.stepMs);
      const later = h.session(uid, { deviceFlag: 1 });
      expect(await h.store.admitSession(later, oneWeb)).toEqual({ admitted: true, replaced: [] });
      expect((await h.store.getUser(uid))?.admissions).toEqual([entryOf(later, 'web')]);
    });

    it('the same session admitted again does not push itself out', async () => {
      const uid = newUid();
      const session = h.session(uid, { deviceFlag: 1 });
      await h.store.admitSession(session, oneWeb);
      expect(await h.store.admitSession(session, oneWeb)).toEqual({ admitted: true, replaced: [] });
      expect((await h.store.getUser(uid))?.admissions).toEqual([entryOf(session, 'web')]);
    });

    it('decides as `admit` does, for random lists and limits', async () => {
      for (let round = 0; round < 5; round += 1) {
        const uid = newUid();
        const request: AdmissionRequest = {
          deviceClass: `c${round % 2}`,
          classLimit: 1 + (round % 3),
          ...(round % 2 === 0 ? { userLimit: 2 + round } : {}),
          refuse: false,
          fromNodeId: 3,
        };
        const expected: Admission[] = [];
        for (const i of shuffled(range(8))) {
          const session = sessionOf(h, uid, i % 3, 10_000 - i * 100);
          const entry = entryOf(session, `c${i % 2}`);
          const want = admit(expected, entry, { ...request, deviceClass: entry.deviceClass }, () => true);
          expect(await h.store.admitSession(session, { ...request, deviceClass: entry.deviceClass })).toEqual(
            want.outcome,
          );
          expected.splice(0, expected.length, ...want.kept);
        }
        expect((await h.store.getUser(uid))?.admissions).toEqual(expected);
      }
    });

    it(`${N} concurrent logins of one class leave exactly the limit, each pushed-out one named once`, async () => {
      const uid = newUid();
      const stores = h.options.sharedBackend ? [h.store, await h.open()] : [h.store];
      const sessions = range(N).map((i) => sessionOf(h, uid, 1, N - i));
      const request: AdmissionRequest = { deviceClass: 'web', classLimit: 3, refuse: false, fromNodeId: 3 };
      const outcomes = await Promise.all(
        sessions.map((session, i) => stores[i % stores.length]!.admitSession(session, request)),
      );
      const left = (await h.store.getUser(uid))?.admissions ?? [];
      expect(left).toHaveLength(3);
      const pushed = outcomes.flatMap((o) => (o.admitted ? o.replaced : []));
      const named = [...pushed, ...left].map((a) => a.tokenHash).sort();
      expect(named).toEqual(sessions.map((s) => s.tokenHash).sort());
    });

    it(`${N} concurrent logins under refuse-new: exactly the limit are admitted, the rest write nothing`, async () => {
      const uid = newUid();
      const stores = h.options.sharedBackend ? [h.store, await h.open()] : [h.store];
      const sessions = range(N).map((i) => sessionOf(h, uid, 1, N - i));
      const request: AdmissionRequest = { deviceClass: 'web', classLimit: 2, refuse: true, fromNodeId: 3 };
      const outcomes = await Promise.all(
        sessions.map((session, i) => stores[i % stores.length]!.admitSession(session, request)),
      );
      const admitted = sessions.filter((_, i) => outcomes[i]!.admitted);
      expect(admitted).toHaveLength(2);
      expect(((await h.store.getUser(uid))?.admissions ?? []).map((a) => a.tokenHash).sort()).toEqual(
        admitted.map((s) => s.tokenHash).sort(),
      );
      for (const [i, session] of sessions.entries())
        if (!outcomes[i]!.admitted) expect(await h.store.getSession(session.tokenHash)).toBeUndefined();
    });
  },
};

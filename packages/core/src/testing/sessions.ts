import { bySessionHash, distinct, type Group, newTokenHash, newUid, scanAll } from './harness.js';

export const sessions: Group = {
  name: 'sessions',
  tests(h, { it, expect }) {
    it('putSession then getSession returns the same record', async () => {
      const session = h.session(newUid(), { deviceFlag: 0 });
      await h.store.putSession(session);
      expect(await h.store.getSession(session.tokenHash)).toEqual(session);
      expect(await h.store.getSession(newTokenHash())).toBeUndefined();
    });

    it('keeps its own copy: mutating a record given or returned changes nothing on file', async () => {
      const session = h.session(newUid());
      const expected = { ...session };
      await h.store.putSession(session);
      session.expiresAtMs += 1;
      const returned = await h.store.getSession(session.tokenHash);
      expect(returned).toEqual(expected);
      returned!.revokedAtMs = h.now();
      expect(await h.store.getSession(session.tokenHash)).toEqual(expected);
    });

    it('revokeSession returns the session as it was and marks it revoked at atMs; it stays on file', async () => {
      const uid = newUid();
      const session = h.session(uid);
      await h.store.putSession(session);
      const atMs = h.now() + 7;
      const before = await h.store.revokeSession(session.tokenHash, atMs);
      expect(before).toEqual(session);
      expect(before?.revokedAtMs).toBeUndefined();
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs: atMs });
      expect(await h.store.listSessions(uid)).toEqual([{ ...session, revokedAtMs: atMs }]);
    });

    it('keeps the details a session is recognised by, through revocation, and its own copy of them', async () => {
      const uid = `${newUid()} with spaces`;
      const details = {
        deviceId: 'install-7f3a',
        userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "quoted" \\ ✓',
        ip: '2001:db8::1',
        label: 'Anna’s phone {"not": "json"}',
      };
      const session = h.session(uid, { details: { ...details } });
      const bare = h.session(uid);
      await h.store.putSession(session);
      await h.store.putSession(bare);
      expect(await h.store.getSession(session.tokenHash)).toEqual(session);
      expect(await h.store.getSession(bare.tokenHash)).toEqual(bare);
      session.details!.label = 'changed';
      const returned = await h.store.getSession(session.tokenHash);
      expect(returned?.details).toEqual(details);
      returned!.details!.ip = '10.0.0.1';
      const atMs = h.now() + 3;
      expect((await h.store.revokeSession(session.tokenHash, atMs))?.details).toEqual(details);
      const revoked = await h.store.getSession(session.tokenHash);
      expect(revoked).toEqual({ ...session, details, revokedAtMs: atMs });
      const listed = await h.store.listSessions(uid);
      expect(listed.find((s) => s.tokenHash === session.tokenHash)?.details).toEqual(details);
      expect(listed.find((s) => s.tokenHash === bare.tokenHash)?.details).toBeUndefined();
    });

    it('keeps a device level, with details or without, through revocation and last-seen writes', async () => {
      const uid = newUid();
      const master = h.session(uid, { deviceLevel: 'master' });
      const slave = h.session(uid, { deviceLevel: 'slave', details: { deviceId: 'tab-1' } });
      for (const session of [master, slave]) await h.store.putSession({ ...session });
      expect(await h.store.getSession(master.tokenHash)).toEqual(master);
      expect(await h.store.getSession(slave.tokenHash)).toEqual(slave);
      const seenAtMs = h.now() + 1;
      await h.store.touchSessions([{ tokenHash: master.tokenHash, atMs: seenAtMs }]);
      expect(await h.store.getSession(master.tokenHash)).toEqual({ ...master, lastSeenAtMs: seenAtMs });
      const atMs = h.now() + 2;
      await h.store.revokeSession(slave.tokenHash, atMs);
      expect(await h.store.getSession(slave.tokenHash)).toEqual({ ...slave, revokedAtMs: atMs });
    });

    it('touchSessions raises the last-seen time only, keeps everything else, and creates nothing', async () => {
      const uid = newUid();
      const session = h.session(uid, { details: { userAgent: 'UA', label: 'phone' } });
      const bare = h.session(uid);
      await h.store.putSession(session);
      await h.store.putSession(bare);
      const t = h.now();
      const unknown = newTokenHash();
      await h.store.touchSessions([
        { tokenHash: session.tokenHash, atMs: t + 10 },
        { tokenHash: bare.tokenHash, atMs: t + 5 },
        { tokenHash: unknown, atMs: t },
      ]);
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, lastSeenAtMs: t + 10 });
      expect(await h.store.getSession(bare.tokenHash)).toEqual({ ...bare, lastSeenAtMs: t + 5 });
      expect(await h.store.getSession(unknown)).toBeUndefined();
      // Only grows: an earlier touch (a slower node's) changes nothing.
      await h.store.touchSessions([{ tokenHash: session.tokenHash, atMs: t + 1 }]);
      expect((await h.store.getSession(session.tokenHash))?.lastSeenAtMs).toBe(t + 10);
      // Revocation keeps it, and a touch keeps the revocation.
      await h.store.revokeSession(session.tokenHash, t + 20);
      await h.store.touchSessions([{ tokenHash: session.tokenHash, atMs: t + 30 }]);
      expect(await h.store.getSession(session.tokenHash)).toEqual({
        ...session,
        revokedAtMs: t + 20,
        lastSeenAtMs: t + 30,
      });
      const listed = await h.store.listSessions(uid);
      expect(listed.find((s) => s.tokenHash === bare.tokenHash)?.lastSeenAtMs).toBe(t + 5);
      await h.store.touchSessions([]);
    });

    it('revoking twice keeps the first time, even when the second is earlier', async () => {
      const session = h.session(newUid());
      await h.store.putSession(session);
      const first = h.now() + 50;
      await h.store.revokeSession(session.tokenHash, first);
      const again = await h.store.revokeSession(session.tokenHash, first + 10);
      expect(again).toEqual({ ...session, revokedAtMs: first });
      const earlier = await h.store.revokeSession(session.tokenHash, first - 10);
      expect(earlier).toEqual({ ...session, revokedAtMs: first });
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs: first });
    });

    it('revokeSession of an unknown session returns undefined and creates nothing', async () => {
      const tokenHash = newTokenHash();
      expect(await h.store.revokeSession(tokenHash, h.now())).toBeUndefined();
      expect(await h.store.getSession(tokenHash)).toBeUndefined();
    });

    it("listSessions holds exactly the user's sessions, of every device", async () => {
      const alice = newUid();
      const bob = newUid();
      const mine = [
        h.session(alice, { deviceFlag: 0 }),
        h.session(alice, { deviceFlag: 1 }),
        h.session(alice, { deviceFlag: 1, issuedAtMs: h.now() + 1 }),
      ];
      const theirs = [h.session(bob, { deviceFlag: 0 }), h.session(bob, { deviceFlag: 2 })];
      for (const session of [...mine, ...theirs]) await h.store.putSession(session);
      expect(bySessionHash(await h.store.listSessions(alice))).toEqual(bySessionHash(mine));
      expect(bySessionHash(await h.store.listSessions(bob))).toEqual(bySessionHash(theirs));
      expect(await h.store.listSessions(newUid())).toEqual([]);
    });

    it('scanSessions pages through exactly what listSessions lists, and ends', async () => {
      const uid = newUid();
      const all = Array.from({ length: 300 }, (_, i) =>
        h.session(uid, { deviceFlag: i % 3, issuedAtMs: h.now() - i }),
      );
      for (const session of all) await h.store.putSession(session);
      await h.store.putSession(h.session(newUid()));
      const scanned = await scanAll((cursor, count) => h.store.scanSessions(uid, cursor, count), 25);
      const distinctSessions = distinct(scanned.items, (s) => s.tokenHash);
      expect(bySessionHash(distinctSessions)).toEqual(bySessionHash(all));
      expect(bySessionHash(distinctSessions)).toEqual(bySessionHash(await h.store.listSessions(uid)));
      const none = await scanAll((cursor, count) => h.store.scanSessions(newUid(), cursor, count), 25);
      expect(none.items).toEqual([]);
    });
  },
};

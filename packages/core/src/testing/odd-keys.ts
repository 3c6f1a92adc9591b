import { randomBytes } from 'node:crypto';
import { type Cutoff, PUSH_TOKEN_KINDS } from '../model.js';
import { compareText, type Group, kickRequest, newUid } from './harness.js';

/** Uids that break naive key building: glob and hash-tag characters, separators, unicode, 255 bytes. */
function oddUids(): string[] {
  const base = randomBytes(6).toString('hex');
  const uids = [
    base,
    `${base}x`,
    `${base}}b`,
    `{${base}}`,
    `${base}{`,
    `${base}*`,
    `*${base}`,
    `${base}?`,
    `${base}[x]`,
    `${base}\\*`,
    `${base}:sessions`,
    `${base}:connections`,
    `${base}:push`,
    `${base}:user`,
    `:${base}:`,
    ` ${base} with spaces `,
    `ユーザー${base}`,
    `${base}👩🏽‍💻🔥`,
    `${base}"'%\``,
  ];
  let long = `${base}-`;
  while (new TextEncoder().encode(`${long}é`).length <= 255) long += 'é';
  while (new TextEncoder().encode(long).length < 255) long += 'z';
  uids.push(long);
  return uids;
}

export const oddKeys: Group = {
  name: 'odd keys',
  tests(h, { it, expect }) {
    it('the odd uids are distinct, and one is exactly 255 bytes of UTF-8', () => {
      const uids = oddUids();
      expect(new Set(uids).size).toBe(uids.length);
      expect(uids.map((uid) => new TextEncoder().encode(uid).length)).toContain(255);
    });

    it('every method round-trips odd uids', async () => {
      const { store } = h;
      const start = h.windowStart(60_000);
      for (const uid of oddUids()) {
        const session = h.session(uid, { deviceFlag: 2 });
        await store.putSession(session);
        expect(await store.getSession(session.tokenHash)).toEqual(session);
        expect(await store.listSessions(uid)).toEqual([session]);
        expect(await store.revokeSession(session.tokenHash, h.now())).toEqual(session);
        const cutoff: Cutoff = { atMs: h.now(), reason: 'kicked' };
        await store.raiseCutoff(uid, null, cutoff, session.expiresAtMs);
        await store.raiseCutoff(uid, 2, cutoff, session.expiresAtMs);
        await store.touchUser(uid, session.expiresAtMs + 1);
        expect(await store.getUser(uid)).toEqual({
          uid,
          cutoff,
          deviceCutoffs: { 2: cutoff },
          devices: { 2: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
          expiresAtMs: session.expiresAtMs + 1,
        });
        const connection = h.connection(uid);
        await store.putConnection(connection);
        expect(await store.listConnections(uid)).toEqual([connection]);
        expect(await store.deleteConnection(uid, connection.nodeId, connection.connId)).toBe(true);
        expect(await store.listConnections(uid)).toEqual([]);
        const ring = h.pushToken('ring');
        await store.setPushToken(uid, ring);
        expect(await store.getPushTokens(uid)).toEqual([ring]);
        expect(await store.clearPushTokens(uid, PUSH_TOKEN_KINDS)).toEqual(['ring']);
        expect(await store.hit(`${uid}:login`, start, 60_000)).toBe(1);
        expect(await store.hit(`${uid}:login`, start, 60_000)).toBe(2);
        if (store.kick === undefined) continue;
        // Device 2 is cut off; its connection keeps it present.
        const device = h.connection(uid, { deviceFlag: 2, connId: 2 });
        await store.putConnection(device);
        const quit: Cutoff = { atMs: h.now() + 1, reason: 'device_quit' };
        const request = kickRequest(h, uid, {
          deviceFlag: 2,
          cutoff: quit,
          require: { user: true, device: true },
        });
        expect(await store.kick(request)).toEqual({ applied: true, connections: [device] });
        expect((await store.getUser(uid))?.deviceCutoffs).toEqual({ 2: quit });
      }
    });

    it("odd uids never see each other's records", async () => {
      const uids = oddUids();
      const start = h.windowStart(60_000);
      const t = h.now();
      const written = uids.map((uid, i) => ({
        uid,
        session: h.session(uid, { deviceFlag: i }),
        connection: h.connection(uid, { connId: i }),
        ring: h.pushToken('ring', { token: `ring-of-${i}` }),
        cutoff: { atMs: t + i, reason: 'kicked' } as Cutoff,
      }));
      for (const w of written) {
        await h.store.putSession(w.session);
        await h.store.putConnection(w.connection);
        await h.store.setPushToken(w.uid, w.ring);
        await h.store.raiseCutoff(w.uid, null, w.cutoff, w.session.expiresAtMs);
        expect(await h.store.hit(w.uid, start, 60_000)).toBe(1);
      }
      for (const w of written) {
        expect(await h.store.listSessions(w.uid)).toEqual([w.session]);
        expect(await h.store.listConnections(w.uid)).toEqual([w.connection]);
        expect(await h.store.getPushTokens(w.uid)).toEqual([w.ring]);
        expect(await h.store.getUser(w.uid)).toEqual({
          uid: w.uid,
          cutoff: w.cutoff,
          deviceCutoffs: {},
          devices: {
            [w.session.deviceFlag]: {
              lastIssuedAtMs: w.session.issuedAtMs,
              expiresAtMs: w.session.expiresAtMs,
            },
          },
          expiresAtMs: w.session.expiresAtMs,
        });
      }
      // Clearing or deleting under one uid leaves every other uid's records alone.
      const [first, ...others] = written;
      expect(await h.store.clearPushTokens(first!.uid, PUSH_TOKEN_KINDS)).toEqual(['ring']);
      expect(await h.store.deleteConnection(first!.uid, 1, 0)).toBe(true);
      for (const w of others) {
        expect(await h.store.getPushTokens(w.uid)).toEqual([w.ring]);
        expect(await h.store.listConnections(w.uid)).toEqual([w.connection]);
        expect(await h.store.hit(w.uid, start, 60_000)).toBe(2);
      }
    });

    it('odd token hashes and hit keys round-trip', async () => {
      const uid = newUid();
      const suffix = randomBytes(6).toString('hex');
      const hashes = [`a:b{c}*?[d]-${suffix}`, `ハッシュ ${suffix} 🔑`, `${suffix}+/=`];
      for (const tokenHash of hashes) {
        const session = h.session(uid, { tokenHash });
        await h.store.putSession(session);
        expect(await h.store.getSession(tokenHash)).toEqual(session);
        expect(await h.store.getSession(`${tokenHash}x`)).toBeUndefined();
      }
      expect((await h.store.listSessions(uid)).map((s) => s.tokenHash).sort(compareText)).toEqual(
        [...hashes].sort(compareText),
      );
      const start = h.windowStart(60_000);
      for (const key of hashes) expect(await h.store.hit(key, start, 60_000)).toBe(1);
      expect(await h.store.hit(`${hashes[0]}*`, start, 60_000)).toBe(1);
    });
  },
};

import { type Cutoff, PUSH_TOKEN_KINDS } from '../model.js';
import {
  byConnection,
  byKind,
  bySessionHash,
  type Group,
  interleaved,
  LIVE_MS,
  CONCURRENT_CALLS as N,
  newKey,
  newUid,
  range,
  shuffled,
  sortedKinds,
} from './harness.js';

export const concurrency: Group = {
  name: 'concurrency',
  tests(h, { it, expect }) {
    it(`${N} concurrent raiseCutoff: the latest cutoff wins, per scope`, async () => {
      const uid = newUid();
      const t = h.now();
      const cutoffs = shuffled(range(N)).map(
        (i): Cutoff => ({ atMs: t - 1_000 + i * 10, reason: i % 2 === 0 ? 'kicked' : 'device_quit' }),
      );
      const latest = cutoffs.reduce((a, b) => (b.atMs > a.atMs ? b : a));
      await Promise.all(
        cutoffs.flatMap((cutoff, i) => [
          h.store.raiseCutoff(uid, null, cutoff, t + LIVE_MS + i),
          h.store.raiseCutoff(uid, 9, cutoff, t + LIVE_MS - i),
        ]),
      );
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff: latest,
        deviceCutoffs: { 9: latest },
        devices: {},
        expiresAtMs: t + LIVE_MS + N - 1,
      });
    });

    it(`${N} concurrent putSession on one device: every session listed, the device at the maximum`, async () => {
      const uid = newUid();
      const t = h.now();
      const all = shuffled(range(N)).map((i) =>
        h.session(uid, { deviceFlag: 5, issuedAtMs: t + i, expiresAtMs: t + LIVE_MS + 3 * i }),
      );
      await Promise.all(all.map((session) => h.store.putSession(session)));
      expect(bySessionHash(await h.store.listSessions(uid))).toEqual(bySessionHash(all));
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: { 5: { lastIssuedAtMs: t + N - 1, expiresAtMs: t + LIVE_MS + 3 * (N - 1) } },
        expiresAtMs: t + LIVE_MS + 3 * (N - 1),
      });
    });

    it('concurrent writes of every kind to one user lose nothing', async () => {
      const uid = newUid();
      const t = h.now();
      const kick: Cutoff = { atMs: t, reason: 'kicked' };
      const quit: Cutoff = { atMs: t, reason: 'device_quit' };
      const sessions = range(10).map((i) => h.session(uid, { deviceFlag: 10 + i }));
      const connections = range(10).map((i) => h.connection(uid, { connId: i }));
      const ring = h.pushToken('ring');
      const message = h.pushToken('message');
      await Promise.all([
        h.store.raiseCutoff(uid, null, kick, t + LIVE_MS),
        h.store.raiseCutoff(uid, 3, quit, t + LIVE_MS),
        h.store.touchUser(uid, t + 3 * LIVE_MS),
        ...sessions.map((session) => h.store.putSession(session)),
        ...connections.map((connection) => h.store.putConnection(connection)),
        h.store.setPushToken(uid, ring),
        h.store.setPushToken(uid, message),
      ]);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff: kick,
        deviceCutoffs: { 3: quit },
        devices: Object.fromEntries(
          sessions.map((s) => [s.deviceFlag, { lastIssuedAtMs: s.issuedAtMs, expiresAtMs: s.expiresAtMs }]),
        ),
        expiresAtMs: t + 3 * LIVE_MS,
      });
      expect(bySessionHash(await h.store.listSessions(uid))).toEqual(bySessionHash(sessions));
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(connections));
      expect(byKind(await h.store.getPushTokens(uid))).toEqual(byKind([ring, message]));
    });

    it(`${N} concurrent revokeSession: exactly one applies, and its time is kept`, async () => {
      const session = h.session(newUid());
      await h.store.putSession(session);
      const times = shuffled(range(N)).map((i) => h.now() + i);
      const befores = await Promise.all(times.map((atMs) => h.store.revokeSession(session.tokenHash, atMs)));
      const winners = times.filter((_, i) => befores[i]?.revokedAtMs === undefined);
      expect(winners).toHaveLength(1);
      const revokedAtMs = winners[0];
      for (const before of befores) expect(before?.tokenHash).toBe(session.tokenHash);
      for (const [i, before] of befores.entries()) {
        if (times[i] !== revokedAtMs) expect(before).toEqual({ ...session, revokedAtMs });
      }
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs });
    });

    it(`${N} concurrent putConnection interleaved with deleteConnection: the index stays exact`, async () => {
      const uid = newUid();
      const initial = range(N).map((i) => h.connection(uid, { nodeId: 1 + (i % 3), connId: i }));
      await Promise.all(initial.map((connection) => h.store.putConnection(connection)));
      const removed = initial.filter((_, i) => i % 2 === 0);
      const added = range(N).map((i) => h.connection(uid, { nodeId: 1 + (i % 3), connId: 1_000 + i }));
      const results = await Promise.all(
        interleaved<boolean | undefined>(
          removed.map((c) => () => h.store.deleteConnection(uid, c.nodeId, c.connId)),
          added.map((c) => async () => {
            await h.store.putConnection(c);
            return undefined;
          }),
        ),
      );
      expect(results.filter((result) => result === true)).toHaveLength(removed.length);
      const kept = initial.filter((_, i) => i % 2 === 1);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection([...kept, ...added]));
    });

    it('concurrent deleteConnection of one connection: exactly one returns true', async () => {
      const uid = newUid();
      const connection = h.connection(uid);
      await h.store.putConnection(connection);
      const results = await Promise.all(
        range(10).map(() => h.store.deleteConnection(uid, connection.nodeId, connection.connId)),
      );
      expect(results.filter((deleted) => deleted)).toHaveLength(1);
      expect(await h.store.listConnections(uid)).toEqual([]);
    });

    it('concurrent clearPushTokens: each kind is reported cleared exactly once', async () => {
      const uid = newUid();
      await h.store.setPushToken(uid, h.pushToken('ring'));
      await h.store.setPushToken(uid, h.pushToken('message'));
      const results = await Promise.all(range(10).map(() => h.store.clearPushTokens(uid, PUSH_TOKEN_KINDS)));
      expect(sortedKinds(results.flat())).toEqual(['message', 'ring']);
      expect(await h.store.getPushTokens(uid)).toEqual([]);
    });

    it(`${N} concurrent hits count 1 to ${N}, each once`, async () => {
      const key = newKey();
      const start = h.windowStart(60_000);
      const counts = await Promise.all(range(N).map((i) => h.store.hit(key, start + i, 60_000)));
      expect([...counts].sort((a, b) => a - b)).toEqual(range(N).map((i) => i + 1));
    });
  },
};

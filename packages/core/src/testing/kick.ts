import type { ClusterMessage, Cutoff } from '../model.js';
import type { KickRequest } from '../store.js';
import {
  byConnection,
  delivered,
  deviceKickRequest,
  type Group,
  inbox,
  kickRequest,
  LIVE_MS,
  lacks,
  CONCURRENT_CALLS as N,
  newTokenHash,
  newUid,
  range,
  shuffled,
} from './harness.js';

export const kick: Group = {
  name: 'kick (optional)',
  // Stores are made per test, so whether this one has `kick` is known only inside a test: as with
  // `onLinkChange`, each test below returns at once when the store leaves it out.
  tests(h, { it, expect }) {
    /**
     * Kicks with `request`, expects it refused for `missing`, and checks that it wrote nothing (the
     * user and the connections read the same before and after) and published nothing (a message
     * published right after it is the only one to arrive: messages arrive in publishing order).
     */
    const refused = async (request: KickRequest, missing: 'user' | 'device') => {
      const { store } = h;
      const box = inbox(store, request.uid);
      const read = async () => [
        await store.getUser(request.uid),
        byConnection(await store.listConnections(request.uid)),
      ];
      const before = await read();
      expect(await store.kick!(request)).toEqual({ applied: false, missing });
      expect(await read()).toEqual(before);
      const marker: ClusterMessage = {
        type: 'revoked',
        uid: request.uid,
        tokenHash: newTokenHash(),
        fromNodeId: 99,
      };
      await store.publish(marker);
      await delivered([box], 1);
      box.stop();
      expect(box.received).toEqual([marker]);
    };

    it('kick is optional: a function when the store has it (tested below), else absent and every kick test returns at once (the engine then kicks step by step)', () => {
      const kick = h.store.kick;
      expect(kick === undefined || typeof kick === 'function').toBe(true);
    });

    it('kick of a user not on file (unknown, or expired) with the user required: missing "user" (before "device"); nothing written or published', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const unknown = newUid();
      await refused(kickRequest(h, unknown), 'user');
      await refused(deviceKickRequest(h, unknown, 3), 'user');
      expect(await h.store.getUser(unknown)).toBeUndefined();

      const lapsed = newUid();
      const t = h.now();
      await h.store.putSession(
        h.session(lapsed, { deviceFlag: 3, expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs }),
      );
      await h.store.raiseCutoff(lapsed, 4, { atMs: t - 1, reason: 'device_quit' }, t + h.stepMs);
      await h.elapse(h.stepMs);
      await refused(kickRequest(h, lapsed), 'user');
      await refused(deviceKickRequest(h, lapsed, 3), 'user');
      expect(await h.store.getUser(lapsed)).toBeUndefined();
    });

    it('kick of a device with no record and no connection: missing "device", with or without the user check; nothing written or published', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const uid = newUid();
      await h.store.putSession(h.session(uid, { deviceFlag: 2 }));
      await h.store.putConnection(h.connection(uid, { deviceFlag: 2 }));
      await h.store.touchUser(uid, h.now() + 2 * LIVE_MS);
      const request = deviceKickRequest(h, uid, 3);
      await refused(request, 'device');
      // A host with its own user table: the store checks the device only.
      await refused({ ...request, require: { user: false, device: true } }, 'device');
      // Flag 0 is a device like any other, not "all".
      await refused(deviceKickRequest(h, uid, 0), 'device');
      const unknown = newUid();
      await refused(
        { ...deviceKickRequest(h, unknown, 3), require: { user: false, device: true } },
        'device',
      );
      expect(await h.store.getUser(unknown)).toBeUndefined();
    });

    it('kick of a device whose record has expired (and no connection): missing "device"; nothing written or published', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const uid = newUid();
      const t = h.now();
      await h.store.putSession(
        h.session(uid, { deviceFlag: 3, expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs }),
      );
      // The user outlives the device.
      await h.store.touchUser(uid, t + 3 * h.stepMs);
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).not.toBeUndefined();
      await refused(deviceKickRequest(h, uid, 3), 'device');
    });

    it('kick of a device issued at or before a cutoff that applies to it (the user\'s or its own): missing "device"; after every one, or cut off on another device only: applied', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const t = h.now();
      /** A user whose device 3 was issued at `issuedAtMs`, with the given cutoffs already on file. */
      const userWith = async (issuedAtMs: number, cutoffs: [number | null, number][]) => {
        const uid = newUid();
        await h.store.putSession(h.session(uid, { deviceFlag: 3, issuedAtMs }));
        for (const [flag, atMs] of cutoffs) {
          await h.store.raiseCutoff(
            uid,
            flag,
            { atMs, reason: flag === null ? 'kicked' : 'device_quit' },
            t + LIVE_MS,
          );
        }
        return uid;
      };
      const absent = [
        await userWith(t - 10, [[null, t - 10]]), // the user's cutoff, at the very ms
        await userWith(t - 10, [[null, t - 5]]), // the user's cutoff, after
        await userWith(t - 10, [[3, t - 10]]), // the device's, at the very ms
        await userWith(t - 10, [[3, t - 5]]), // the device's, after
        await userWith(t - 10, [
          [null, t - 20],
          [3, t - 10],
        ]), // the latest of the two applies
        await userWith(t - 10, [
          [null, t - 10],
          [3, t - 20],
        ]),
      ];
      for (const uid of absent) await refused(deviceKickRequest(h, uid, 3), 'device');
      const present = [
        await userWith(t - 10, [[null, t - 11]]),
        await userWith(t - 10, [[3, t - 11]]),
        await userWith(t - 10, [
          [null, t - 11],
          [3, t - 12],
        ]),
        await userWith(t - 10, [[4, t]]), // another device's cutoff does not apply
      ];
      for (const uid of present) {
        expect(await h.store.kick!(deviceKickRequest(h, uid, 3))).toEqual({ applied: true, connections: [] });
        expect((await h.store.getUser(uid))?.deviceCutoffs[3]).toEqual({ atMs: t, reason: 'device_quit' });
      }
    });

    it('kick of a device present through a live connection only (no record, or one cut off): applied; a connection of a dead node incarnation, or one of another device, does not count', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const t = h.now();
      const connected = newUid();
      const connection = h.connection(connected, { deviceFlag: 3, nodeId: 2, connId: 7 });
      await h.store.putConnection(connection);
      expect(await h.store.kick!(deviceKickRequest(h, connected, 3))).toEqual({
        applied: true,
        connections: [connection],
      });
      // Its record is cut off by that quit now; its connection still makes it present.
      await h.store.putSession(h.session(connected, { deviceFlag: 3, issuedAtMs: t - 1 }));
      expect(await h.store.kick!(deviceKickRequest(h, connected, 3))).toEqual({
        applied: true,
        connections: [connection],
      });

      const stale = newUid();
      await h.store.putConnection(h.connection(stale, { deviceFlag: 3, connId: 1, incarnation: 'replaced' }));
      await h.store.putConnection(h.connection(stale, { deviceFlag: 2, connId: 2 }));
      await refused(deviceKickRequest(h, stale, 3), 'device');
    });

    it("kick applied: the cutoff is raised exactly as raiseCutoff raises it (an atomic maximum: a lower cutoff does not lower it, an equal one keeps the one on file), and the user's expiry only grows", async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const t = h.now();
      const byKick = newUid();
      const byRaise = newUid();
      const session = h.session(byKick, { deviceFlag: 2, issuedAtMs: t - 100 });
      await h.store.putSession(session);
      await h.store.putSession({ ...session, tokenHash: newTokenHash(), uid: byRaise });
      const steps: [number | null, number, 'kicked' | 'device_quit', number][] = [
        [null, t + 10, 'kicked', session.expiresAtMs - 1_000], // shorter than the user's: no change
        [null, t + 5, 'device_quit', session.expiresAtMs + 1_000], // lower: kept, the expiry grows
        [null, t + 10, 'device_quit', session.expiresAtMs], // equal: the one on file stays
        [2, t + 20, 'device_quit', session.expiresAtMs],
        [2, t + 20, 'kicked', session.expiresAtMs + 3_000],
        [2, t + 15, 'kicked', session.expiresAtMs],
        [7, t + 1, 'device_quit', session.expiresAtMs + 2_000], // a device never seen
        [null, t + 30, 'device_quit', session.expiresAtMs],
      ];
      for (const [deviceFlag, atMs, reason, expiresAtMs] of steps) {
        const cutoff: Cutoff = { atMs, reason };
        expect(await h.store.kick!(kickRequest(h, byKick, { deviceFlag, cutoff, expiresAtMs }))).toEqual({
          applied: true,
          connections: [],
        });
        await h.store.raiseCutoff(byRaise, deviceFlag, cutoff, expiresAtMs);
        expect({ ...(await h.store.getUser(byKick)), uid: byRaise }).toEqual(await h.store.getUser(byRaise));
      }
      expect(await h.store.getUser(byKick)).toEqual({
        uid: byKick,
        cutoff: { atMs: t + 30, reason: 'device_quit' },
        deviceCutoffs: {
          2: { atMs: t + 20, reason: 'device_quit' },
          7: { atMs: t + 1, reason: 'device_quit' },
        },
        devices: { 2: { lastIssuedAtMs: t - 100, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs + 3_000,
      });
    });

    it('kick applied without the user check: a user not on file (unknown, or expired) is started afresh with the cutoff, as raiseCutoff does; with no device flag, "device" asks nothing', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const t = h.now();
      const unknown = newUid();
      const cutoff: Cutoff = { atMs: t, reason: 'kicked' };
      const noCheck = { require: { user: false, device: false } };
      expect(await h.store.kick!(kickRequest(h, unknown, noCheck))).toEqual({
        applied: true,
        connections: [],
      });
      expect(await h.store.getUser(unknown)).toEqual({
        uid: unknown,
        cutoff,
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: t + LIVE_MS,
      });

      const lapsed = newUid();
      await h.store.raiseCutoff(lapsed, null, { atMs: t + 50, reason: 'device_quit' }, t + h.stepMs);
      await h.store.raiseCutoff(lapsed, 4, { atMs: t + 50, reason: 'device_quit' }, t + h.stepMs);
      await h.elapse(h.stepMs);
      const later = h.now();
      const quit: Cutoff = { atMs: later, reason: 'device_quit' };
      const result = await h.store.kick!(
        kickRequest(h, lapsed, { ...noCheck, deviceFlag: 5, cutoff: quit, expiresAtMs: later + LIVE_MS }),
      );
      expect(result).toEqual({ applied: true, connections: [] });
      expect(await h.store.getUser(lapsed)).toEqual({
        uid: lapsed,
        deviceCutoffs: { 5: quit },
        devices: {},
        expiresAtMs: later + LIVE_MS,
      });

      // The device is asked for only with a device flag: a kick of every device needs the user only.
      const known = newUid();
      await h.store.touchUser(known, later + LIVE_MS);
      const all = kickRequest(h, known, { require: { user: true, device: true } });
      expect(await h.store.kick!(all)).toEqual({ applied: true, connections: [] });
      expect((await h.store.getUser(known))?.cutoff).toEqual({ atMs: later, reason: 'kicked' });
    });

    it("kick applied: returns exactly the user's live connections (of every device and node, those of dead node incarnations left out), as listConnections lists them right after, as copies", async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const uid = newUid();
      const live = [
        h.connection(uid, { deviceFlag: 1, nodeId: 1, connId: 1 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 2, connId: 2 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 1, connId: 3 }),
      ];
      for (const connection of live) await h.store.putConnection(connection);
      await h.store.putConnection(
        h.connection(uid, { deviceFlag: 2, nodeId: 2, connId: 4, incarnation: 'replaced' }),
      );
      await h.store.putConnection(h.connection(newUid(), { deviceFlag: 2, nodeId: 1, connId: 5 }));

      const quit = await h.store.kick!(deviceKickRequest(h, uid, 2));
      expect(quit.applied).toBe(true);
      const listed = quit.applied ? quit.connections : [];
      expect(byConnection(listed)).toEqual(byConnection(live));
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(live));
      listed[0]!.incarnation = 'changed';
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(live));

      const kicked = await h.store.kick!(kickRequest(h, uid));
      expect(kicked.applied).toBe(true);
      expect(byConnection(kicked.applied ? kicked.connections : [])).toEqual(byConnection(live));
    });

    it('kick applied: the announcement is published once, unchanged, to every subscriber, before the kick resolves (a message published right after it arrives after it)', async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const uid = newUid();
      const stores = h.options.sharedBackend ? [h.store, await h.open()] : [h.store];
      const boxes = stores.flatMap((store) => [inbox(store, uid), inbox(store, uid)]);
      await h.store.touchUser(uid, h.now() + LIVE_MS);
      const announce: ClusterMessage = { type: 'revoked', uid, fromNodeId: 7 };
      expect(await h.store.kick!(kickRequest(h, uid, { announce }))).toEqual({
        applied: true,
        connections: [],
      });
      const marker: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 8 };
      await h.store.publish(marker);
      await delivered(boxes, 2);
      for (const box of boxes) {
        box.stop();
        expect(box.received).toEqual([announce, marker]);
      }
    });

    it("kick applied with `closes`: a store answering closesAnnounced published, after the announcement and before it resolved, one close-connections message per node holding a listed connection of the kicked device (the kicking node's included), naming exactly those, with the fields given; a store not answering it published none; a store answering recordsDropped dropped exactly their records", async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const uid = newUid();
      const listed = [
        h.connection(uid, { deviceFlag: 2, nodeId: 1, connId: 11 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 2, connId: 12 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 3, connId: 13 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 3, connId: 9_007_199_254 }),
      ];
      // Another device's (listed, as every live one is, but not named), and one of a dead node
      // incarnation (neither).
      const otherDevice = h.connection(uid, { deviceFlag: 1, nodeId: 4, connId: 14 });
      for (const connection of [...listed, otherDevice]) await h.store.putConnection(connection);
      await h.store.putConnection(
        h.connection(uid, { deviceFlag: 2, nodeId: 5, connId: 15, incarnation: 'replaced' }),
      );
      const box = inbox(h.store, uid);
      const announce: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      const closes = { code: 4002, reason: 'device_quit', fromNodeId: 1, sentAtMs: h.now() };
      const quit = await h.store.kick!({ ...deviceKickRequest(h, uid, 2), announce, closes });
      expect(quit.applied && byConnection(quit.connections)).toEqual(byConnection([...listed, otherDevice]));
      const announced = quit.applied && quit.closesAnnounced === true;
      const marker: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 8 };
      await h.store.publish(marker);
      const closeMessage = (nodeId: number, connIds: number[]): ClusterMessage => ({
        type: 'close-connections',
        nodeId,
        connections: connIds.map((connId) => ({ uid, connId })),
        ...closes,
      });
      const expected = announced
        ? [closeMessage(1, [11]), closeMessage(2, [12]), closeMessage(3, [13, 9_007_199_254])]
        : [];
      await delivered([box], expected.length + 2);
      box.stop();
      expect(box.received[0]).toEqual(announce);
      expect(box.received.at(-1)).toEqual(marker);
      // Neither the messages' order nor the order of connections in one is part of the contract.
      const sorted = (messages: ClusterMessage[]) =>
        messages
          .map((m) =>
            m.type === 'close-connections'
              ? { ...m, connections: [...m.connections].sort((a, b) => a.connId - b.connId) }
              : m,
          )
          .sort((a, b) =>
            a.type === 'close-connections' && b.type === 'close-connections' ? a.nodeId - b.nodeId : 0,
          );
      expect(sorted(box.received.slice(1, -1))).toEqual(expected);
      // Records dropped with the kick are exactly those of the connections it announced closes for.
      const dropped = quit.applied && quit.recordsDropped === true;
      if (dropped) expect(announced).toBe(true);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(
        byConnection(dropped ? [otherDevice] : [...listed, otherDevice]),
      );
    });

    it(`${N} concurrent kicks, mixed with raiseCutoff, never lower the cutoff: the latest wins, per scope, and each kick is announced`, async (...context) => {
      if (lacks(context, h.store.kick !== undefined, 'kick')) return;
      const uid = newUid();
      const t = h.now();
      await h.store.putSession(h.session(uid, { deviceFlag: 9, issuedAtMs: t - 2_000 }));
      const box = inbox(h.store, uid);
      const cutoffs = shuffled(range(N)).map(
        (i): Cutoff => ({ atMs: t - 1_000 + i * 10, reason: i % 2 === 0 ? 'kicked' : 'device_quit' }),
      );
      const latest = cutoffs.reduce((a, b) => (b.atMs > a.atMs ? b : a));
      const results = await Promise.all(
        cutoffs.flatMap((cutoff, i) => [
          h.store.kick!(kickRequest(h, uid, { cutoff, expiresAtMs: t + LIVE_MS + i })),
          h.store.kick!(kickRequest(h, uid, { deviceFlag: 9, cutoff, expiresAtMs: t + LIVE_MS - i })),
          h.store.raiseCutoff(uid, i % 2 === 0 ? null : 9, { ...cutoff, atMs: cutoff.atMs - 5 }, t + LIVE_MS),
        ]),
      );
      for (const result of results)
        if (result !== undefined) expect(result).toEqual({ applied: true, connections: [] });
      expect((await h.store.getUser(uid))?.cutoff).toEqual(latest);
      expect((await h.store.getUser(uid))?.deviceCutoffs).toEqual({ 9: latest });
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(t + LIVE_MS + N - 1);
      await delivered([box], 2 * N);
      box.stop();
      expect(box.received).toHaveLength(2 * N);
    });
  },
};

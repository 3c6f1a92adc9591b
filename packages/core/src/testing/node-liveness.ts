/**
 * Conformance: connections live by their node (`EvictStore.heartbeatNode`), not by records of their
 * own; batches of connections; and the sweep of dead nodes' records.
 *
 * Every test runs on nodes of its own (random ids, away from the harness's nodes 1 to 12), so that
 * suites sharing one backend never see each other's nodes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ConnectionRecord, NodeRecord } from '../model.js';
import { countByDevice, type EvictStore } from '../store.js';
import { lacks } from './harness.js';
import type { ConformanceRunner } from './index.js';

/** What these tests use of the suite's harness. */
export interface NodeLivenessHarness {
  readonly store: EvictStore;
  readonly stepMs: number;
  now(): number;
  elapse(ms: number): Promise<void>;
  connection(uid: string, overrides?: Partial<ConnectionRecord>): ConnectionRecord;
}

/** Sweep steps one test waits for at most: far more than its own records need. */
const MAX_SWEEP_STEPS = 10_000;
/** Past a node's lapse, before its records may be swept (a store allows for clock skew). */
const SWEEP_AFTER_LAPSE_MS = 2_000;

const newUid = () => `uid-${randomUUID()}`;
const newNodeId = () => 1_000 + Math.floor(Math.random() * 1_000_000_000);
const newIncarnation = () => randomBytes(6).toString('base64url');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const byConnection = (records: readonly ConnectionRecord[]) =>
  [...records].sort((a, b) => a.nodeId - b.nodeId || a.connId - b.connId);

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}

export const nodeLiveness = {
  name: 'node liveness',
  tests(h: NodeLivenessHarness, { it, expect }: ConformanceRunner): void {
    /** A new node, live for `lifeMs` from now. */
    async function startNode(lifeMs: number): Promise<NodeRecord> {
      const node = { nodeId: newNodeId(), incarnation: newIncarnation(), expiresAtMs: h.now() + lifeMs };
      expect(await h.store.heartbeatNode(node)).toBe(true);
      return node;
    }
    const connectionOf = (node: NodeRecord, uid: string, overrides: Partial<ConnectionRecord> = {}) =>
      h.connection(uid, { nodeId: node.nodeId, incarnation: node.incarnation, ...overrides });

    /** Sweeps until nothing is left, checking that no step goes past its limit. */
    async function sweepAll(limit: number): Promise<void> {
      for (let step = 0; step < MAX_SWEEP_STEPS; step++) {
        const drained = await h.store.sweepConnections!(limit);
        expect(drained <= limit).toBe(true);
        if (drained < limit) return;
      }
      throw new Error('conformance: the sweep never finished');
    }

    it('countConnections counts the live connections by device flag, exactly as listConnections lists them', async () => {
      const lasting = await startNode(10 * h.stepMs);
      const lapsing = await startNode(2 * h.stepMs);
      const uid = newUid();
      const other = newUid();
      const records = [
        connectionOf(lasting, uid, { deviceFlag: 1, connId: 1 }),
        connectionOf(lasting, uid, { deviceFlag: 1, connId: 2 }),
        connectionOf(lasting, uid, { deviceFlag: 0, connId: 3 }),
        connectionOf(lapsing, uid, { deviceFlag: 1, connId: 1 }),
        connectionOf(lapsing, uid, { deviceFlag: 255, connId: 2 }),
        connectionOf(lasting, other, { deviceFlag: 3, connId: 4 }),
      ];
      await h.store.putConnections(records);
      const counted = async (user: string) => {
        const counts = await h.store.countConnections(user);
        expect(counts).toEqual(countByDevice(await h.store.listConnections(user)));
        return counts;
      };
      expect(await counted(uid)).toEqual([
        { deviceFlag: 0, connections: 1 },
        { deviceFlag: 1, connections: 3 },
        { deviceFlag: 255, connections: 1 },
      ]);
      expect(await counted(other)).toEqual([{ deviceFlag: 3, connections: 1 }]);
      expect(await counted(newUid())).toEqual([]);
      // One node lapses: its connections stop counting.
      await h.elapse(2 * h.stepMs);
      expect(await counted(uid)).toEqual([
        { deviceFlag: 0, connections: 1 },
        { deviceFlag: 1, connections: 2 },
      ]);
      // The other restarts (a new incarnation replaces its record): its old connections stop counting too.
      expect(await h.store.heartbeatNode({ ...lasting, incarnation: newIncarnation() })).toBe(true);
      expect(await counted(uid)).toEqual([]);
      expect(await counted(other)).toEqual([]);
    });

    it("a dead node's connections disappear from every read once its record lapses, and its incarnation stays dead", async () => {
      const node = await startNode(2 * h.stepMs);
      const uid = newUid();
      const connection = connectionOf(node, uid, { deviceFlag: 4, connId: 7 });
      await h.store.putConnection(connection);
      await h.elapse(h.stepMs);
      expect(await h.store.listConnections(uid)).toEqual([connection]);
      expect(await h.store.countConnections(uid)).toEqual([{ deviceFlag: 4, connections: 1 }]);
      await h.elapse(h.stepMs);
      expect(await h.store.listConnections(uid)).toEqual([]);
      expect(await h.store.countConnections(uid)).toEqual([]);
      if (h.store.kick !== undefined) {
        const request = {
          uid,
          deviceFlag: 4,
          cutoff: { atMs: h.now(), reason: 'device_quit' as const },
          expiresAtMs: h.now() + 10 * h.stepMs,
          require: { user: false, device: true },
          announce: { type: 'revoked' as const, uid, fromNodeId: node.nodeId },
        };
        expect(await h.store.kick(request)).toEqual({ applied: false, missing: 'device' });
        expect(
          await h.store.kick({ ...request, deviceFlag: null, require: { user: false, device: false } }),
        ).toEqual({
          applied: true,
          connections: [],
        });
      }
      // The same incarnation cannot come back: the node must start a new one.
      expect(await h.store.heartbeatNode({ ...node, expiresAtMs: h.now() + 10 * h.stepMs })).toBe(false);
      expect(await h.store.listConnections(uid)).toEqual([]);
      expect(await h.store.deleteConnection(uid, node.nodeId, 7)).toBe(false);
    });

    it("a live node's connections never lapse, however long ago they were registered", async () => {
      const node = await startNode(2 * h.stepMs);
      const uid = newUid();
      const connection = connectionOf(node, uid);
      await h.store.putConnection(connection);
      for (let i = 0; i < 10; i++) {
        await h.elapse(h.stepMs);
        expect(await h.store.heartbeatNode({ ...node, expiresAtMs: h.now() + 2 * h.stepMs })).toBe(true);
        expect(await h.store.listConnections(uid)).toEqual([connection]);
      }
      expect(await h.store.deleteConnection(uid, node.nodeId, connection.connId)).toBe(true);
    });

    it("a heartbeat only ever extends a node's life", async () => {
      const node = await startNode(3 * h.stepMs);
      const uid = newUid();
      const connection = connectionOf(node, uid);
      await h.store.putConnection(connection);
      expect(await h.store.heartbeatNode({ ...node, expiresAtMs: h.now() + h.stepMs })).toBe(true);
      await h.elapse(h.stepMs);
      expect(await h.store.listConnections(uid)).toEqual([connection]);
    });

    it("a new incarnation hides the old one's connections at once; what it puts again counts", async () => {
      const old = await startNode(10 * h.stepMs);
      const uid = newUid();
      const first = connectionOf(old, uid, { connId: 1 });
      const second = connectionOf(old, uid, { connId: 2, deviceFlag: 2 });
      await h.store.putConnections([first, second]);
      expect(byConnection(await h.store.listConnections(uid))).toEqual([first, second]);
      const restarted = { ...old, incarnation: newIncarnation() };
      expect(await h.store.heartbeatNode(restarted)).toBe(true);
      expect(await h.store.listConnections(uid)).toEqual([]);
      const again = { ...first, incarnation: restarted.incarnation };
      await h.store.putConnection(again);
      expect(await h.store.listConnections(uid)).toEqual([again]);
      expect(await h.store.deleteConnection(uid, old.nodeId, 2)).toBe(false);
    });

    it('a connection of an incarnation that is not on file never counts, even once a heartbeat puts it there', async () => {
      const node = await startNode(10 * h.stepMs);
      const uid = newUid();
      const early = connectionOf(node, uid, { incarnation: newIncarnation() });
      await h.store.putConnection(early);
      expect(await h.store.listConnections(uid)).toEqual([]);
      expect(await h.store.heartbeatNode({ ...node, incarnation: early.incarnation })).toBe(true);
      expect(await h.store.listConnections(uid)).toEqual([]);
      expect(await h.store.deleteConnection(uid, node.nodeId, early.connId)).toBe(false);
    });

    it('a late put of a replaced incarnation leaves the live record of the same connection alone', async () => {
      const old = await startNode(10 * h.stepMs);
      const uid = newUid();
      const restarted = { ...old, incarnation: newIncarnation() };
      expect(await h.store.heartbeatNode(restarted)).toBe(true);
      const current = connectionOf(restarted, uid, { connId: 3 });
      await h.store.putConnection(current);
      await h.store.putConnection(connectionOf(old, uid, { connId: 3, deviceFlag: 2 }));
      expect(await h.store.listConnections(uid)).toEqual([current]);
    });

    it('a connection keeps its user on file past the user’s expiry, with expiresAtMs Infinity, until it goes', async () => {
      const node = await startNode(10 * h.stepMs);
      const uid = newUid();
      const connection = connectionOf(node, uid);
      await h.store.putConnection(connection);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: Number.POSITIVE_INFINITY,
      });
      expect(await h.store.deleteConnection(uid, node.nodeId, connection.connId)).toBe(true);
      expect(await h.store.getUser(uid)).toBeUndefined();
    });

    it('putConnections and deleteConnections take batches (across users, nodes and index buckets)', async () => {
      const a = await startNode(10 * h.stepMs);
      const b = await startNode(10 * h.stepMs);
      const uids = [newUid(), newUid(), newUid()];
      const all = range(1_200).map((i) =>
        connectionOf(i % 2 === 0 ? a : b, uids[i % 3]!, { connId: 5_000 + i, deviceFlag: i % 4 }),
      );
      await h.store.putConnections(all);
      for (const uid of uids) {
        expect(byConnection(await h.store.listConnections(uid))).toEqual(
          byConnection(all.filter((c) => c.uid === uid)),
        );
      }
      const gone = all.filter((_, i) => i % 5 === 0);
      const refs = [
        ...gone.map(({ uid, nodeId, connId }) => ({ uid, nodeId, connId })),
        { uid: uids[0]!, nodeId: a.nodeId, connId: 1 },
        { uid: newUid(), nodeId: a.nodeId, connId: 5_000 },
      ];
      expect(await h.store.deleteConnections(refs)).toEqual([...gone.map(() => true), false, false]);
      expect(await h.store.deleteConnections([])).toEqual([]);
      await h.store.putConnections([]);
      for (const uid of uids) {
        expect(byConnection(await h.store.listConnections(uid))).toEqual(
          byConnection(all.filter((c, i) => c.uid === uid && i % 5 !== 0)),
        );
      }
    });

    it('heartbeatNode and putConnections refuse an incarnation that is not 1 to 64 of A-Z a-z 0-9 _ - (TypeError)', async () => {
      const nodeId = newNodeId();
      for (const incarnation of ['', 'has space', 'x'.repeat(65), 'a{b}']) {
        const node = { nodeId, incarnation, expiresAtMs: h.now() + h.stepMs };
        expect((await rejection(() => h.store.heartbeatNode(node))) instanceof TypeError).toBe(true);
        const connection = h.connection(newUid(), { nodeId, incarnation });
        expect((await rejection(() => h.store.putConnections([connection]))) instanceof TypeError).toBe(true);
      }
    });

    it("sweepConnections removes dead incarnations' records in bounded steps, never a live one's", async (...context) => {
      if (lacks(context, h.store.sweepConnections !== undefined, 'sweepConnections')) return;
      const live = await startNode(100 * h.stepMs);
      const lapsing = await startNode(h.stepMs);
      const replaced = await startNode(100 * h.stepMs);
      const keeper = newUid();
      const deadOnly = [newUid(), newUid()];
      const kept = range(300).map((i) => connectionOf(live, keeper, { connId: 1 + i }));
      const lapsed = range(700).map((i) => connectionOf(lapsing, deadOnly[i % 2]!, { connId: 1 + i }));
      const ofReplaced = range(600).map((i) => connectionOf(replaced, deadOnly[i % 2]!, { connId: 1 + i }));
      // The same user and connId, put again by the replacing incarnation: it stays.
      const moved = connectionOf(replaced, keeper, { connId: 9_999 });
      await h.store.putConnections([...kept, ...lapsed, ...ofReplaced, moved]);
      const successor = { ...replaced, incarnation: newIncarnation() };
      expect(await h.store.heartbeatNode(successor)).toBe(true);
      const movedAgain = { ...moved, incarnation: successor.incarnation };
      await h.store.putConnection(movedAgain);
      await h.elapse(h.stepMs + SWEEP_AFTER_LAPSE_MS);

      await sweepAll(100);
      for (const uid of deadOnly) {
        expect(await h.store.listConnections(uid)).toEqual([]);
        // Their records are gone, not just hidden: nothing keeps the user on file any more.
        expect(await h.store.getUser(uid)).toBeUndefined();
      }
      expect(byConnection(await h.store.listConnections(keeper))).toEqual(
        byConnection([...kept, movedAgain]),
      );
      expect(await h.store.deleteConnection(keeper, live.nodeId, 1)).toBe(true);
      expect(await h.store.sweepConnections!(1)).toBe(0);
    });
  },
};

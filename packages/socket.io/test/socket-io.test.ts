import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEvict,
  type Evict,
  hashToken,
  type LoginPolicyPreset,
  MemoryStore,
  sessionIdOf,
} from '@evict/core';
import { evictSocketIo, type SocketPrincipal } from '@evict/socket.io';
import { Server } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectSocketIo } from '../../../test/support/socket-io-client.js';

// Real socket.io servers and clients over WebSocket. Two engines sharing one MemoryStore behave as
// two nodes of a cluster (the demo-node test does the same over Redis).

let store: MemoryStore;
const engines: Evict[] = [];
const servers: { http: HttpServer; io: Server }[] = [];
const clients: ClientSocket[] = [];

beforeEach(() => {
  store = new MemoryStore();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  for (const { io, http } of servers.splice(0)) {
    await new Promise<void>((resolve) => io.close(() => resolve()));
    http.closeAllConnections();
  }
  for (const engine of engines.splice(0)) await engine.close();
  await store.close();
});

/** A node: an engine on the shared store and a socket.io server behind evict's middleware. */
async function node(nodeId: number, connectionKickGraceMs = 50, loginPolicy?: LoginPolicyPreset) {
  const engine = createEvict({
    store,
    nodeId,
    connectionKickGraceMs,
    ...(loginPolicy === undefined ? {} : { loginPolicy }),
  });
  engines.push(engine);
  const http = createServer();
  const io = new Server(http);
  io.use(evictSocketIo(engine));
  io.on('connection', (socket) => {
    const data = socket.data.evict as SocketPrincipal;
    socket.emit('hello', { uid: data.uid, conn_id: data.connId, node_id: data.nodeId });
  });
  servers.push({ http, io });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { engine, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

const connect = (
  url: string,
  auth: Record<string, unknown>,
  query: Record<string, string> = {},
  transports?: ('websocket' | 'polling')[],
) => connectSocketIo(url, clients, auth, query, transports);

/**
 * Every revocation that closes a `ws` connection, made on node A, each against a socket that node B
 * holds: what its client hears (evict:revoked with the close reason and code, then the disconnect).
 */
const REVOCATIONS: {
  what: string;
  reason: string;
  code: number;
  revoke(engine: Evict, held: { token: string; connId: number }): Promise<unknown>;
}[] = [
  { what: 'a kick of the user', reason: 'kicked', code: 4001, revoke: (e) => e.kickUser('dora01') },
  {
    what: 'a quit of its device',
    reason: 'device_quit',
    code: 4002,
    revoke: (e) => e.quitDevice('dora01', 1),
  },
  {
    what: "WuKongIM's /conn/remove",
    reason: 'connection_removed',
    code: 4003,
    revoke: (e, held) => e.removeConnection({ uid: 'dora01', connId: held.connId }),
  },
  { what: 'a logout', reason: 'session_revoked', code: 4004, revoke: (e, held) => e.logout(held.token) },
  {
    what: 'its session revoked by id',
    reason: 'session_revoked',
    code: 4004,
    revoke: (e, held) => e.revokeSession({ uid: 'dora01', sessionId: sessionIdOf(hashToken(held.token)) }),
  },
  {
    what: 'a newer login under openim:1 (same platform)',
    reason: 'replaced',
    code: 4005,
    revoke: (e) => e.issueSession({ uid: 'dora01', deviceFlag: 1 }),
  },
  {
    what: "WuKongIM's /conn/kick, after its grace",
    reason: 'connection_kicked',
    code: 4006,
    revoke: (e, held) => e.kickConnection({ uid: 'dora01', connId: held.connId }),
  },
];

describe('evictSocketIo', () => {
  it('registers an accepted socket, and a kick on another node tells it evict:revoked, then disconnects it', async () => {
    const a = await node(1);
    const b = await node(2);
    const { token } = await a.engine.issueSession({ uid: 'alice01', deviceFlag: 1 });
    const held = await connect(b.url, { token, device_id: 'phone-1' });
    expect(held.hello).toMatchObject({ uid: 'alice01', node_id: 2 });
    expect(await a.engine.listConnections('alice01')).toMatchObject([
      { nodeId: 2, connId: held.hello.conn_id, deviceFlag: 1, deviceId: 'phone-1', ip: '127.0.0.1' },
    ]);
    await a.engine.kickUser('alice01');
    expect(await held.disconnected).toBe('io server disconnect');
    expect(held.events).toEqual([
      ['evict:revoked', { reason: 'kicked', code: 4001 }],
      ['disconnect', 'io server disconnect'],
    ]);
    await expect(connect(b.url, { token })).rejects.toMatchObject({
      message: 'kicked',
      data: { status: 401, body: { error: 'unauthorized', reason: 'kicked' } },
    });
  });

  it('refuses a handshake without a live credential, in the guard’s words', async () => {
    const a = await node(1);
    await expect(connect(a.url, {})).rejects.toMatchObject({ message: 'unknown', data: { status: 401 } });
    await expect(connect(a.url, { token: 'not-a-session' })).rejects.toMatchObject({ message: 'unknown' });
  });

  it('takes the token from the query too; a logout disconnects its sockets (4004), a /conn/kick after its grace (4006)', async () => {
    const a = await node(1);
    const b = await node(2);
    const first = await a.engine.issueSession({ uid: 'bob', deviceFlag: 0 });
    const second = await a.engine.issueSession({ uid: 'bob', deviceFlag: 1 });
    const viaQuery = await connect(b.url, {}, { token: first.token });
    const kicked = await connect(b.url, { token: second.token });
    await a.engine.logout(first.token);
    expect(await viaQuery.disconnected).toBe('io server disconnect');
    expect(viaQuery.events[0]).toEqual(['evict:revoked', { reason: 'session_revoked', code: 4004 }]);
    const startedMs = Date.now();
    await a.engine.kickConnection({ uid: 'bob', connId: kicked.hello.conn_id, nodeId: 2 });
    expect(await kicked.disconnected).toBe('io server disconnect');
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(40);
    expect(kicked.events[0]).toEqual(['evict:revoked', { reason: 'connection_kicked', code: 4006 }]);
  });

  it.each(
    REVOCATIONS.flatMap((r) => (['websocket', 'polling'] as const).map((transport) => ({ ...r, transport }))),
  )(
    '$what disconnects a socket held by the other node ($transport): evict:revoked $reason $code first',
    async ({ reason, code, revoke, transport }) => {
      const a = await node(1, 50, 'openim:1');
      const b = await node(2, 50, 'openim:1');
      const { token } = await a.engine.issueSession({ uid: 'dora01', deviceFlag: 1 });
      const held = await connect(b.url, { token }, {}, [transport]);
      await revoke(a.engine, { token, connId: held.hello.conn_id });
      expect(await held.disconnected).toBe('io server disconnect');
      expect(held.events).toEqual([
        ['evict:revoked', { reason, code }],
        ['disconnect', 'io server disconnect'],
      ]);
      await expect.poll(() => a.engine.listConnections('dora01')).toEqual([]);
    },
  );

  it('unregisters a socket that disconnects by itself', async () => {
    const a = await node(1);
    const { token } = await a.engine.issueSession({ uid: 'carol', deviceFlag: 0 });
    const held = await connect(a.url, { token });
    expect(await a.engine.listConnections('carol')).toHaveLength(1);
    held.client.disconnect();
    await expect.poll(() => a.engine.listConnections('carol')).toEqual([]);
  });
});

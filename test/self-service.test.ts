/**
 * The signed-in user's own sessions, through real HTTP on every adapter: `GET /sessions`,
 * `DELETE /sessions/:id`, `POST /sessions/revoke-others` (`AdminApiOptions.sessions`), with the
 * sockets of a revoked session closed (4004) and bad input answered without changing anything.
 */
import { createEvict, type Evict, hashToken, MemoryStore, sessionIdOf } from '@evict/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from './contract/adapters.js';
import { adminOptionsFor, GUARD } from './contract/app.js';
import type { ContractApp } from './contract/apps/types.js';
import { ManualClock } from './support/clock.js';

interface Answer {
  status: number;
  body: unknown;
}

describe.each(adapters.map((adapter) => [adapter.name, adapter] as const))(
  'self-service sessions on %s',
  (_name, adapter) => {
    let engine: Evict;
    let memory: MemoryStore;
    let clock: ManualClock;
    let app: ContractApp;
    let users = 0;

    beforeAll(async () => {
      clock = new ManualClock();
      memory = new MemoryStore({ clock });
      engine = createEvict({ store: memory, clock });
      app = await adapter.start({ engine, admin: adminOptionsFor(), guard: GUARD });
    });
    afterAll(async () => {
      await app.close();
      await engine.close();
    });

    const call = async (
      method: string,
      path: string,
      headers: Record<string, string> = {},
    ): Promise<Answer> => {
      const response = await fetch(`${app.url}${path}`, { method, headers });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
    };
    const as = (token: string) => ({ token });
    const idOf = (token: string) => sessionIdOf(hashToken(token));
    const newUser = () => `self${++users}`;

    it('GET /sessions lists the caller’s live sessions, newest first, with the current one marked', async () => {
      const uid = newUser();
      const phone = await engine.issueSession({
        uid,
        deviceFlag: 0,
        deviceId: 'install-9',
        userAgent: 'Chat/1.0',
        ip: '198.51.100.7',
      });
      clock.advance(1_000);
      const web = await engine.issueSession({ uid, deviceFlag: 1, label: 'work laptop' });
      await engine.issueSession({ uid: newUser(), deviceFlag: 0 });
      const answer = await call('GET', '/sessions', { authorization: `Bearer ${phone.token}` });
      expect(answer).toEqual({
        status: 200,
        body: {
          sessions: [
            {
              id: web.sessionId,
              device_flag: 1,
              device_id: null,
              user_agent: null,
              ip: null,
              label: 'work laptop',
              created_at: web.issuedAtMs,
              expires_at: web.expiresAtMs,
              last_seen_at: null,
              current: false,
            },
            {
              id: phone.sessionId,
              device_flag: 0,
              device_id: 'install-9',
              user_agent: 'Chat/1.0',
              ip: '198.51.100.7',
              label: null,
              created_at: phone.issuedAtMs,
              expires_at: phone.expiresAtMs,
              last_seen_at: null,
              current: true,
            },
          ],
        },
      });
      expect(JSON.stringify(answer.body)).not.toContain(phone.token);
    });

    it('DELETE /sessions/:id ends that session and closes its sockets (4004); another user’s id is 404, as an unknown one', async () => {
      const uid = newUser();
      const mine = await engine.issueSession({ uid, deviceFlag: 0 });
      const other = await engine.issueSession({ uid, deviceFlag: 1 });
      const strangers = await engine.issueSession({ uid: newUser(), deviceFlag: 0 });
      const closed: number[] = [];
      await engine.registerConnection({
        uid,
        deviceFlag: 1,
        credential: { type: 'session', token: other.token },
        close: (info) => closed.push(info.code),
      });
      const before = memory.snapshot();
      for (const id of [strangers.sessionId, 'A'.repeat(22)]) {
        expect(await call('DELETE', `/sessions/${id}`, as(mine.token))).toEqual({
          status: 404,
          body: { error: 'not_found', message: 'no such session' },
        });
      }
      for (const id of ['short', 'x'.repeat(23), '%41'.repeat(8), 'a*'.repeat(11)]) {
        const answer = await call('DELETE', `/sessions/${id}`, as(mine.token));
        expect(answer.status, id).toBe(400);
        expect(answer.body, id).toMatchObject({ error: 'bad_request' });
      }
      expect(memory.snapshot()).toEqual(before);
      expect(closed).toEqual([]);

      expect(await call('DELETE', `/sessions/${other.sessionId}`, as(mine.token))).toEqual({
        status: 200,
        body: { status: 'ok' },
      });
      expect(closed).toEqual([4004]);
      expect((await engine.check({ type: 'session', token: other.token })).ok).toBe(false);
      expect((await engine.check({ type: 'session', token: mine.token })).ok).toBe(true);
      expect((await engine.check({ type: 'session', token: strangers.token })).ok).toBe(true);
    });

    it('POST /sessions/revoke-others ends every other session of the caller and counts them', async () => {
      const uid = newUser();
      const mine = await engine.issueSession({ uid, deviceFlag: 1 });
      await engine.issueSession({ uid, deviceFlag: 0 });
      await engine.issueSession({ uid, deviceFlag: 1 });
      expect(await call('POST', '/sessions/revoke-others', as(mine.token))).toEqual({
        status: 200,
        body: { status: 'ok', revoked: 2 },
      });
      expect((await call('GET', '/sessions', as(mine.token))).body).toMatchObject({
        sessions: [{ id: idOf(mine.token), current: true }],
      });
      expect(await call('POST', '/sessions/revoke-others', as(mine.token))).toEqual({
        status: 200,
        body: { status: 'ok', revoked: 0 },
      });
    });

    it('refuses a missing, unknown, kicked or logged-out token as the guard does, and changes nothing', async () => {
      const uid = newUser();
      const kicked = await engine.issueSession({ uid, deviceFlag: 0 });
      await engine.kickUser(uid);
      const loggedOut = await engine.issueSession({ uid: newUser(), deviceFlag: 0 });
      await engine.logout(loggedOut.token);
      const before = memory.snapshot();
      for (const [method, path] of [
        ['GET', '/sessions'],
        ['DELETE', `/sessions/${idOf(kicked.token)}`],
        ['POST', '/sessions/revoke-others'],
      ] as const) {
        expect((await call(method, path)).status).toBe(401);
        expect((await call(method, path, as('no-such-token'))).body).toMatchObject({ reason: 'unknown' });
        expect((await call(method, path, as(kicked.token))).body).toMatchObject({ reason: 'kicked' });
        expect((await call(method, path, as(loggedOut.token))).body).toMatchObject({ reason: 'logged_out' });
      }
      expect(memory.snapshot()).toEqual(before);
    });
  },
);

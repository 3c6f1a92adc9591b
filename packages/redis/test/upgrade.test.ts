/**
 * Data written by the release before the short session keys and the compact user hash (see
 * `keys.ts`), written here by hand as that release wrote it: it is read, listed, touched and revoked
 * as it is, and rewritten in the new layout by the next write. On the Redis at REDIS_URL, with each
 * client library.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { SessionRecord } from '@evict/core';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeRedis, randomPrefix } from '../../../test/support/redis.js';
import { RedisStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import { CLIENT_LIBRARIES, deleteKeysUnder, type HostClient, hostClient } from './clients.js';

const MINUTE_MS = 60_000;
const b36 = (n: number) => n.toString(36);
const hexOf = (tokenHash: string) => Buffer.from(tokenHash, 'base64url').toString('hex');
const newTokenHash = () => createHash('sha256').update(randomUUID()).digest('base64url');

for (const library of CLIENT_LIBRARIES) {
  describeRedis(`RedisStore on ${library}, reading the layout before short session keys`, () => {
    let host: HostClient;
    let prefix: string;
    let store: RedisStore;
    let layout: KeyLayout;

    beforeEach(async () => {
      prefix = randomPrefix();
      host = await hostClient(library);
      store = new RedisStore({ client: host.client, prefix });
      layout = new KeyLayout(prefix);
    });

    afterEach(async () => {
      await store.close();
      await deleteKeysUnder(host, prefix);
      await host.close();
    });

    /** A user's first session as the release before wrote it: the key of the whole hash, `s` in text. */
    async function writeOldSession(
      uid: string,
      t: number,
    ): Promise<{ session: SessionRecord; oldKey: string }> {
      const tokenHash = newTokenHash();
      const session: SessionRecord = {
        tokenHash,
        uid,
        deviceFlag: 1,
        issuedAtMs: t,
        expiresAtMs: t + 10 * MINUTE_MS,
        retainUntilMs: t + 20 * MINUTE_MS,
      };
      const oldKey = `${prefix}{s:${tokenHash}}`;
      const record = `1:${b36(t)}:${b36(session.expiresAtMs)}:${b36(session.retainUntilMs)}:-:${uid}`;
      await host.command(['SET', oldKey, record, 'PX', String(21 * MINUTE_MS)]);
      const user = layout.user(uid).user;
      await host.command([
        'HSET',
        user,
        'e',
        String(session.expiresAtMs),
        'd:1',
        `${t} ${session.expiresAtMs}`,
        's',
        `${b36(session.retainUntilMs)} ${tokenHash}`,
      ]);
      await host.command(['PEXPIRE', user, String(21 * MINUTE_MS)]);
      return { session, oldKey };
    }

    /** The user's field \`s\`: all but its last 32 bytes as text, and those in hex (read by Lua, as they are). */
    async function indexEntry(uid: string): Promise<[string, string]> {
      const reply = await host.command([
        'EVAL',
        "local v = redis.call('HGET', KEYS[1], 's') return { string.sub(v, 1, -33), (string.gsub(string.sub(v, -32), '.', function(c) return string.format('%02x', string.byte(c)) end)) }",
        '1',
        layout.user(uid).user,
      ]);
      return (reply as unknown[]).map(String) as [string, string];
    }

    it("keeps a token hash's 32 bytes in the user's hash, and lists the hash as it was given", async () => {
      const t = Date.now();
      // Random hashes, and the edges of base64url: every bit clear, every bit set (its last
      // character carries four bits: 'w'). A 43-character hash not in the one spelling of 32 bytes
      // (last character 'x': a bit past the 256th) is kept as text.
      const hashes = [
        newTokenHash(),
        newTokenHash(),
        'A'.repeat(43),
        `${'_'.repeat(42)}w`,
        `${'A'.repeat(42)}x`,
      ];
      for (const [i, tokenHash] of hashes.entries()) {
        const uid = `bytes-${i}`;
        const s = {
          tokenHash,
          uid,
          deviceFlag: 1,
          issuedAtMs: t,
          expiresAtMs: t + MINUTE_MS,
          retainUntilMs: t + 2 * MINUTE_MS,
        };
        await store.putSession(s);
        expect(await store.listSessions(uid)).toEqual([s]);
        expect(await host.command(['HGET', layout.user(uid).user, 'd:1'])).toBe(
          `${b36(t)}:${b36(t + MINUTE_MS)}`,
        );
        if (i < 4) {
          expect(await indexEntry(uid)).toEqual([`${b36(s.retainUntilMs)}:`, hexOf(tokenHash)]);
        } else {
          expect(await host.command(['HGET', layout.user(uid).user, 's'])).toBe(
            `${b36(s.retainUntilMs)} ${tokenHash}`,
          );
        }
        // A second session moves the entry to the sorted set, as text.
        const second = { ...s, tokenHash: newTokenHash() };
        await store.putSession(second);
        const score = await host.command(['ZSCORE', layout.user(uid).sessions, tokenHash]);
        expect(Number(score)).toBe(s.retainUntilMs);
        const listed = await store.listSessions(uid);
        expect(listed.map((x) => x.tokenHash).sort()).toEqual([tokenHash, second.tokenHash].sort());
      }
    });

    it('names a new session by 20 characters of its hash, and returns the whole hash', async () => {
      const t = Date.now();
      const tokenHash = newTokenHash();
      const session = {
        tokenHash,
        uid: 'new',
        deviceFlag: 1,
        issuedAtMs: t,
        expiresAtMs: t + MINUTE_MS,
        retainUntilMs: t + 2 * MINUTE_MS,
      };
      await store.putSession(session);
      const key = layout.session(tokenHash);
      expect(key).toBe(`${prefix}{s:${tokenHash.slice(0, 20)}}`);
      expect(await host.command(['EXISTS', key])).toBe(1);
      expect(await host.command(['EXISTS', `${prefix}{s:${tokenHash}}`])).toBe(0);
      expect(await store.getSession(tokenHash)).toEqual(session);
      expect((await store.listSessions('new')).map((s) => s.tokenHash)).toEqual([tokenHash]);
      // A token hash of another shape keeps its whole key (escaped).
      expect(layout.session('x}y')).toBe(`${prefix}{s:x%7dy}`);
      expect(layout.sessionBeforeShortKeys('x}y')).toBeUndefined();
    });

    it('reads, lists, touches and revokes a session under the key of its whole hash', async () => {
      const t = Date.now();
      const { session, oldKey } = await writeOldSession('old-one', t);
      const { tokenHash } = session;
      expect(await store.getSession(tokenHash)).toEqual(session);
      expect(await store.listSessions('old-one')).toEqual([session]);
      expect((await store.getUser('old-one'))?.devices[1]).toEqual({
        lastIssuedAtMs: t,
        expiresAtMs: t + 10 * MINUTE_MS,
      });
      await store.touchSessions([{ tokenHash, atMs: t + 3 }]);
      expect(await store.getSession(tokenHash)).toEqual({ ...session, lastSeenAtMs: t + 3 });
      expect(await store.revokeSession(tokenHash, t + 5)).toEqual({ ...session, lastSeenAtMs: t + 3 });
      const revoked = { ...session, lastSeenAtMs: t + 3, revokedAtMs: t + 5 };
      expect(await store.getSession(tokenHash)).toEqual(revoked);
      expect(await store.listSessions('old-one')).toEqual([revoked]);
      // Revoking twice keeps the first time; nothing was written under the short key.
      expect(await store.revokeSession(tokenHash, t + 9)).toEqual(revoked);
      expect(await host.command(['EXISTS', layout.session(tokenHash)])).toBe(0);
      expect(Number(await host.command(['PTTL', oldKey]))).toBeGreaterThan(10 * MINUTE_MS);
    });

    it('moves a session to its short key when written again, leaving nothing under the old one', async () => {
      const t = Date.now();
      const { session, oldKey } = await writeOldSession('old-again', t);
      // Written again with a shorter retention: the old record must not come back after it.
      const again = { ...session, expiresAtMs: t + 2 * MINUTE_MS, retainUntilMs: t + 3 * MINUTE_MS };
      await store.putSession(again);
      expect(await host.command(['EXISTS', oldKey])).toBe(0);
      // The user's hash in the new layout too: the device in base 36, the index entry's hash as bytes.
      expect(await host.command(['HGET', layout.user('old-again').user, 'd:1'])).toBe(
        `${b36(t)}:${b36(session.expiresAtMs)}`,
      );
      expect(await indexEntry('old-again')).toEqual([
        `${b36(again.retainUntilMs)}:`,
        hexOf(session.tokenHash),
      ]);
      expect(await store.getSession(session.tokenHash)).toEqual(again);
      expect(await store.listSessions('old-again')).toEqual([again]);
      // A second session of the user: the old entry moves to the sorted set, both listed.
      const second = { ...session, tokenHash: newTokenHash(), issuedAtMs: t + 1 };
      await store.putSession(second);
      const listed = await store.listSessions('old-again');
      expect(listed.map((s) => s.tokenHash).sort()).toEqual([session.tokenHash, second.tokenHash].sort());
    });

    it('lists sessions of both layouts together once the index is a sorted set', async () => {
      const t = Date.now();
      const { session } = await writeOldSession('mixed', t);
      const fresh = { ...session, tokenHash: newTokenHash(), issuedAtMs: t + 1 };
      await store.putSession(fresh);
      const listed = await store.listSessions('mixed');
      expect(listed.map((s) => s.tokenHash).sort()).toEqual([session.tokenHash, fresh.tokenHash].sort());
      expect(listed.find((s) => s.tokenHash === session.tokenHash)).toEqual(session);
    });

    it('with sessionsUnderWholeHash false, neither reads nor deletes the key of the whole hash', async () => {
      const t = Date.now();
      const { session, oldKey } = await writeOldSession('migrated', t);
      const migrated = new RedisStore({ client: host.client, prefix, sessionsUnderWholeHash: false });
      try {
        // Not looked for under the whole hash (the default store finds it there: above).
        expect(await migrated.getSession(session.tokenHash)).toBeUndefined();
        expect(await migrated.listSessions('migrated')).toEqual([]);
        const fresh = { ...session, tokenHash: newTokenHash() };
        await migrated.putSession(fresh);
        expect(await migrated.getSession(fresh.tokenHash)).toEqual(fresh);
        await migrated.putSession({ ...session, issuedAtMs: t + 1 });
        expect(await host.command(['EXISTS', oldKey])).toBe(1);
      } finally {
        await migrated.close();
      }
      expect(() => new RedisStore({ client: host.client, sessionsUnderWholeHash: 'no' as never })).toThrow(
        'RedisStore: sessionsUnderWholeHash must be true or false',
      );
    });
  });
}

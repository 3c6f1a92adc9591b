import { type SessionRecord, StoreCorruptError } from '@evict/core';
import type { RegistryContext } from './connection-registry.js';
import type { KeyLayout } from './keys.js';
import { GRACE_MS, type LuaScript, runScript } from './lua-script.js';
import { decodeSession, encodeSession } from './records.js';
import type { RedisCommands } from './redis-commands.js';

/**
 * The sessions' own keys, for `RedisStore`: where a session's record lives (the key of the first 20
 * characters of its token hash, or, for one written before that, the key of the whole hash: see
 * `keys.ts`), and its reads, writes and scripts. Every record read carries the whole hash asked for.
 */
export class SessionKeys {
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #context: RegistryContext;

  constructor(context: RegistryContext) {
    this.#commands = context.commands;
    this.#keys = context.keys;
    this.#context = context;
  }

  /** The session's record (after its user's side): written until its retention, or deleted past it. */
  async write(session: SessionRecord, nowMs: number, governed = session.governed === true): Promise<void> {
    const key = this.#keys.session(session.tokenHash);
    // A record under the key of the whole hash (written before the short keys) goes, in the same
    // round trip: left behind, it would come back once the new record's retention passed.
    const before = this.#keys.sessionBeforeShortKeys(session.tokenHash);
    const dropBefore = before === undefined ? undefined : this.#commands.command(['DEL', before], before);
    if (session.retainUntilMs <= nowMs) {
      await Promise.all([this.#commands.command(['DEL', key], key), dropBefore]);
      return;
    }
    const ttlMs = Math.ceil(session.retainUntilMs - nowMs) + GRACE_MS;
    await Promise.all([
      this.#commands.command(['SET', key, encodeSession(session, governed), 'PX', String(ttlMs)], key),
      dropBefore,
    ]);
  }

  /** The session on file, until its retention: one GET; on a miss, one more under the whole hash. */
  async read(tokenHash: string): Promise<SessionRecord | undefined> {
    let key = this.#keys.session(tokenHash);
    let raw = await this.#commands.command(['GET', key], key);
    const before = isMissing(raw) ? this.#keys.sessionBeforeShortKeys(tokenHash) : undefined;
    if (before !== undefined) {
      key = before;
      raw = await this.#commands.command(['GET', key], key);
    }
    return this.#retained(key, tokenHash, raw, this.#context.clock.nowMs());
  }

  /**
   * `read` of each: one MGET on one Redis (and one more for those missing that may be under their
   * whole hash); on a cluster, where each session lives in a slot of its own and MGET cannot span
   * slots, one `read` each, sent together.
   */
  async readAll(hashes: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    if (this.#context.cluster || hashes.length === 0)
      return Promise.all(hashes.map((hash) => this.read(hash)));
    const keys = hashes.map((hash) => this.#keys.session(hash));
    const raws = await this.#mget(keys);
    const missing: number[] = [];
    for (let i = 0; i < raws.length; i += 1) {
      const before = isMissing(raws[i]) ? this.#keys.sessionBeforeShortKeys(hashes[i]!) : undefined;
      if (before !== undefined) {
        missing.push(i);
        keys[i] = before;
      }
    }
    if (missing.length > 0) {
      const found = await this.#mget(missing.map((i) => keys[i]!));
      missing.forEach((i, j) => {
        raws[i] = found[j];
      });
    }
    const now = this.#context.clock.nowMs();
    return raws.map((raw, i) => this.#retained(keys[i]!, hashes[i]!, raw, now));
  }

  /**
   * Runs a script on the session's key (KEYS[1]), which replies nothing (a Lua false) when there is
   * no such key; then, for a session written before the short keys, on the key of its whole hash.
   * Returns the key it ran on last and the reply from there (0 for nothing).
   */
  async run(tokenHash: string, script: LuaScript, args: string[]): Promise<{ key: string; reply: unknown }> {
    let key = this.#keys.session(tokenHash);
    let reply = await runScript(this.#commands, script, [key], args);
    const before = isMissing(reply) ? this.#keys.sessionBeforeShortKeys(tokenHash) : undefined;
    if (before !== undefined) {
      key = before;
      reply = await runScript(this.#commands, script, [key], args);
    }
    return { key, reply: isMissing(reply) ? 0 : reply };
  }

  /** A session as read (GET's reply), unless there is none or its retention has passed. */
  #retained(key: string, tokenHash: string, raw: unknown, nowMs: number): SessionRecord | undefined {
    if (isMissing(raw)) return undefined;
    const session = decodeSession(key, tokenHash, raw);
    return session.retainUntilMs <= nowMs ? undefined : session;
  }

  async #mget(keys: string[]): Promise<unknown[]> {
    const raws = await this.#commands.command(['MGET', ...keys], keys[0]);
    if (!Array.isArray(raws) || raws.length !== keys.length)
      throw new StoreCorruptError('unexpected reply from Redis for MGET of sessions');
    return raws;
  }
}

/** No reply: a missing key's nil, or a Lua false (nil in RESP2, false or null in RESP3). */
function isMissing(reply: unknown): boolean {
  return reply === null || reply === undefined || reply === false;
}

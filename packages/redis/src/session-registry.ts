import {
  type Admission,
  type AdmissionOutcome,
  type AdmissionRequest,
  type Clock,
  readAllPages,
  type ScanPage,
  type SessionRecord,
  StoreCorruptError,
} from '@evict/core';
import type { ClusterChannel } from './cluster-channel.js';
import type { RegistryContext } from './connection-registry.js';
import { type KeyLayout, userKeyList } from './keys.js';
import { runScript } from './lua-script.js';
import { admissionField, decodeAdmission, decodeSession } from './records.js';
import type { RedisCommands } from './redis-commands.js';
import type { Replication } from './replication.js';
import { scanReply, stringList, text } from './replies.js';
import { SessionKeys } from './session-keys.js';
import {
  ADMIT_SESSION,
  INDEXED_SESSION,
  RECORD_SESSION,
  REVOKE_SESSION,
  TOUCH_SESSION,
} from './session-scripts.js';

/** What a scan asks Redis for a page (`COUNT`): every reply of a listing stays about this size. */
const SCAN_COUNT = 500;

/** The arguments the scripts that record a session on its user share (session-scripts.ts, RECORD). */
function recordArgs(session: SessionRecord, now: number): string[] {
  const { deviceFlag, issuedAtMs, expiresAtMs, tokenHash, retainUntilMs } = session;
  return [
    String(now),
    String(deviceFlag),
    String(issuedAtMs),
    String(expiresAtMs),
    tokenHash,
    String(retainUntilMs),
  ];
}

/**
 * The sessions, for `RedisStore`: each on its user's side (device record, session index and
 * admissions, by the scripts of `session-scripts.ts`) and under its own key (`SessionKeys`), with
 * their admission, listing, touches and revocation.
 */
export class SessionRegistry {
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #clock: Clock;
  readonly #cluster: boolean;
  /** The sessions' own keys. */
  readonly #sessions: SessionKeys;
  readonly #replication: Replication;
  /** Where a cluster announces the sessions an admission pushed out (on one Redis its script does). */
  readonly #channel: ClusterChannel;

  constructor(context: RegistryContext, replication: Replication, channel: ClusterChannel) {
    this.#commands = context.commands;
    this.#keys = context.keys;
    this.#clock = context.clock;
    this.#cluster = context.cluster;
    this.#sessions = new SessionKeys(context);
    this.#replication = replication;
    this.#channel = channel;
  }

  async putSession(session: SessionRecord): Promise<void> {
    const now = this.#clock.nowMs();
    // The user's side first (device record and session index), then the session: a failure between
    // the two leaves a device marked with no session behind it (harmless, it expires), never a usable
    // session that the user's records do not know of (a device quit would miss it). The two live in
    // different slots, so one script cannot write both on a cluster.
    await runScript(
      this.#commands,
      RECORD_SESSION,
      userKeyList(this.#keys.user(session.uid)),
      recordArgs(session, now),
    );
    await this.#sessions.write(session, now);
  }

  async admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome> {
    const drops = this.#commands.connectionDrops();
    const now = this.#clock.nowMs();
    // The user's side decides and writes in one script; the session follows, as putSession's does.
    // A login may come through here each time: its arguments and reply are built without copies.
    const args = recordArgs(session, now);
    args.push(
      request.deviceClass,
      request.classLimit === undefined ? '' : String(request.classLimit),
      request.userLimit === undefined ? '' : String(request.userLimit),
      request.refuse ? '1' : '0',
    );
    // One Redis: announced by the script (a cluster publishes through its routing key, after).
    if (this.#cluster) args.push('', '', '');
    else args.push(this.#keys.channel, session.uid, String(request.fromNodeId));
    const userKeys = this.#keys.user(session.uid);
    const reply = stringList(
      await runScript(this.#commands, ADMIT_SESSION, userKeyList(userKeys), args),
      'admitSession',
    );
    const key = userKeys.user;
    if (reply.length % 2 === 0) throw new StoreCorruptError('unexpected reply from Redis for admitSession');
    const named: Admission[] = [];
    for (let i = 1; i < reply.length; i += 2) named.push(decodeAdmission(key, reply[i]!, reply[i + 1]!));
    if (reply[0] === 'full') return { admitted: false, full: named };
    if (reply[0] !== 'admitted') throw new StoreCorruptError('unexpected reply from Redis for admitSession');
    await this.#sessions.write(session, now, true);
    if (this.#cluster) {
      await Promise.all(
        named.map(({ tokenHash }) =>
          this.#channel.publish({
            type: 'revoked',
            uid: session.uid,
            tokenHash,
            replaced: true,
            fromNodeId: request.fromNodeId,
          }),
        ),
      );
    }
    // Sessions pushed out are rejected from now on, a revocation as durable as a kick's; announced
    // first, as a kick is.
    if (named.length > 0 && this.#replication.wanted !== undefined)
      await this.#replication.replicated(drops, key, this.#keys.session(session.tokenHash));
    return { admitted: true, replaced: named };
  }

  async dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void> {
    if (tokenHashes.length === 0) return;
    // A field per admission (see `keys.ts`): taking one off is a plain HDEL, atomic on its own.
    const key = this.#keys.user(uid).user;
    await this.#commands.command(['HDEL', key, ...tokenHashes.map(admissionField)], key);
  }

  getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#sessions.read(tokenHash);
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    // A page at a time: a user holding 100,000 sessions is never one reply.
    return readAllPages(
      (cursor) => this.scanSessions(uid, cursor, SCAN_COUNT),
      (session) => session.tokenHash,
    );
  }

  async scanSessions(
    uid: string,
    cursor: string | undefined,
    count: number,
  ): Promise<ScanPage<SessionRecord>> {
    const now = this.#clock.nowMs();
    const keys = this.#keys.user(uid);
    const key = keys.sessions;
    const hashes: string[] = [];
    if (cursor === undefined) {
      // The first page also reads the entry the user's hash holds (its one session, see `keys.ts`),
      // before the sorted set: an entry that moves between the two meanwhile is in the set by then.
      const indexed = text(
        await runScript(this.#commands, INDEXED_SESSION, userKeyList(keys), [String(now)]),
      );
      if (indexed !== undefined) hashes.push(indexed);
    }
    const reply = scanReply(
      await this.#commands.command(['ZSCAN', key, cursor ?? '0', 'COUNT', String(count)], key),
      key,
    );
    // Scored by retainUntilMs: an entry whose retention has passed is left for the next write's pruning.
    for (let i = 0; i + 1 < reply.entries.length; i += 2) {
      if (Number(reply.entries[i + 1]) > now) hashes.push(reply.entries[i]!);
    }
    const found = await this.#sessions.readAll(hashes);
    // An entry whose session is missing is skipped, not removed: it may be a putSession between its two writes.
    const items = found.filter(
      (s): s is SessionRecord => s !== undefined && s.uid === uid && s.retainUntilMs > now,
    );
    return { items, cursor: reply.cursor };
  }

  async touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void> {
    const now = String(this.#clock.nowMs());
    // Each session in its own slot: one script each, sent together.
    await Promise.all(
      touches.map(({ tokenHash, atMs }) =>
        this.#sessions.run(tokenHash, TOUCH_SESSION, [now, String(Math.floor(atMs))]),
      ),
    );
  }

  async revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    const drops = this.#commands.connectionDrops();
    const now = String(this.#clock.nowMs());
    const { key, reply } = await this.#sessions.run(tokenHash, REVOKE_SESSION, [now, String(atMs)]);
    // Also when it was revoked already: a retry after EVICT_STORE_NOT_REPLICATED waits again.
    await this.#replication.replicated(drops, key);
    // 0: on file past its retention.
    return reply === 0 ? undefined : decodeSession(key, tokenHash, reply);
  }
}

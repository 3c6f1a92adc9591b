import { type Clock, systemClock } from '../clock.js';
import { MemoryStore } from '../memory-store.js';
import { definedOptions } from '../options.js';
import type { EvictStore } from '../store.js';
import { isPositiveSafeInteger } from '../validation.js';
import { type LoginPolicy, type LoginPolicyPreset, parseLoginPolicy } from './login-policy.js';

export const DAY_MS = 24 * 60 * 60 * 1000;
/** Assigned connIds are `nodeId × CONN_IDS_PER_NODE + n`: unique in the cluster. */
export const CONN_IDS_PER_NODE = 1_000_000_000;
/** The largest nodeId whose assigned connIds stay safe integers. */
const MAX_NODE_ID = Math.floor(Number.MAX_SAFE_INTEGER / CONN_IDS_PER_NODE) - 1;
/** How long an expired session stays on file, so that its check answers `expired` rather than `unknown`. */
export const EXPIRED_SESSION_RETENTION_MS = DAY_MS;

export interface EvictOptions {
  /** Where state lives. Default: a new `MemoryStore` (one process). */
  store?: EvictStore;
  /** This node's id in the cluster, a positive integer (WuKongIM's `node_id`). Default 1. */
  nodeId?: number;
  /** Source of "now". Default: the system clock. */
  clock?: Clock;
  /** Lifetime of the sessions evict issues. Default 30 days. */
  sessionTtlMs?: number;
  /**
   * The longest lifetime of any credential the app accepts (sessions, JWTs, UserSigs). Kick records
   * are kept this long, and a stateless credential issued longer ago than this is rejected as
   * `expired`, since evict no longer remembers what could revoke it. Default 180 days (Tencent's
   * usual UserSig lifetime).
   */
  maxCredentialLifetimeMs?: number;
  /** A store call that takes longer fails with `EVICT_STORE_TIMEOUT`. Default 2 000. */
  storeTimeoutMs?: number;
  /**
   * When the store cannot be read, accept stateless credentials that are otherwise valid instead of
   * rejecting them. Session tokens are always rejected then: without the store evict cannot know
   * whose they are. Default false (fail closed).
   */
  failOpen?: boolean;
  /** A connection's record expires this long after its node's last heartbeat. Default 60 000. */
  connectionTtlMs?: number;
  /**
   * How long a connection kicked with `kickConnection` (WuKongIM's `/conn/kick`) is given between
   * being told and being closed (`ConnectionCloseInfo.graceMs`). Default 2 000, WuKongIM's; 0 closes
   * at once.
   */
  connectionKickGraceMs?: number;
  /**
   * Sessions' last-seen times are kept this coarsely: a session the guard accepts is written at
   * most once per this many milliseconds by a node, in batches, never on the request's path. 0
   * turns it off. Default 300 000 (5 minutes).
   */
  lastSeenResolutionMs?: number;
  /**
   * Decides whether a user exists for the admin endpoints (404 / 70107), for hosts that keep their
   * own user table. Default: a user exists while evict has anything on file for them.
   */
  userExists?: (uid: string) => boolean | Promise<boolean>;
  /**
   * How many session and user records the guard keeps in memory (least recently used dropped
   * first), so that a check costs no store round trip. Revocations drop the entries they change, on
   * this node at once and on the others when the cluster's message arrives. 0 turns the cache off.
   * Default 100 000.
   */
  cacheSize?: number;
  /**
   * How many sessions a user may hold per class of device, and what a login past that does (push
   * the oldest out, `replaced`; or be refused, `EVICT_LOGIN_REFUSED`): a `LoginPolicy` or a preset
   * name (`openim:1`, `tencent:multi`, …). Enforced atomically in the store by `issueSession` and
   * `registerSession` (each call may override it). Default: none.
   */
  loginPolicy?: LoginPolicy | LoginPolicyPreset;
}

export type ResolvedOptions = Required<Omit<EvictOptions, 'userExists' | 'loginPolicy'>> & {
  userExists: EvictOptions['userExists'];
  loginPolicy: LoginPolicy | undefined;
};

const KNOWN_OPTIONS: readonly (keyof EvictOptions)[] = [
  'store',
  'nodeId',
  'clock',
  'sessionTtlMs',
  'maxCredentialLifetimeMs',
  'storeTimeoutMs',
  'failOpen',
  'connectionTtlMs',
  'connectionKickGraceMs',
  'lastSeenResolutionMs',
  'userExists',
  'cacheSize',
  'loginPolicy',
];

const POSITIVE_INTEGERS = [
  'nodeId',
  'sessionTtlMs',
  'maxCredentialLifetimeMs',
  'storeTimeoutMs',
  'connectionTtlMs',
] as const;

export function parseEvictOptions(options: EvictOptions): ResolvedOptions {
  const defined = definedOptions(options, KNOWN_OPTIONS, 'evict');
  const clock = defined.clock ?? systemClock;
  const resolved: ResolvedOptions = {
    store: defined.store ?? new MemoryStore({ clock }),
    nodeId: defined.nodeId ?? 1,
    clock,
    sessionTtlMs: defined.sessionTtlMs ?? 30 * DAY_MS,
    maxCredentialLifetimeMs: defined.maxCredentialLifetimeMs ?? 180 * DAY_MS,
    storeTimeoutMs: defined.storeTimeoutMs ?? 2_000,
    failOpen: defined.failOpen ?? false,
    connectionTtlMs: defined.connectionTtlMs ?? 60_000,
    connectionKickGraceMs: defined.connectionKickGraceMs ?? 2_000,
    lastSeenResolutionMs: defined.lastSeenResolutionMs ?? 5 * 60_000,
    userExists: defined.userExists,
    cacheSize: defined.cacheSize ?? 100_000,
    loginPolicy: parseLoginPolicy(defined.loginPolicy),
  };
  for (const name of POSITIVE_INTEGERS) {
    if (!isPositiveSafeInteger(resolved[name]))
      throw new TypeError(`evict: ${name} must be a positive integer`);
  }
  if (!Number.isSafeInteger(resolved.connectionKickGraceMs) || resolved.connectionKickGraceMs < 0)
    throw new TypeError('evict: connectionKickGraceMs must be a non-negative integer of milliseconds');
  if (!Number.isSafeInteger(resolved.lastSeenResolutionMs) || resolved.lastSeenResolutionMs < 0)
    throw new TypeError(
      'evict: lastSeenResolutionMs must be a non-negative integer of milliseconds (0 turns it off)',
    );
  if (!Number.isSafeInteger(resolved.cacheSize) || resolved.cacheSize < 0)
    throw new TypeError('evict: cacheSize must be a non-negative integer (0 turns the cache off)');
  if (resolved.nodeId > MAX_NODE_ID) throw new TypeError(`evict: nodeId must be at most ${MAX_NODE_ID}`);
  if (resolved.sessionTtlMs > resolved.maxCredentialLifetimeMs) {
    throw new TypeError('evict: sessionTtlMs must not exceed maxCredentialLifetimeMs');
  }
  if (typeof resolved.failOpen !== 'boolean') throw new TypeError('evict: failOpen must be a boolean');
  if (typeof resolved.clock?.nowMs !== 'function')
    throw new TypeError('evict: clock must have a nowMs() method');
  if (resolved.userExists !== undefined && typeof resolved.userExists !== 'function') {
    throw new TypeError('evict: userExists must be a function');
  }
  return resolved;
}

/**
 * Login policies: how many sessions a user may hold per class of device, and what a login past the
 * limit does (pushes the oldest out, or is refused). The engine turns a policy into one
 * `AdmissionRequest` per login; the store applies it atomically (`EvictStore.admitSession`) with
 * `admit` below, which the Redis store's script mirrors.
 */
import type { Admission } from '../model.js';

/** Past a limit: the oldest sessions are pushed out (`replaced`, newest wins), or the new login is refused. */
export type OverLimit = 'revoke-oldest' | 'refuse-new';

export interface LoginPolicy {
  /** Device flag → class. A flag not listed is in `defaultClass`, or in a class of its own (`flag:<n>`). */
  classes?: Readonly<Record<number, string>>;
  defaultClass?: string;
  /** How many live sessions each class may hold (`classLimits` overrides it per class); none: no limit. */
  perClass?: number;
  classLimits?: Readonly<Record<string, number>>;
  /** How many live sessions the user may hold in all governed classes together; none: no limit. */
  perUser?: number;
  /** Classes the policy leaves alone: their sessions are never pushed out, never push out, never count. */
  exempt?: readonly string[];
  /** Default `revoke-oldest`. */
  onExceed?: OverLimit;
}

/**
 * The presets, named after what they reproduce (docs/engine.md cites the sources):
 * - `openim:0` … `openim:5`: OpenIM's `multiLogin.policy` (device flags read as OpenIM platform ids:
 *   1 iOS, 2 Android, 3 Windows, 4 OSX, 5 Web, 6 MiniWeb, 7 Linux, 8 AndroidPad, 9 iPad, 10 Admin,
 *   11 HarmonyOS);
 * - `tencent:*`: Tencent Cloud IM's multi-device login policies over evict's device flags (0 app,
 *   1 web, 2 desktop), with its cap on concurrent web instances.
 */
export const LOGIN_POLICY_PRESETS = [
  'openim:0',
  'openim:1',
  'openim:4',
  'openim:5',
  'tencent:single',
  'tencent:dual',
  'tencent:triple',
  'tencent:multi',
] as const;
export type LoginPolicyPreset = (typeof LOGIN_POLICY_PRESETS)[number];

export interface PresetOptions {
  /** The limit per class (OpenIM's `maxNumOneEnd` for `openim:0`, 30 by default; 1 for the others). */
  maxPerClass?: number;
  /** Tencent's cap on concurrent web instances (1 by default; up to 10 in its paid editions). */
  webInstances?: number;
}

/** OpenIM's platform classes for `AllLoginButSameClassKick` (protocol `constant/platform_id_to_name.go`). */
const OPENIM_CLASSES: Readonly<Record<number, string>> = {
  1: 'mobile',
  2: 'mobile',
  3: 'pc',
  4: 'pc',
  7: 'pc',
  8: 'pad',
  9: 'pad',
  5: 'web',
  6: 'miniweb',
  10: 'admin',
  11: 'harmony',
};

/** A preset as a policy. */
export function loginPolicyPreset(preset: LoginPolicyPreset, options: PresetOptions = {}): LoginPolicy {
  const one = options.maxPerClass ?? 1;
  const web = { web: options.webInstances ?? 1 };
  switch (preset) {
    case 'openim:0':
      // DefalutNotKick: no kick by platform, at most maxNumOneEnd tokens per platform, oldest out.
      return { perClass: options.maxPerClass ?? 30 };
    case 'openim:1':
      // AllLoginButSameTermKick (OpenIM's default): a login kicks the other sessions of its platform.
      return { perClass: one };
    case 'openim:4':
      // AllLoginButSameClassKick: a login kicks the other sessions of its platform class.
      return { classes: OPENIM_CLASSES, perClass: one };
    case 'openim:5':
      // PCAndOther: PCs never kick nor are kicked; one non-PC session at a time.
      return { classes: { 3: 'pc', 4: 'pc', 7: 'pc' }, defaultClass: 'other', exempt: ['pc'], perClass: one };
    case 'tencent:single':
      // One terminal in all.
      return { defaultClass: 'any', perClass: one };
    case 'tencent:dual':
      // One app-or-desktop terminal, and the web.
      return { classes: { 1: 'web' }, defaultClass: 'native', perClass: one, classLimits: web };
    case 'tencent:triple':
      // One app, one desktop, and the web.
      return { classes: { 0: 'mobile', 1: 'web', 2: 'desktop' }, perClass: one, classLimits: web };
    case 'tencent:multi':
      // Every platform at once, one terminal each (Tencent's default), the web capped.
      return { classes: { 1: 'web' }, perClass: one, classLimits: web };
  }
}

/** What a store needs to admit one login (`EvictStore.admitSession`). */
export interface AdmissionRequest {
  /** The new session's class. */
  deviceClass: string;
  /** How many live sessions its class may hold, the new one included; none: no limit. */
  classLimit?: number;
  /** How many live governed sessions the user may hold, the new one included; none: no limit. */
  userLimit?: number;
  /** Past a limit, refuse the new session (write nothing) rather than push the oldest out. */
  refuse: boolean;
  /**
   * The node admitting it: for each session pushed out, the store publishes `{ type: 'revoked',
   * uid, tokenHash, replaced: true, fromNodeId }` (in the same step where it can: one Redis).
   */
  fromNodeId: number;
}

/** What an admission did: the sessions it pushed out, or, refused, those that fill the limit. */
export type AdmissionOutcome =
  | { admitted: true; replaced: Admission[] }
  | { admitted: false; full: Admission[] };

const CLASS_NAME = /^[A-Za-z0-9:_.-]{1,64}$/;
const isLimit = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;

/** A policy checked (`TypeError` for a bad one), a preset name resolved; undefined for none. */
export function parseLoginPolicy(
  policy: LoginPolicy | LoginPolicyPreset | null | undefined,
): LoginPolicy | undefined {
  if (policy === null || policy === undefined) return undefined;
  if (typeof policy === 'string') {
    if (!LOGIN_POLICY_PRESETS.includes(policy))
      throw new TypeError(`loginPolicy must be a policy or one of ${LOGIN_POLICY_PRESETS.join(', ')}`);
    return loginPolicyPreset(policy);
  }
  if (typeof policy !== 'object') throw new TypeError('loginPolicy must be an object or a preset name');
  const names = [
    ...Object.values(policy.classes ?? {}),
    ...(policy.defaultClass === undefined ? [] : [policy.defaultClass]),
    ...Object.keys(policy.classLimits ?? {}),
    ...(policy.exempt ?? []),
  ];
  for (const name of names)
    if (typeof name !== 'string' || !CLASS_NAME.test(name))
      throw new TypeError(
        `a device class must be 1 to 64 of A-Z a-z 0-9 : _ . - (got ${JSON.stringify(name)})`,
      );
  for (const flag of Object.keys(policy.classes ?? {}))
    if (!/^\d{1,9}$/.test(flag)) throw new TypeError(`classes: ${JSON.stringify(flag)} is not a device flag`);
  for (const limit of [policy.perClass, policy.perUser, ...Object.values(policy.classLimits ?? {})])
    if (limit !== undefined && !isLimit(limit))
      throw new TypeError('a session limit must be a positive integer');
  if (
    policy.onExceed !== undefined &&
    policy.onExceed !== 'revoke-oldest' &&
    policy.onExceed !== 'refuse-new'
  )
    throw new TypeError('onExceed must be "revoke-oldest" or "refuse-new"');
  return policy;
}

/** The class of a device flag under a policy. */
export function deviceClassOf(policy: LoginPolicy, deviceFlag: number): string {
  return policy.classes?.[deviceFlag] ?? policy.defaultClass ?? `flag:${deviceFlag}`;
}

/** The store's request for a login of `deviceFlag`, or undefined when the policy leaves it alone. */
export function admissionRequestOf(
  policy: LoginPolicy,
  deviceFlag: number,
  fromNodeId: number,
): AdmissionRequest | undefined {
  const deviceClass = deviceClassOf(policy, deviceFlag);
  if (policy.exempt?.includes(deviceClass)) return undefined;
  const classLimit = policy.classLimits?.[deviceClass] ?? policy.perClass;
  if (classLimit === undefined && policy.perUser === undefined) return undefined;
  return {
    deviceClass,
    ...(classLimit === undefined ? {} : { classLimit }),
    ...(policy.perUser === undefined ? {} : { userLimit: policy.perUser }),
    refuse: policy.onExceed === 'refuse-new',
    fromNodeId,
  };
}

/** Oldest first: by issue time, then by token hash (as the Redis script orders them). */
export function byAge(a: Admission, b: Admission): number {
  return a.issuedAtMs - b.issuedAtMs || (a.tokenHash < b.tokenHash ? -1 : a.tokenHash > b.tokenHash ? 1 : 0);
}

/**
 * The rule every store applies in one atomic step: the admissions on file that still count
 * (`counts`: live, and issued after every cutoff that applies to them), less the candidate's own
 * if it is there again; past the class limit, the oldest of its class go, then, past the user
 * limit, the oldest of all. Refused, nothing changes. `kept` is the list to write, oldest first.
 */
export function admit(
  onFile: readonly Admission[],
  candidate: Admission,
  request: AdmissionRequest,
  counts: (admission: Admission) => boolean,
): { outcome: AdmissionOutcome; kept: Admission[] } {
  const standing = onFile.filter((a) => a.tokenHash !== candidate.tokenHash && counts(a)).sort(byAge);
  const out = new Set<Admission>();
  if (request.classLimit !== undefined) {
    const same = standing.filter((a) => a.deviceClass === request.deviceClass);
    for (const a of same.slice(0, Math.max(0, same.length + 1 - request.classLimit))) out.add(a);
  }
  if (request.userLimit !== undefined) {
    const rest = standing.filter((a) => !out.has(a));
    for (const a of rest.slice(0, Math.max(0, rest.length + 1 - request.userLimit))) out.add(a);
  }
  const pushed = standing.filter((a) => out.has(a));
  if (pushed.length > 0 && request.refuse)
    return { outcome: { admitted: false, full: pushed }, kept: standing };
  const kept = [...standing.filter((a) => !out.has(a)), candidate].sort(byAge);
  return { outcome: { admitted: true, replaced: pushed }, kept };
}

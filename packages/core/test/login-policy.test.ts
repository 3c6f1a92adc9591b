import {
  type ConnectionCloseInfo,
  createEvict,
  type Evict,
  isEvictError,
  type LoginPolicy,
  type LoginPolicyPreset,
  loginPolicyPreset,
  MemoryStore,
  type RevocationEvent,
} from '@evict/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

function cluster(loginPolicy?: LoginPolicy | LoginPolicyPreset) {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const one = createEvict({ store, clock, nodeId: 1, ...(loginPolicy === undefined ? {} : { loginPolicy }) });
  const two = createEvict({ store, clock, nodeId: 2, ...(loginPolicy === undefined ? {} : { loginPolicy }) });
  opened.push(store, one, two);
  return { clock, store, one, two };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Logs in on each device flag in turn, a millisecond apart; returns which logins are still live. */
async function liveAfter(engine: Evict, clock: ManualClock, flags: readonly number[]): Promise<boolean[]> {
  const tokens: string[] = [];
  for (const deviceFlag of flags) {
    tokens.push((await engine.issueSession({ uid: 'anna', deviceFlag })).token);
    clock.advance(1);
  }
  return Promise.all(tokens.map(async (token) => (await engine.check({ type: 'session', token })).ok));
}

describe('login policy presets, each as its source states it', () => {
  // Each row: the preset, the device flags logged in one after the other, which stay live.
  const rows: [LoginPolicyPreset, number[], boolean[], string][] = [
    // OpenIM AllLoginButSameTermKick (open-im-server pkg/common/storage/controller/auth.go checkToken):
    // a login kicks the other tokens of the same platform id; other platforms keep theirs.
    [
      'openim:1',
      [1, 2, 1, 5],
      [false, true, true, true],
      'a second iOS login kicks the first, Android and Web stay',
    ],
    // OpenIM AllLoginButSameClassKick: iOS (1) and Android (2) are one class, Mobile; Windows (3) and OSX (4) PC.
    [
      'openim:4',
      [1, 3, 2, 4, 5],
      [false, false, true, true, true],
      'Android kicks iOS (mobile), OSX kicks Windows (PC)',
    ],
    // OpenIM PCAndOther: PC never kicks or is kicked; one non-PC session at a time.
    ['openim:5', [3, 4, 1, 5], [true, true, false, true], 'two PCs coexist, Web kicks iOS'],
    // Tencent single-platform login: one terminal in all (Login Settings, 单平台登录).
    ['tencent:single', [0, 1, 2], [false, false, true], 'each login pushes the previous one out'],
    // Tencent dual-platform: one app-or-desktop terminal plus Web (双平台登录).
    ['tencent:dual', [0, 1, 2], [false, true, true], 'desktop pushes the app out, web stays'],
    // Tencent triple-platform: one app, one desktop, one web (三平台登录).
    ['tencent:triple', [0, 1, 2, 0], [false, true, true, true], 'a second app pushes the first out only'],
    // Tencent multi-platform, its default: one terminal per platform, the web capped (1 by default).
    ['tencent:multi', [1, 1, 0], [false, true, true], 'a second web instance pushes the earliest out'],
  ];
  it.each(rows)('%s: logins on %j leave %j (%s)', async (preset, flags, live) => {
    const { clock, one } = cluster(preset);
    expect(await liveAfter(one, clock, flags)).toEqual(live);
  });

  it('openim:0 keeps at most maxNumOneEnd (30) per platform, the oldest out', async () => {
    const { clock, one } = cluster('openim:0');
    const live = await liveAfter(
      one,
      clock,
      Array.from({ length: 32 }, () => 5),
    );
    expect(live.filter(Boolean)).toHaveLength(30);
    expect(live.slice(0, 2)).toEqual([false, false]);
  });

  it('takes its options: a cap per class, and Tencent’s web instances', async () => {
    expect(loginPolicyPreset('openim:0', { maxPerClass: 3 })).toEqual({ perClass: 3 });
    const { clock, one } = cluster(loginPolicyPreset('tencent:multi', { webInstances: 2 }));
    expect(await liveAfter(one, clock, [1, 1, 1])).toEqual([false, true, true]);
  });
});

describe('a login that pushes another out', () => {
  it('rejects the older session as replaced, closes its socket on another node (4005), and says who', async () => {
    const { clock, one, two } = cluster('openim:1');
    const events: RevocationEvent[] = [];
    one.on('revocation', (event) => events.push(event));
    const first = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    // Node 2 holds the first session's socket, and has the user's record cached.
    const closes: ConnectionCloseInfo[] = [];
    await two.registerConnection({
      uid: 'anna',
      deviceFlag: 1,
      close: (info) => closes.push(info),
      credential: { type: 'session', token: first.token },
    });
    expect((await two.check({ type: 'session', token: first.token })).ok).toBe(true);
    clock.advance(1);
    const second = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    await tick();
    expect(closes).toEqual([{ code: 4005, reason: 'replaced' }]);
    for (const node of [one, two]) {
      expect(await node.check({ type: 'session', token: first.token })).toEqual({
        ok: false,
        reason: 'replaced',
        uid: 'anna',
      });
      // The newer one is live on a node that had the user cached before it existed.
      expect((await node.check({ type: 'session', token: second.token })).ok).toBe(true);
    }
    expect(events).toEqual([
      expect.objectContaining({
        action: 'replace',
        uid: 'anna',
        deviceFlag: 1,
        sessionId: first.sessionId,
        replacedBy: { sessionId: second.sessionId, deviceFlag: 1 },
        connectionsClosed: 0,
        actor: { type: 'user', id: 'anna' },
      }),
    ]);
    expect((await one.listSessions('anna')).map((s) => s.sessionId)).toEqual([second.sessionId]);
  });

  it('refuse-new fails the login with EVICT_LOGIN_REFUSED and writes nothing; a logout frees the place', async () => {
    const { clock, one } = cluster({ perClass: 1, onExceed: 'refuse-new' });
    const first = await one.issueSession({ uid: 'anna', deviceFlag: 0 });
    clock.advance(1);
    const refused = await one.issueSession({ uid: 'anna', deviceFlag: 0 }).catch((error: unknown) => error);
    expect(isEvictError(refused, 'EVICT_LOGIN_REFUSED')).toBe(true);
    expect((await one.listSessions('anna')).map((s) => s.sessionId)).toEqual([first.sessionId]);
    // Another device is its own class.
    await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    await one.logout(first.token);
    const again = await one.issueSession({ uid: 'anna', deviceFlag: 0 });
    expect((await one.check({ type: 'session', token: again.token })).ok).toBe(true);
  });

  it('a kicked device’s sessions no longer count: the next login replaces none', async () => {
    const { clock, one } = cluster({ perClass: 1, onExceed: 'refuse-new' });
    await one.issueSession({ uid: 'anna', deviceFlag: 0 });
    clock.advance(1);
    await one.kickUser('anna');
    clock.advance(1);
    const next = await one.issueSession({ uid: 'anna', deviceFlag: 0 });
    expect((await one.check({ type: 'session', token: next.token })).ok).toBe(true);
  });

  it('a login may override the engine’s policy, or go without one', async () => {
    const { clock, one } = cluster('openim:1');
    const a = await one.issueSession({ uid: 'anna', deviceFlag: 1 });
    clock.advance(1);
    await one.issueSession({ uid: 'anna', deviceFlag: 1, loginPolicy: null });
    expect((await one.check({ type: 'session', token: a.token })).ok).toBe(true);
    await expect(
      one.issueSession({ uid: 'anna', deviceFlag: 1, loginPolicy: 'nope' as never }),
    ).rejects.toThrow(TypeError);
  });

  it('50 concurrent logins of one device through two nodes leave exactly the limit live', async () => {
    const { one, two } = cluster({ perClass: 2 });
    const issued = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? one : two).issueSession({ uid: 'anna', deviceFlag: 1 }),
      ),
    );
    const live = await Promise.all(
      issued.map(async (s) => (await two.check({ type: 'session', token: s.token })).ok),
    );
    expect(live.filter(Boolean)).toHaveLength(2);
  });

  it('refuses a bad policy with a TypeError naming it', () => {
    expect(() => createEvict({ loginPolicy: { perClass: 0 } })).toThrow(/positive integer/);
    expect(() => createEvict({ loginPolicy: { classes: { 1: 'has space' } } })).toThrow(/device class/);
    expect(() => createEvict({ loginPolicy: 'openim:9' as never })).toThrow(/openim:1/);
  });
});

/**
 * 3. `check` on its own: checks per second with 10, 10 thousand and 10 million revocation records
 * on file. Runs in a child process with a large heap (ten million user records).
 */
import { childLog, childMode, runChild } from '../engine-child.js';
import {
  type BenchOptions,
  type BenchResult,
  type BenchSection,
  judgedTarget,
  median,
  relativeSpread,
} from '../report.js';

interface CheckInput {
  recordCounts: number[];
  rounds: number;
  roundMs: number;
  /** JIT warm-up on a throwaway engine: this many rounds of each credential type. */
  warmRounds: number;
  warmRoundMs: number;
}

interface CheckFigures {
  records: number;
  fillSeconds: number;
  heapMb: number;
  /** checkNow (the guards' call: synchronous while the cache answers), per round. */
  session: number[];
  stateless: number[];
  /** check, each awaited (the promise API), per round. */
  sessionAwaited: number[];
  /** A whole guard on a request with a session token (createGuard(engine).decide), per round. */
  guard: number[];
  /** hashToken alone (the SHA-256 every session check computes), per round. */
  hash: number[];
}

const DAY_MS = 86_400_000;

/** Calls `once` back to back for `ms`; returns calls per second. */
function timedSyncRound(once: () => unknown, ms: number): number {
  let calls = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i += 1) {
      // A verdict that had to wait for the store would be a promise: the cache must answer every one.
      if (once() instanceof Promise) throw new Error('a warm check went to the store');
    }
    calls += 1000;
    now = process.hrtime.bigint();
  }
  return calls / (Number(now - start) / 1e9);
}

/** Calls `once` back to back for `ms`, awaiting each; returns calls per second. */
async function timedRound(once: () => Promise<unknown>, ms: number): Promise<number> {
  let calls = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i += 1) await once();
    calls += 1000;
    now = process.hrtime.bigint();
  }
  return calls / (Number(now - start) / 1e9);
}

/**
 * The built package (packages/core/dist, what users run), not the TypeScript source: tsx's transform
 * wraps every closure in a naming helper, which would add its own cost to the hot path.
 */
async function builtCore(): Promise<typeof import('@evict/core') & typeof import('@evict/core/node')> {
  const dist = (entry: string) => new URL(`../../packages/core/dist/esm/${entry}.js`, import.meta.url).href;
  const [core, node] = await Promise.all([import(dist('index')), import(dist('node'))]);
  return { ...(core as typeof import('@evict/core')), ...(node as typeof import('@evict/core/node')) };
}

async function measure(input: CheckInput): Promise<CheckFigures[]> {
  const { createEvict, createGuard, guardRequestOf, hashToken, MemoryStore } = await builtCore();
  const out: CheckFigures[] = [];
  {
    // Warm the JIT on a throwaway engine first, so that the first record count is not the slow one.
    const engine = createEvict({ nodeId: 1 });
    const session = await engine.issueSession({ uid: 'warm', deviceFlag: 1 });
    const issuedAtSec = Math.floor(Date.now() / 1000);
    for (let i = 0; i < input.warmRounds; i += 1) {
      await timedRound(() => engine.check({ type: 'session', token: session.token }), input.warmRoundMs);
      timedSyncRound(() => engine.checkNow({ type: 'session', token: session.token }), input.warmRoundMs);
      timedSyncRound(
        () => engine.checkNow({ type: 'stateless', uid: 'warm', issuedAtSec }),
        input.warmRoundMs,
      );
    }
    await engine.close();
  }
  const setups = [];
  for (const records of input.recordCounts) {
    const store = new MemoryStore();
    const engine = createEvict({ store, nodeId: 1 });
    const fillStart = performance.now();
    const atMs = Date.now() - 1000;
    const expiresAtMs = atMs + 180 * DAY_MS;
    for (let i = 0; i < records; i += 1) {
      // Other users' kicks: a cutoff record each. The call is synchronous inside; no need to await each.
      void store.raiseCutoff(`user${records}-${i}`, null, { atMs, reason: 'kicked' }, expiresAtMs);
      if (i % 1_000_000 === 999_999) childLog(`check: ${i + 1} records on file`);
    }
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const uid = `alice${records}`;
    const session = await engine.issueSession({ uid, deviceFlag: 1 });
    const sessionCredential = { type: 'session' as const, token: session.token };
    const statelessCredential = {
      type: 'stateless' as const,
      uid,
      issuedAtSec: Math.floor(Date.now() / 1000),
    };
    // Warm: the first check fills the cache; confirm both answer ok.
    for (const credential of [sessionCredential, statelessCredential]) {
      const verdict = await engine.check(credential);
      if (!verdict.ok)
        throw new Error(`check of a live ${credential.type} credential failed: ${verdict.reason}`);
    }
    const guard = createGuard(engine);
    // What an HTTP request gives the guard: Node's lower-cased headers, the URL.
    const request = {
      url: '/hello',
      headers: { host: '127.0.0.1', 'user-agent': 'bench', accept: '*/*', token: session.token },
    };
    setups.push({
      records,
      fillSeconds,
      engine,
      store,
      sessionCredential,
      statelessCredential,
      guard,
      request,
    });
    out.push({
      records,
      fillSeconds,
      heapMb: 0,
      session: [],
      stateless: [],
      sessionAwaited: [],
      guard: [],
      hash: [],
    });
  }
  const heapMb = process.memoryUsage().heapUsed / 1e6;
  // Rounds interleaved across the record counts, so that drift (other work on the machine) spreads evenly.
  for (let r = 0; r < input.rounds; r += 1) {
    for (const [i, setup] of setups.entries()) {
      out[i]!.session.push(
        timedSyncRound(() => setup.engine.checkNow(setup.sessionCredential), input.roundMs),
      );
      out[i]!.stateless.push(
        timedSyncRound(() => setup.engine.checkNow(setup.statelessCredential), input.roundMs),
      );
      out[i]!.sessionAwaited.push(
        await timedRound(() => setup.engine.check(setup.sessionCredential), input.roundMs),
      );
      out[i]!.guard.push(
        timedSyncRound(() => setup.guard.checkNow(guardRequestOf(setup.request)), input.roundMs),
      );
      let sink = 0;
      out[i]!.hash.push(
        timedSyncRound(() => {
          sink += hashToken(setup.sessionCredential.token).length;
        }, input.roundMs),
      );
      if (sink === 0) throw new Error('no hash computed');
    }
  }
  for (const [i, setup] of setups.entries()) {
    out[i]!.heapMb = heapMb;
    childLog(
      `check: ${setup.records} records: session ${Math.round(median(out[i]!.session))}/s, stateless ${Math.round(median(out[i]!.stateless))}/s`,
    );
    await setup.engine.close();
    await setup.store.close();
  }
  return out;
}

childMode('check', measure);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export const section: BenchSection = {
  id: 'check',
  title: '3. `check` on its own',
  async run(options: BenchOptions): Promise<BenchResult> {
    const recordCounts = options.quick ? [10, 10_000, 1_000_000] : [10, 10_000, 10_000_000];
    const input: CheckInput = options.quick
      ? { recordCounts, rounds: 3, roundMs: 100, warmRounds: 2, warmRoundMs: 100 }
      : { recordCounts, rounds: 5, roundMs: 400, warmRounds: 3, warmRoundMs: 300 };
    const figures = await runChild<CheckFigures[]>({
      file: import.meta.url,
      name: 'check',
      input,
      // Ten million user records take about 3.5 GB of heap.
      heapMb: options.quick ? 2048 : 12_288,
      // A larger young generation: the fill allocates millions of objects that all survive, and the
      // default 16 MB semi-spaces make it scavenge (copy) them thousands of times; a quarter off the fill.
      nodeFlags: ['--max-semi-space-size=64'],
      log: options.log,
    });
    const rows = figures.map((f) => ({
      name: `${fmt(f.records)} records on file`,
      figures: {
        'session checks/s': Math.round(median(f.session)),
        'stateless checks/s': Math.round(median(f.stateless)),
        'session, await check()': Math.round(median(f.sessionAwaited)),
        'guard.checkNow (session)': Math.round(median(f.guard)),
        'SHA-256 of the token alone': Math.round(median(f.hash)),
      },
    }));
    const first = figures[0]!;
    const last = figures[figures.length - 1]!;
    const sessionRatio = median(last.session) / median(first.session);
    const statelessRatio = median(last.stateless) / median(first.stateless);
    const sessionRate = median(first.session);
    // A ratio of two rates moves by as much as the rounds of either rate do.
    const ratioNoise = Math.max(
      ...[first, last].flatMap((f) => [relativeSpread(f.session), relativeSpread(f.stateless)]),
    );
    const worstSession = Math.min(...figures.map((f) => median(f.session)));
    return {
      tables: [
        {
          title:
            "engine.checkNow (the guards' call), memory store, cache warm, one core, one after another; and engine.check awaited",
          columns: [
            'session checks/s',
            'stateless checks/s',
            'session, await check()',
            'guard.checkNow (session)',
            'SHA-256 of the token alone',
          ],
          rows,
        },
        {
          title: `Ratio ${fmt(last.records)} records to ${fmt(first.records)}`,
          columns: ['ratio'],
          rows: [
            { name: 'session', figures: { ratio: Number(sessionRatio.toFixed(3)) } },
            { name: 'stateless', figures: { ratio: Number(statelessRatio.toFixed(3)) } },
          ],
        },
      ],
      targets: [
        {
          target: '≥ 2 million session checks per second on one core',
          measured: `${fmt(worstSession)} per second (slowest of the record counts; ${fmt(sessionRate)} with ${fmt(first.records)} records)`,
          met: worstSession >= 2_000_000,
          ...(worstSession < 2_000_000
            ? {
                note: `the SHA-256 of the token alone runs at ${fmt(median(first.hash))} per second here (${Math.round(1e9 / median(first.hash))} ns of the ${Math.round(1e9 / sessionRate)} ns a session check takes): evict looks sessions up by the hash of the token, never by the token, so that no raw token is kept in the store or in the cache. A stateless credential (a JWT's or UserSig's uid and issue time: nothing to hash) checks at ${fmt(median(first.stateless))} per second.`,
              }
            : {}),
        },
        judgedTarget({
          target: `within 10 % between 10 and ${fmt(last.records)} records`,
          measured: `session ${fmt(last.records)}/${fmt(first.records)} = ${sessionRatio.toFixed(3)}, stateless ${statelessRatio.toFixed(3)}`,
          value: Math.max(Math.abs(1 - sessionRatio), Math.abs(1 - statelessRatio)),
          bound: 0.1,
          noise: ratioNoise,
          want: 'at most',
          noiseText: `the rounds of one record count differ by up to ${Math.round(ratioNoise * 100)} % from each other`,
          note: `${options.quick ? 'Quick mode stops at 1 million records; the full run goes to 10 million. ' : ''}A warm check reads two cache entries and no store map, whatever the number of records; ${Math.abs(1 - sessionRatio) <= 0.1 && Math.abs(1 - statelessRatio) <= 0.1 ? 'the rates agree' : 'the rates differ; this run did not profile why'}.`,
        }),
      ],
      notes: [
        `Method: one engine on a MemoryStore per record count, in a child process (heap limit raised for the largest count), on the built package (packages/core/dist, run pnpm build first). The records are kick cutoffs of other users, written with store.raiseCutoff in a tight loop (${figures.map((f) => `${fmt(f.records)} in ${f.fillSeconds.toFixed(1)} s`).join(', ')}). Then one live session for a user of its own, checked once to warm the engine's cache, and engine.checkNow called back to back (what the three adapters' guards call: it returns the verdict itself when the cache answers, which every call here must), then engine.check called back to back, each awaited (the promise API: one microtask more per call), for ${input.rounds} rounds of ${input.roundMs} ms (after ${input.warmRounds} warm-up rounds of ${input.warmRoundMs} ms per credential type on a throwaway engine); the figure is the median round. The stateless credential is { type: 'stateless', uid, issuedAtSec } for the same user.`,
        `All record counts live in one process at once (heap used ${Math.round(figures[0]!.heapMb)} MB) and their rounds are interleaved, so that other work on the machine weighs on each count alike.`,
        "With the cache warm a check reads no store at all: it hashes the token (SHA-256), finds the session and the user record in the cache, and compares the times. The number of records on file changes only the store's maps, which the check does not touch; what differences there are come from the garbage collector's work on a larger heap.",
      ],
    };
  },
};

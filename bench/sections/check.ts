/**
 * 3. `check` on its own: checks per CPU second with 10, 10 thousand and 10 million revocation records
 * on file, beside the floor of the hashed-lookup design (one SHA-256 of the token and one Map.get),
 * and the lookups the records serve (stateless checks of their users, cache off). Runs in a child
 * process with a large heap (ten million user records).
 */
import * as crypto from 'node:crypto';
import { childLog, childMode, gc, runChild } from '../engine-child.js';
import { type BenchOptions, type BenchResult, type BenchSection, median } from '../report.js';

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
  /**
   * The clock read a warm check makes (Date.now, as the engine's system clock reads it), alone, per
   * round: a part of the check beyond the floor that no cache entry can do without (an expiry needs now).
   */
  clock: number[];
  /** The floor: crypto.hash of the token as hashToken calls it, and one Map.get on a map the size of the cache. */
  floor: number[];
  /** Entries in the engine's cache while the session checks ran (the floor's map holds as many). */
  cacheEntries: number;
  /**
   * Stateless checks of the users the records belong to, each uid drawn uniformly from them, on an
   * engine with the cache off (every check reads the store's maps), each awaited, per round.
   */
  recordLookups: number[];
  /**
   * The floor of those lookups, per round: the same uid draw and one Map.get on a bare Map of as many
   * entries (keyed by the records' own uid strings), reading the found cutoff's time. What a lookup
   * in a table this size costs in any design: its growth with the count is the memory's.
   */
  recordFloor: number[];
  /** The uid draw alone (a random index, the string `user<count>-<index>` built), per round. */
  uidDraw: number[];
  /** Of those lookups, the share the cache answered (0 with the cache off: checked, not assumed). */
  recordHitRate: number;
}

const DAY_MS = 86_400_000;

/**
 * The process's CPU time in microseconds: what a round is timed by, so that the time other work on
 * the machine takes the core from this process is not counted (wall time would count it).
 */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Calls `once` back to back for `ms` of CPU time; returns calls per CPU second. */
function timedSyncRound(once: () => unknown, ms: number): number {
  let calls = 0;
  const start = cpuMicros();
  const end = start + ms * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i += 1) {
      // A verdict that had to wait for the store would be a promise: the cache must answer every one.
      if (once() instanceof Promise) throw new Error('a warm check went to the store');
    }
    calls += 1000;
    now = cpuMicros();
  }
  return calls / ((now - start) / 1e6);
}

/** Calls `once` back to back for `ms` of CPU time, awaiting each; returns calls per CPU second. */
async function timedRound(once: () => Promise<unknown>, ms: number): Promise<number> {
  let calls = 0;
  const start = cpuMicros();
  const end = start + ms * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i += 1) await once();
    calls += 1000;
    now = cpuMicros();
  }
  return calls / ((now - start) / 1e6);
}

type Verdict = 'met' | 'not met' | 'inconclusive';

/**
 * Met when every round is within the bound, not met when none is, inconclusive when the rounds
 * fall on both sides: the bound is then inside the run's own noise.
 */
function verdictOf(rounds: number[], within: (value: number) => boolean): Verdict {
  const inside = rounds.filter(within).length;
  if (inside === rounds.length) return 'met';
  return inside === 0 ? 'not met' : 'inconclusive';
}

const targetVerdict = (verdict: Verdict) =>
  verdict === 'inconclusive' ? { met: false, inconclusive: true } : { met: verdict === 'met' };

/** Per-round quotients of two series measured side by side (round r of one with round r of the other). */
const perRound = (a: number[], b: number[]) => a.map((value, r) => value / b[r]!);

const range = (values: number[]) => `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;

/** The rate target's session checks per CPU second, and the CPU time per check it allows. */
const RATE_TARGET_PER_S = 2_000_000;
const RATE_TARGET_NS = 1e9 / RATE_TARGET_PER_S;

/** What the hash alone (`hashNs` per call) leaves of the rate target's time per check: a check hashes every token. */
const hashLeaves = (hashNs: number) =>
  hashNs >= RATE_TARGET_NS
    ? `more than the ${RATE_TARGET_NS} ns a check may take at 2 million per second, so this rate is out of reach of the design on this machine`
    : `leaving ${RATE_TARGET_NS - hashNs} ns of the ${RATE_TARGET_NS} ns a check may take at 2 million per second for the rest of the check`;

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
    // The records' floor: a bare Map of the same uids (the same strings), each to its cutoff.
    const floorRecords = new Map<string, { atMs: number }>();
    for (let i = 0; i < records; i += 1) {
      // Other users' kicks: a cutoff record each. The call is synchronous inside; no need to await each.
      const recordUid = `user${records}-${i}`;
      const cutoff = { atMs, reason: 'kicked' as const };
      void store.raiseCutoff(recordUid, null, cutoff, expiresAtMs);
      floorRecords.set(recordUid, cutoff);
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
    // The floor's map holds as many entries as the cache does: the session's, its user's, and fillers.
    const cacheEntries = engine.cacheStats().entries;
    const floorMap = new Map<string, object>([
      [hashToken(session.token), {}],
      [`u:${uid}`, {}],
    ]);
    for (let k = 0; floorMap.size < cacheEntries; k += 1) floorMap.set(hashToken(`filler${k}`), {});
    // The records' own lookups: a user of theirs, drawn uniformly, checked by an engine whose cache
    // is off, so that each check reads the store's maps of this many records.
    const recordEngine = createEvict({ store, nodeId: 2, cacheSize: 0 });
    const recordIssuedAtSec = Math.floor(Date.now() / 1000);
    // A new string per lookup, as a request's credential brings one: its hash is not cached yet.
    const drawUid = () => `user${records}-${Math.floor(Math.random() * records)}`;
    const recordLookup = () =>
      recordEngine.check({ type: 'stateless', uid: drawUid(), issuedAtSec: recordIssuedAtSec });
    // Issued after the records' cutoffs: each lookup must find the record and accept.
    const sample = await recordLookup();
    if (!sample.ok) throw new Error(`a record's lookup was refused: ${sample.reason}`);
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
      floorMap,
      recordEngine,
      recordLookup,
      floorRecords,
      drawUid,
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
      clock: [],
      floor: [],
      cacheEntries,
      recordLookups: [],
      recordFloor: [],
      uidDraw: [],
      recordHitRate: 0,
    });
  }
  // One full collection after the fill, and time for its sweeping threads to finish, so that no
  // round is charged for work on a heap of millions of records that its own loop did not cause
  // (process.cpuUsage counts the GC's threads too).
  gc();
  await new Promise((done) => setTimeout(done, 5_000));
  const heapMb = process.memoryUsage().heapUsed / 1e6;
  // The records' lookups and their floor are warmed too (the throwaway engine has no records), so
  // that the first count's first round does not carry the JIT's compiling.
  for (const setup of setups) {
    await timedRound(setup.recordLookup, input.warmRoundMs);
    timedSyncRound(() => setup.floorRecords.get(setup.drawUid()), input.warmRoundMs);
  }
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
      out[i]!.clock.push(
        timedSyncRound(() => {
          sink += Date.now();
        }, input.roundMs),
      );
      if (sink === 0) throw new Error('no hash computed');
      const { floorMap } = setup;
      const token = setup.sessionCredential.token;
      let found = 0;
      out[i]!.floor.push(
        timedSyncRound(() => {
          if (floorMap.get(crypto.hash('sha256', token, 'base64url')) !== undefined) found += 1;
        }, input.roundMs),
      );
      if (found === 0) throw new Error('the floor found nothing');
      out[i]!.recordLookups.push(await timedRound(setup.recordLookup, input.roundMs));
      const { floorRecords, drawUid } = setup;
      let cutoffs = 0;
      out[i]!.recordFloor.push(
        timedSyncRound(() => {
          cutoffs += floorRecords.get(drawUid())!.atMs;
        }, input.roundMs),
      );
      let drawn = 0;
      out[i]!.uidDraw.push(
        timedSyncRound(() => {
          drawn += drawUid().length;
        }, input.roundMs),
      );
      if (cutoffs === 0 || drawn === 0) throw new Error("the records' floor read nothing");
      const f = out[i]!;
      childLog(
        `check: round ${r + 1}, ${setup.records} records: session/floor ${(f.floor[r]! / f.session[r]!).toFixed(2)}, lookups ${Math.round(f.recordLookups[r]!)}/s, floor ${Math.round(f.recordFloor[r]!)}/s`,
      );
    }
  }
  for (const [i, setup] of setups.entries()) {
    out[i]!.heapMb = heapMb;
    const { hits, misses } = setup.recordEngine.cacheStats();
    // With the cache off a lookup counts neither a hit nor a miss: a hit would show here all the same.
    out[i]!.recordHitRate = hits / Math.max(1, hits + misses);
    if (hits !== 0) throw new Error('a record lookup was answered by a cache that is off');
    childLog(
      `check: ${setup.records} records: session ${Math.round(median(out[i]!.session))}/s, stateless ${Math.round(median(out[i]!.stateless))}/s`,
    );
    await setup.engine.close();
    await setup.recordEngine.close();
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
        'floor: SHA-256 + Map.get': Math.round(median(f.floor)),
      },
    }));
    const nsOf = (rate: number) => Math.round(1e9 / rate);
    // Time per check over time per floor, round by round (a rate's inverse is a time).
    const floorRatios = figures.map((f) => perRound(f.floor, f.session));
    const allFloorRatios = floorRatios.flat();
    const floorVerdict = verdictOf(allFloorRatios, (ratio) => ratio <= 1.5);
    const first = figures[0]!;
    const last = figures[figures.length - 1]!;
    const lookupRatios = perRound(last.recordLookups, first.recordLookups);
    const lookupVerdict = verdictOf(lookupRatios, (ratio) => Math.abs(1 - ratio) <= 0.1);
    // Against the records' floor, round by round: the lookups' time at the largest count over their
    // time at the smallest plus what the floor's lookup grew by in the same round (the memory's share).
    const nsOfRounds = (rates: number[]) => rates.map((rate) => 1e9 / rate);
    const [firstLookupNs, lastLookupNs] = [nsOfRounds(first.recordLookups), nsOfRounds(last.recordLookups)];
    const [firstFloorNs, lastFloorNs] = [nsOfRounds(first.recordFloor), nsOfRounds(last.recordFloor)];
    const beyondFloor = lastLookupNs.map(
      (ns, r) => ns / (firstLookupNs[r]! + (lastFloorNs[r]! - firstFloorNs[r]!)),
    );
    const beyondFloorVerdict = verdictOf(beyondFloor, (ratio) => ratio <= 1.1);
    const sessionRatio = median(last.session) / median(first.session);
    const statelessRatio = median(last.stateless) / median(first.stateless);
    const lookupRatio = median(last.recordLookups) / median(first.recordLookups);
    const worstSession = Math.min(...figures.map((f) => median(f.session)));
    const slowest = figures.find((f) => median(f.session) === worstSession)!;
    const rateVerdict = verdictOf(slowest.session, (rate) => rate >= RATE_TARGET_PER_S);
    return {
      tables: [
        {
          title:
            "engine.checkNow (the guards' call), memory store, cache warm, one core, one after another, per CPU second; and engine.check awaited",
          columns: [
            'session checks/s',
            'stateless checks/s',
            'session, await check()',
            'guard.checkNow (session)',
            'SHA-256 of the token alone',
            'floor: SHA-256 + Map.get',
          ],
          rows,
        },
        {
          title:
            'A warm session check against the floor of the hashed-lookup design (ns per call, medians; ratio per round)',
          columns: [
            'check ns',
            'floor ns',
            'clock read ns',
            'ratio (median)',
            'ratio (rounds)',
            'cache entries',
          ],
          rows: figures.map((f, i) => ({
            name: `${fmt(f.records)} records on file`,
            figures: {
              'check ns': nsOf(median(f.session)),
              'floor ns': nsOf(median(f.floor)),
              'clock read ns': nsOf(median(f.clock)),
              'ratio (median)': Number(median(floorRatios[i]!).toFixed(3)),
              'ratio (rounds)': range(floorRatios[i]!),
              'cache entries': f.cacheEntries,
            },
          })),
        },
        {
          title:
            "The records' own lookups: stateless checks of their users, uid drawn uniformly, cache off, each awaited (per CPU second)",
          columns: ['lookups/s', 'lookup ns', 'floor ns', 'uid draw ns', 'cache hit rate'],
          rows: figures.map((f) => ({
            name: `${fmt(f.records)} records on file`,
            figures: {
              'lookups/s': Math.round(median(f.recordLookups)),
              'lookup ns': nsOf(median(f.recordLookups)),
              'floor ns': nsOf(median(f.recordFloor)),
              'uid draw ns': nsOf(median(f.uidDraw)),
              'cache hit rate': `${(100 * f.recordHitRate).toFixed(0)} %`,
            },
          })),
        },
        {
          title: `Ratio ${fmt(last.records)} records to ${fmt(first.records)}`,
          columns: ['ratio'],
          rows: [
            { name: "records' lookups (cache off)", figures: { ratio: Number(lookupRatio.toFixed(3)) } },
            { name: 'session, warm cache', figures: { ratio: Number(sessionRatio.toFixed(3)) } },
            { name: 'stateless, warm cache', figures: { ratio: Number(statelessRatio.toFixed(3)) } },
          ],
        },
      ],
      targets: [
        {
          target: 'a warm session check ≤ 1.5 × one SHA-256 of the token plus one Map.get',
          measured: `${figures.map((f) => `${nsOf(median(f.session))} ns against ${nsOf(median(f.floor))} ns with ${fmt(f.records)} records`).join('; ')}: ratio ${range(allFloorRatios)} over the ${allFloorRatios.length} paired rounds (median ${median(allFloorRatios).toFixed(2)})`,
          ...targetVerdict(floorVerdict),
          note: `the floor is crypto.hash('sha256', token, 'base64url'), as hashToken calls it, and one Map.get of the result on a map holding as many entries as the engine's cache, timed in the same rounds as the check. Verdict per paired round: met when every round's ratio is at most 1.5, not met when none is, inconclusive otherwise. Of the check's time beyond the floor (${nsOf(median(first.session)) - nsOf(median(first.floor))} ns with ${fmt(first.records)} records), the clock read alone takes ${nsOf(median(first.clock))} ns (Date.now, timed in the same rounds; performance.now and process.hrtime cost as much on this machine's kvm-clock): an expiry at ms precision needs it, so no cache entry can answer without it.`,
        },
        {
          target: '≥ 2 million session checks per CPU second',
          measured: `${fmt(worstSession)} per second (slowest of the record counts; ${fmt(median(first.session))} with ${fmt(first.records)} records)`,
          ...targetVerdict(rateVerdict),
          note: `evict looks sessions up by the hash of the token, never by the token, so that no raw token is kept in the store or in the cache: the SHA-256 alone runs at ${fmt(median(first.hash))} per second here (${nsOf(median(first.hash))} ns), ${hashLeaves(nsOf(median(first.hash)))}; the floor target above is the distance to it. A stateless credential (a JWT's or UserSig's uid and issue time: nothing to hash) checks at ${fmt(median(first.stateless))} per second.`,
        },
        {
          target: `the records' lookups within 10 % between ${fmt(first.records)} and ${fmt(last.records)} records (cache off)`,
          measured: `${fmt(median(last.recordLookups))} against ${fmt(median(first.recordLookups))} lookups per second: ratio ${lookupRatio.toFixed(3)} (rounds ${range(lookupRatios)})`,
          ...targetVerdict(lookupVerdict),
          note: `${options.quick ? 'Quick mode stops at 1 million records; the full run goes to 10 million. ' : ''}What is timed is what the records serve: a stateless check (engine.check, awaited) of one of their users, the uid drawn uniformly from them, on an engine with its cache off (cache hit rate ${figures.map((f) => `${(100 * f.recordHitRate).toFixed(0)} %`).join(', ')}), so that every check reads the memory store's maps of that many records. Each accepts: the credentials are issued after the records' cutoffs. Verdict per paired round: met when every round's ratio is within 10 %, not met when none is, inconclusive otherwise. Against the floor (the same uid draw and one Map.get on a bare Map of as many entries, keyed by the same uid strings, in the same rounds: ${nsOf(median(first.recordFloor))} ns with ${fmt(first.records)} records, ${nsOf(median(last.recordFloor))} ns with ${fmt(last.records)}), a lookup grew from ${nsOf(median(first.recordLookups))} to ${nsOf(median(last.recordLookups))} ns, the floor by ${Math.round(median(lastFloorNs) - median(firstFloorNs))} ns: the growth no table of this size avoids (the memory's latency: caches and TLB misses in a heap of ${Math.round(figures[0]!.heapMb)} MB). The lookups' time with ${fmt(last.records)} records over their time with ${fmt(first.records)} plus the floor's growth: ${median(beyondFloor).toFixed(2)} (rounds ${range(beyondFloor)}): ${{ met: 'at most 1.1 in every round, met', 'not met': 'above 1.1 in every round, not met', inconclusive: 'on both sides of 1.1, inconclusive' }[beyondFloorVerdict]} against the floor. The uid draw alone (the string built per lookup) takes ${nsOf(median(first.uidDraw))} and ${nsOf(median(last.uidDraw))} ns. The warm-cache ratios in the table read two cache entries and no record, whatever the number of records: they claim nothing about the records.`,
        },
      ],
      notes: [
        `Method: one engine on a MemoryStore per record count, in a child process (heap limit raised for the largest count), on the built package (packages/core/dist, run pnpm build first). The records are kick cutoffs of other users, written with store.raiseCutoff in a tight loop, each uid also set in the records' floor Map (${figures.map((f) => `${fmt(f.records)} in ${f.fillSeconds.toFixed(1)} s`).join(', ')}). Then one live session for a user of its own, checked once to warm the engine's cache, and engine.checkNow called back to back (what the adapters' guards call: it returns the verdict itself when the cache answers, which every call here must), then engine.check called back to back, each awaited (the promise API: one microtask more per call), the floor, and the records' lookups, for ${input.rounds} rounds of ${input.roundMs} ms of CPU time each (after ${input.warmRounds} warm-up rounds of ${input.warmRoundMs} ms per credential type on a throwaway engine); the figure is the median round. The stateless credential is { type: 'stateless', uid, issuedAtSec } for the same user.`,
        "Rounds are timed by the process's CPU time (process.cpuUsage, user + system), not by the wall clock: on this shared machine other work takes the core away from the loop for part of a round, which wall time would count as the loop's.",
        `All record counts live in one process at once (heap used ${Math.round(figures[0]!.heapMb)} MB) and their rounds are interleaved, so that other work on the machine weighs on each count alike.`,
        "With the cache warm a session check reads no store at all: it hashes the token (SHA-256), finds the session and the user record in the cache, reads the clock once, and compares the times. The number of records on file changes only the store's maps, which that check does not touch: the records' lookups table times the checks that do read them.",
      ],
    };
  },
};

// The memory store's expiry sweep with a million records on file (issue 18): the worst event-loop
// delay across a timer sweep, the longest GC pause in it, a whole `sweep()`, and heap per session.
// Each variant runs in its own child process (fresh heap). Figures go in BENCHMARKS.md, not here.
//
//   npx tsx bench/memory-store-stall.mts [rev …]   (each rev's memory-store.ts against the work tree's)
//   Only memory-store.ts is taken from a rev: the modules under memory-store/ always come from the
//   work tree, so a rev after the split into memory-store/ (3d77010) compares nothing of those.
//   EVICT_STALL_SCENARIO=sessions|connections runs one scenario only.
//   EVICT_STALL_FLAGS="--trace-gc" or "--cpu-prof" pass V8 flags to the children.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const N = 1_000_000;
const SRC = fileURLToPath(new URL('../packages/core/src/', import.meta.url));
const SCENARIOS = ['sessions', 'all-expire', 'connections'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Store {
  putSession(s: object): Promise<void>;
  heartbeatNode(n: object): Promise<boolean>;
  putConnections(c: object[]): Promise<void>;
  sweep(): void;
  size(): { sessions: number; users: number; counters: number };
  close(): Promise<void>;
}
type StoreClass = new (o: { clock: { nowMs(): number }; sweepIntervalMs: number }) => Store;

/** `PerformanceEntry.detail.kind` of a GC (perf_hooks' NODE_PERFORMANCE_GC_* constants). */
const GC_KINDS: Record<number, string> = {
  1: 'scavenge',
  4: 'mark-compact',
  8: 'incremental',
  16: 'weak callbacks',
};
/** The main thread's time on a core and waiting for one, from Linux's schedstat (zeros elsewhere). */
function schedstat(): { onCpuMs: number; waitingMs: number } {
  try {
    const [onCpu, waiting] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return { onCpuMs: Number(onCpu) / 1e6, waitingMs: Number(waiting) / 1e6 };
  } catch {
    return { onCpuMs: 0, waitingMs: 0 };
  }
}
const gc = () => (globalThis as { gc?: () => void }).gc!();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tokenHash = (i: number) => createHash('sha256').update(`token-${i}`).digest('base64url');

/** One child: fills a store, then lets its timer sweep what expired while the loop's delay is watched. */
async function child(file: string, scenario: Scenario): Promise<Record<string, unknown>> {
  const { MemoryStore } = (await import(pathToFileURL(file).href)) as { MemoryStore: StoreClass };
  let now = Date.now();
  const clock = { nowMs: () => now };
  const hashes = Array.from({ length: N }, (_, i) => tokenHash(i));
  const uids = Array.from({ length: N }, (_, i) => `user${i}`);
  const out: Record<string, unknown> = {};
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const store = new MemoryStore({ clock, sweepIntervalMs: 1_000 });
  const t0 = performance.now();
  // `sessions`: half the sessions expire in a second, the other half in a day: the sweep drops 500,000
  // sessions and their users, and keeps 500,000. `all-expire`: the sweep drops them all.
  const expiring = (i: number) => scenario === 'all-expire' || i % 2 === 0;
  if (scenario !== 'connections') {
    for (let i = 0; i < N; i++) {
      const expiresAtMs = now + (expiring(i) ? 1_000 : 86_400_000);
      await store.putSession({
        tokenHash: hashes[i],
        uid: uids[i],
        deviceFlag: 1,
        issuedAtMs: now,
        expiresAtMs,
        retainUntilMs: expiresAtMs,
      });
    }
  } else {
    // A million users known only by a live connection each: the sweep has nothing to drop.
    await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: now + 86_400_000 });
    for (let i = 0; i < N; i += 1000) {
      await store.putConnections(
        uids.slice(i, i + 1000).map((uid, j) => ({
          uid,
          deviceFlag: 1,
          nodeId: 1,
          connId: i + j + 1,
          connectedAtMs: now,
          incarnation: 'run-1',
        })),
      );
    }
  }
  out.fillMs = Math.round(performance.now() - t0);
  gc();
  out.heapBytesPerRecord = Math.round((process.memoryUsage().heapUsed - heapBefore) / N);
  const sizeBefore = store.size();
  // Past the end of the minute the expired records were filed under.
  now += 120_000;

  // Attribution of each stall: the GC pauses and the store's sweep slices that overlap it (what is
  // left is the process waiting for a core: this machine's other work).
  const gcs: { start: number; end: number; kind: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      gcs.push({
        start: e.startTime,
        end: e.startTime + e.duration,
        kind: (e as unknown as { detail: { kind: number } }).detail.kind,
      });
  });
  observer.observe({ entryTypes: ['gc'] });
  const slices: { start: number; end: number; onCpuMs: number }[] = [];
  const sliced = store as Store & { sweepSlice?: () => boolean };
  if (typeof sliced.sweepSlice === 'function') {
    const sweepSlice = sliced.sweepSlice.bind(store);
    sliced.sweepSlice = () => {
      const start = performance.now();
      const cpu = schedstat().onCpuMs;
      try {
        return sweepSlice();
      } finally {
        slices.push({ start, end: performance.now(), onCpuMs: schedstat().onCpuMs - cpu });
      }
    };
  }
  const gaps: { start: number; end: number; onCpuMs: number; waitingMs: number }[] = [];
  let lastTick = performance.now();
  let lastSched = schedstat();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  // Keeps the loop turning (as a serving process's sockets would) so that every stall is seen.
  const keep = setInterval(() => {
    const t = performance.now();
    const sched = schedstat();
    if (t - lastTick > 10) {
      const onCpuMs = sched.onCpuMs - lastSched.onCpuMs;
      gaps.push({ start: lastTick, end: t, onCpuMs, waitingMs: sched.waitingMs - lastSched.waitingMs });
    }
    lastTick = t;
    lastSched = sched;
  }, 1);
  delay.enable();
  console.log('# timer sweep window opens');
  const start = performance.now();
  let swept = -1;
  const expected = scenario === 'sessions' ? N / 2 : scenario === 'all-expire' ? 0 : N;
  while (performance.now() - start < 15_000) {
    await sleep(5);
    const size = store.size();
    if (size.users === expected && (scenario === 'connections' || size.sessions === expected)) {
      if (swept < 0) swept = performance.now() - start;
      // At least one whole timer sweep (every second) in the window, whatever was to drop.
      if (performance.now() - start > Math.max(swept + 1_500, 4_000)) break;
    }
  }
  delay.disable();
  console.log('# timer sweep window closes');
  clearInterval(keep);
  observer.disconnect();
  const overlap = (spans: { start: number; end: number }[], gap: { start: number; end: number }) =>
    spans.reduce((sum, s) => sum + Math.max(0, Math.min(s.end, gap.end) - Math.max(s.start, gap.start)), 0);
  const worstGap = gaps.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a), {
    start: 0,
    end: 0,
    onCpuMs: 0,
    waitingMs: 0,
  });
  const ms = (x: number) => +x.toFixed(1);
  out.sizeBefore = sizeBefore;
  out.sizeAfter = store.size();
  out.timerSweepDoneAfterMs = swept < 0 ? 'not done in 15 s' : Math.round(swept);
  out.worstLoopDelayMs = ms(delay.max / 1e6);
  out.p99LoopDelayMs = ms(delay.percentile(99) / 1e6);
  out.worstGap = {
    ms: ms(worstGap.end - worstGap.start),
    mainThreadOnCpuMs: ms(worstGap.onCpuMs),
    mainThreadWaitingForCpuMs: ms(worstGap.waitingMs),
    inSweepSlicesMs: ms(overlap(slices, worstGap)),
    inGcMs: ms(overlap(gcs, worstGap)),
    gcKinds: [
      ...new Set(
        gcs.filter((g) => g.end > worstGap.start && g.start < worstGap.end).map((g) => GC_KINDS[g.kind]),
      ),
    ],
  };
  const longestGc = gcs.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a), {
    start: 0,
    end: 0,
    kind: 0,
  });
  out.longestGcPause = { ms: ms(longestGc.end - longestGc.start), kind: GC_KINDS[longestGc.kind] };
  out.slices = slices.length;
  out.longestSliceMs = ms(Math.max(0, ...slices.map((s) => s.end - s.start)));
  out.longestSliceOnCpuMs = ms(Math.max(0, ...slices.map((s) => s.onCpuMs)));
  await store.close();

  // The whole sweep at once, of a store filled the same way again, for comparison.
  if (scenario !== 'connections') {
    const again = new MemoryStore({ clock, sweepIntervalMs: 3_600_000 });
    for (let i = 0; i < N; i++) {
      const expiresAtMs = now + (expiring(i) ? 1_000 : 86_400_000);
      await again.putSession({
        tokenHash: hashes[i],
        uid: uids[i],
        deviceFlag: 1,
        issuedAtMs: now,
        expiresAtMs,
        retainUntilMs: expiresAtMs,
      });
    }
    now += 120_000;
    const t = performance.now();
    again.sweep();
    out.wholeSweepMs = Math.round(performance.now() - t);
    await again.close();
  }
  return out;
}

/** The memory store of `rev`, written where it can import the work tree's modules. */
function storeAt(rev: string, dir: string): string {
  const source = execFileSync('git', ['show', `${rev}:packages/core/src/memory-store.ts`], {
    encoding: 'utf8',
  });
  const file = join(dir, `memory-store-${rev.replace(/\W/g, '_')}.ts`);
  writeFileSync(
    file,
    source.replace(/from '\.\/([^']+)'/g, (_, p) => `from '${pathToFileURL(SRC + p).href}'`),
  );
  return file;
}

if (process.env.EVICT_STALL_CHILD) {
  const [file, scenario] = JSON.parse(process.env.EVICT_STALL_CHILD) as [string, Scenario];
  console.log(JSON.stringify(await child(file, scenario)));
} else {
  const dir = mkdtempSync(join(tmpdir(), 'evict-stall-'));
  const variants: [string, string][] = [
    ...process.argv.slice(2).map((rev): [string, string] => [rev, storeAt(rev, dir)]),
    ['work tree', join(SRC, 'memory-store.ts')],
  ];
  const flags = (process.env.EVICT_STALL_FLAGS ?? '').split(' ').filter(Boolean);
  const only = process.env.EVICT_STALL_SCENARIO;
  for (const scenario of SCENARIOS.filter((s) => only === undefined || s === only)) {
    for (const [name, file] of variants) {
      const run = spawnSync(
        process.execPath,
        [
          '--expose-gc',
          '--max-old-space-size=4096',
          ...flags,
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
        ],
        {
          env: { ...process.env, EVICT_STALL_CHILD: JSON.stringify([file, scenario]) },
          encoding: 'utf8',
          maxBuffer: 1 << 28,
        },
      );
      if (run.status !== 0) throw new Error(`${name} ${scenario}: ${run.stderr.slice(-2000)}`);
      if (flags.length > 0)
        writeFileSync(join(dir, `${scenario}-${name.replace(/\W/g, '_')}.log`), run.stdout);
      const result = run.stdout.trim().split('\n').pop()!;
      console.log(`${scenario.padEnd(11)} ${name.padEnd(10)} ${result}`);
    }
  }
  if (flags.length > 0) console.log(`child output in ${dir}`);
}

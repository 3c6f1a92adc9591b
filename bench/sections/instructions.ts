/**
 * 8. Instructions per request, counted by valgrind's callgrind: the same servers as section 1 (bare,
 * a no-op middleware, evict's guard on the memory store), each under callgrind, loaded with a fixed
 * number of requests. An instruction count does not move with the machine's other load, which on a
 * shared 2-core VM moves req/s by ±20–50 % between rounds of the same server; it does not see what
 * costs time without instructions (cache misses, the kernel), so it complements section 1 and does
 * not replace it.
 *
 * Opt-in (`pnpm bench --only instructions`, about five minutes): it needs valgrind, and a server
 * under callgrind runs about fifty times slower.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  type BenchOptions,
  type BenchResult,
  type BenchSection,
  type BenchTable,
  judgedTarget,
  median,
  medianStandardError,
} from '../report.js';
import type { GuardLoopVariant } from '../servers/guard-loop.js';
import type { Mode } from '../servers/server.js';
import {
  callgrindControl,
  callgrindWrapper,
  countGuardLoop,
  type GuardLoopPlan,
  totalsOf,
} from '../support/callgrind.js';
import { NAMES, type Running, startServer, stopServer } from '../support/servers.js';

/** Each framework's bare server, its no-op, its guarded one, and any other guarded variant after. */
const GROUPS: Array<{ framework: string; modes: [Mode, Mode, Mode, ...Mode[]] }> = [
  {
    framework: 'Express',
    modes: [
      'express',
      'express-noop',
      'express-evict-memory',
      'express-evict-memory-last-seen-off',
      'express-evict-memory-metrics',
    ],
  },
  { framework: 'Koa', modes: ['koa', 'koa-noop', 'koa-evict-memory'] },
  { framework: 'NestJS', modes: ['nestjs', 'nestjs-noop', 'nestjs-evict-memory'] },
  { framework: 'Fastify', modes: ['fastify', 'fastify-noop', 'fastify-evict-memory'] },
  { framework: 'Hono', modes: ['hono', 'hono-noop', 'hono-evict-memory'] },
];

/**
 * The groups this run counts: all, or those `EVICT_BENCH_FRAMEWORKS` names (`Hono,Fastify`), for a
 * developer checking one framework's guard in minutes rather than the whole section.
 */
function groupsToCount(): typeof GROUPS {
  const asked = process.env.EVICT_BENCH_FRAMEWORKS?.split(',').map((name) => name.trim().toLowerCase());
  if (asked === undefined || asked.join('') === '') return GROUPS;
  const groups = GROUPS.filter((g) => asked.includes(g.framework.toLowerCase()));
  if (groups.length === 0)
    throw new Error(
      `EVICT_BENCH_FRAMEWORKS: none of ${asked.join(', ')} is one of ${GROUPS.map((g) => g.framework).join(', ')}`,
    );
  return groups;
}

interface Plan {
  /** Requests before counting: the JIT has compiled the path and the heap has reached its size. */
  warmRequests: number;
  windowRequests: number;
  windows: number;
  /** Windows of the contenders of a pair (PAIRS). */
  pairWindows: number;
  /** Servers under callgrind at once (each is one busy core). */
  parallel: number;
}

interface Counted {
  mode: Mode;
  /** Instructions per request, one per window. */
  perWindow: number[];
  /** The dump of the median window, for the breakdown. */
  medianDump: string;
  /** Processes started to get one out of the slow nextTick mode (1: the first one was not in it). */
  starts: number;
}

const CONNECTIONS = 10;
/**
 * Pairs of the Express guard with a feature on and off, each judged against its bound (on ÷ off,
 * at most): last-seen tracking (on by default) and metrics (off by default). Whole requests are
 * counted (`on`, `off`), and the guard's check alone in a loop (`loop`): a whole request's count
 * moves by a few per cent from window to window (garbage collection, compilation), more than the
 * features cost, while a loop of checks counts what they add to the instruction.
 */
const PAIRS: readonly {
  on: Mode;
  off: Mode;
  loop: { on: GuardLoopVariant; off: GuardLoopVariant };
  bound: number;
  target: string;
}[] = [
  {
    on: 'express-evict-memory',
    off: 'express-evict-memory-last-seen-off',
    loop: { on: 'plain', off: 'last-seen-off' },
    bound: 1.02,
    target:
      "last-seen tracking on (the default): the Express guard's instructions per request within 2 % of the same guard with it off",
  },
  {
    on: 'express-evict-memory-metrics',
    off: 'express-evict-memory',
    loop: { on: 'metrics', off: 'plain' },
    bound: 1.02,
    target:
      "metrics on (@evict/prometheus): the Express guard's instructions per request within 2 % of the same guard with them off",
  },
];
/** Guard-loop processes per variant: what one process's compilation settles shows between them. */
const LOOP_PROCESSES = 3;
const LOOP_NAMES: Record<GuardLoopVariant, string> = {
  plain: 'the guard (defaults: last-seen tracking on, no metrics)',
  metrics: 'the guard, metrics on (@evict/prometheus)',
  'last-seen-off': 'the guard, last-seen tracking off',
};
/** Contenders of a pair: counted over more windows, since their bound is tight. */
const PAIRED = new Set(PAIRS.flatMap((p) => [p.on, p.off]));

async function load(server: Running, requests: number): Promise<number> {
  // Each failed request's kind (ECONNRESET, a timeout…), for the message when a window fails.
  const failures = new Map<string, number>();
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const instance = autocannon(
      { url: server.url, headers: server.headers, connections: CONNECTIONS, amount: requests, timeout: 120 },
      (error, finished) => (error ? fail(error) : done(finished)),
    );
    instance.on('reqError', (error: NodeJS.ErrnoException) => {
      const kind = error.code ?? error.message;
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
    });
  });
  if (result.non2xx > 0 || result.errors > 0 || result.requests.total === 0) {
    const kinds = [...failures].map(([kind, n]) => `${n} × ${kind}`).join(', ');
    throw new Error(
      `${server.mode}: ${result.requests.total} answers, ${result.non2xx} non-2xx, ${result.errors} errors${kinds === '' ? '' : ` (${kinds})`}`,
    );
  }
  return result.requests.total;
}

/**
 * A process whose optimized `process.nextTick` defines its tick object's symbol-keyed fields through
 * the runtime: about 27 calls of Runtime_DefineKeyedOwnPropertyInLiteral a request (nine ticks of
 * Node's streams, three fields each), some 35 000 instructions more (a third of a bare Koa request).
 * Which code V8 compiles for nextTick is settled once per process, at random as far as the
 * benchmark can tell (bare Express, and guarded Koa in three of seven processes, while writing
 * this): it says nothing about the contender, so such a process is replaced.
 */
const SLOW_TICK_FUNCTION = 'Runtime_DefineKeyedOwnPropertyInLiteral';
const SLOW_TICK_PER_REQUEST = 1_000;
const MAX_STARTS = 3;

/** One process's windows, or undefined when it landed in the slow nextTick mode (its first window tells). */
async function countOnce(
  mode: Mode,
  dir: string,
  plan: Plan,
  options: BenchOptions,
  last: boolean,
): Promise<Omit<Counted, 'starts'> | undefined> {
  const server = await startServer(mode, options.redisUrl, {
    // Counting starts off (start-up is not measured); --smc-check makes valgrind see the code V8
    // writes at run time, which it would otherwise run stale.
    wrapper: callgrindWrapper(join(dir, `${mode}.%p`)),
    startTimeoutMs: 300_000,
  });
  try {
    const pid = server.child.pid!;
    // Unmeasured: a request that failed here (the machine too loaded for a server under valgrind to
    // answer in time) costs nothing counted.
    await load(server, plan.warmRequests).catch((error: unknown) =>
      options.log(`  ${mode}: warm-up: ${error}`),
    );
    const perWindow: number[] = [];
    // Dumps are numbered by callgrind in order, a window counted again included.
    let dumps = 0;
    const dumpOf: string[] = [];
    for (let w = 1; w <= plan.windows; w += 1) {
      let answered: number | undefined;
      for (let attempt = 1; answered === undefined; attempt += 1) {
        callgrindControl(['--zero'], pid);
        callgrindControl(['--instr=on'], pid);
        // A window with a failed request is counted again: its count would include work no answer paid for.
        answered = await load(server, plan.windowRequests).catch((error: unknown) => {
          if (attempt === 3) throw error;
          options.log(`  ${mode}: window ${w}: ${error}; counting it again`);
          return undefined;
        });
        callgrindControl(['--instr=off'], pid);
        callgrindControl(['--dump'], pid);
        dumps += 1;
      }
      const dump = join(dir, `${mode}.${pid}.${dumps}`);
      dumpOf.push(dump);
      perWindow.push((await totalsOf(dump)) / answered);
      if (w === 1 && !last) {
        const slowTick = [...byFunction(dump)].find(([name]) => name.includes(SLOW_TICK_FUNCTION))?.[1] ?? 0;
        if (slowTick / answered > SLOW_TICK_PER_REQUEST) {
          options.log(
            `  ${mode}: slow nextTick mode (${Math.round(perWindow[0]!)} instructions/request); starting another`,
          );
          return undefined;
        }
      }
    }
    const middle = perWindow.indexOf([...perWindow].sort((a, b) => a - b)[Math.floor(perWindow.length / 2)]!);
    options.log(`  ${mode}: ${perWindow.map((n) => Math.round(n)).join(', ')} instructions/request`);
    return { mode, perWindow, medianDump: dumpOf[middle]! };
  } finally {
    await stopServer(server);
  }
}

async function count(mode: Mode, dir: string, plan: Plan, options: BenchOptions): Promise<Counted> {
  for (let starts = 1; ; starts += 1) {
    const counted = await countOnce(mode, dir, plan, options, starts === MAX_STARTS);
    if (counted !== undefined) return { ...counted, starts };
  }
}

const JAVASCRIPT = 'JavaScript (the code V8 generated: evict, the framework, the route)';

/** Instructions by function in a dump; V8's generated code (no symbol) as one entry. */
function byFunction(dump: string): Map<string, number> {
  const out = spawnSync('callgrind_annotate', ['--threshold=100', dump], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  }).stdout;
  const functions = new Map<string, number>();
  for (const line of out.split('\n')) {
    const match = /^\s*([\d,]+) \([\s\d.]+%\)\s+(.+)$/.exec(line);
    if (match === null || match[2]!.includes('PROGRAM TOTALS')) continue;
    // Code V8 generated has no symbol: `???:0x… [???]`, with `'2` for a recursive call.
    const name = /^\?\?\?:0x[0-9a-f]+('\d+)? \[\?\?\?\]$/.test(match[2]!)
      ? JAVASCRIPT
      : match[2]!.replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '');
    functions.set(name, (functions.get(name) ?? 0) + Number(match[1]!.replaceAll(',', '')));
  }
  return functions;
}

/** A C++ signature as its qualified name: no return type, no argument list, no clone suffix. */
function shortName(name: string): string {
  if (name === JAVASCRIPT) return name;
  let s = name
    .replaceAll('(anonymous namespace)::', '')
    .replace(/ \[clone [^\]]*\]$/, '')
    .replace(/ const$/, '')
    .replace(/^\S+\.c:/, '');
  if (s.endsWith(')')) {
    // The argument list: back from the end to the parenthesis that opens it.
    let depth = 0;
    for (let i = s.length - 1; i >= 0; i -= 1) {
      if (s[i] === ')') depth += 1;
      else if (s[i] === '(' && --depth === 0) {
        s = s.slice(0, i);
        break;
      }
    }
  }
  // A return type ends at the last space outside template brackets.
  let depth = 0;
  let cut = -1;
  for (let i = 0; i < s.length; i += 1) {
    if (s[i] === '<') depth += 1;
    else if (s[i] === '>') depth -= 1;
    else if (s[i] === ' ' && depth === 0) cut = i;
  }
  return s.slice(cut + 1).replace(/^v8::internal::/, 'v8::');
}

export const section: BenchSection = {
  id: 'instructions',
  title: '8. Instructions per request (callgrind)',
  optIn: true,
  async run(options: BenchOptions): Promise<BenchResult> {
    const version = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
    if (version.status !== 0) {
      return {
        tables: [],
        targets: [],
        notes: ['Not run: valgrind is not installed (`apt install valgrind`).'],
      };
    }
    const plan: Plan = options.quick
      ? { warmRequests: 3_000, windowRequests: 1_000, windows: 3, pairWindows: 5, parallel: 2 }
      : { warmRequests: 15_000, windowRequests: 3_000, windows: 5, pairWindows: 15, parallel: 2 };
    const loopPlan: GuardLoopPlan = options.quick
      ? { warmChecks: 20_000, windowChecks: 10_000, windows: 3 }
      : { warmChecks: 100_000, windowChecks: 50_000, windows: 4 };
    const dir = mkdtempSync(join(tmpdir(), 'evict-callgrind-'));
    try {
      const groups = groupsToCount();
      const modes = groups.flatMap((g) => g.modes);
      const counted = new Map<Mode, Counted>();
      // A few at a time: counts do not depend on what else runs, only the wall time does.
      for (let i = 0; i < modes.length; i += plan.parallel) {
        const batch = modes.slice(i, i + plan.parallel);
        // The last-seen pair is judged against a 2 % bound: more windows narrow its medians' error.
        const planOf = (mode: Mode) => (PAIRED.has(mode) ? { ...plan, windows: plan.pairWindows } : plan);
        for (const done of await Promise.all(batch.map((mode) => count(mode, dir, planOf(mode), options))))
          counted.set(done.mode, done);
      }
      const per = (mode: Mode) => median(counted.get(mode)!.perWindow);
      const tables: BenchTable[] = [
        {
          title: `Instructions per request (median of ${plan.windows} windows (the paired Express guards: ${plan.pairWindows}) of ${plan.windowRequests} requests, after ${plan.warmRequests} unmeasured)`,
          columns: [
            'instructions/request',
            'added to bare',
            'bare ÷ this (the throughput ratio if time followed instructions)',
            'windows',
            'processes started',
          ],
          rows: groups.flatMap(({ modes }) =>
            modes.map((mode) => ({
              name: NAMES[mode],
              figures: {
                'instructions/request': Math.round(per(mode)),
                'added to bare': mode === modes[0] ? '–' : Math.round(per(mode) - per(modes[0])),
                'bare ÷ this (the throughput ratio if time followed instructions)': (
                  per(modes[0]) / per(mode)
                ).toFixed(3),
                windows: counted
                  .get(mode)!
                  .perWindow.map((n) => Math.round(n / 100) / 10)
                  .join(', ')
                  .concat(' k'),
                'processes started': counted.get(mode)!.starts,
              },
            })),
          ),
        },
      ];
      for (const { framework, modes } of groups) {
        const requests = plan.windowRequests;
        const bare = byFunction(counted.get(modes[0])!.medianDump);
        const guarded = byFunction(counted.get(modes[2])!.medianDump);
        const added = [...new Set([...bare.keys(), ...guarded.keys()])]
          .map((name) => ({ name, delta: ((guarded.get(name) ?? 0) - (bare.get(name) ?? 0)) / requests }))
          .sort((a, b) => b.delta - a.delta)
          .slice(0, 10);
        tables.push({
          title: `${framework}: where the guard's instructions go (the ten functions with the most added per request, median windows of ${NAMES[modes[2]]} − ${NAMES[modes[0]]})`,
          columns: ['added instructions/request'],
          rows: added.map(({ name, delta }) => ({
            name: shortName(name),
            figures: { 'added instructions/request': Math.round(delta) },
          })),
        });
      }
      // Each pair's on ÷ off against its bound (2 %).
      const medianError = (mode: Mode) => medianStandardError(counted.get(mode)!.perWindow);
      // Without the Express group (EVICT_BENCH_FRAMEWORKS), the pairs were not counted.
      const pairs = PAIRS.filter((pair) => counted.has(pair.on) && counted.has(pair.off));
      // The guard's check alone: each variant the pairs name, in LOOP_PROCESSES processes.
      const loopVariants = [...new Set(pairs.flatMap((pair) => [pair.loop.on, pair.loop.off]))];
      const loops = new Map<GuardLoopVariant, number[][]>();
      const runs = loopVariants.flatMap((variant) => Array.from({ length: LOOP_PROCESSES }, () => variant));
      for (let i = 0; i < runs.length; i += plan.parallel) {
        const batch = runs.slice(i, i + plan.parallel);
        const counts = await Promise.all(batch.map((variant) => countGuardLoop(variant, dir, loopPlan)));
        batch.forEach((variant, j) => {
          options.log(
            `  guard loop ${variant}: ${counts[j]!.map((n) => n.toFixed(1)).join(', ')} instructions/check`,
          );
          loops.set(variant, [...(loops.get(variant) ?? []), counts[j]!]);
        });
      }
      const loopWindows = (variant: GuardLoopVariant) => loops.get(variant)!.flat();
      if (pairs.length > 0)
        tables.push({
          title: `The guard's check alone, in a loop (core's createGuard on the memory store, a warm session token; ${LOOP_PROCESSES} processes × ${loopPlan.windows} windows of ${loopPlan.windowChecks.toLocaleString('en-US')} checks, after ${loopPlan.warmChecks.toLocaleString('en-US')} unmeasured)`,
          columns: [
            'instructions/check (median)',
            'lowest window',
            'highest window',
            'per process (medians)',
          ],
          rows: loopVariants.map((variant) => ({
            name: LOOP_NAMES[variant],
            figures: {
              'instructions/check (median)': Math.round(median(loopWindows(variant))),
              'lowest window': Math.round(Math.min(...loopWindows(variant))),
              'highest window': Math.round(Math.max(...loopWindows(variant))),
              'per process (medians)': loops
                .get(variant)!
                .map((windows) => Math.round(median(windows)))
                .join(', '),
            },
          })),
        });
      const pairTargets = pairs.map((pair) => {
        const on = per(pair.on);
        const off = per(pair.off);
        // What the feature adds to a check, ± the half-range of each variant's windows over all its
        // processes (every window, not an estimate of the median's error: the bound is wide enough).
        const onLoop = loopWindows(pair.loop.on);
        const offLoop = loopWindows(pair.loop.off);
        const added = median(onLoop) - median(offLoop);
        const halfRange = (windows: number[]) => (Math.max(...windows) - Math.min(...windows)) / 2;
        const uncertainty = halfRange(onLoop) + halfRange(offLoop);
        // Judged on a request of the guard with the feature off: what it costs is what the check adds.
        const wholeNoise = (2 * Math.hypot(medianError(pair.on), medianError(pair.off))) / off;
        return judgedTarget({
          target: pair.target,
          measured: `the check adds ${added.toFixed(1)} ± ${uncertainty.toFixed(1)} instructions (${Math.round(median(onLoop))} against ${Math.round(median(offLoop))} per check, counted in a loop): ${(((off + added) / off - 1) * 100).toFixed(2)} % of a guarded Express request (${Math.round(off)} instructions). Whole requests: ${Math.round(on)} against ${Math.round(off)}, ${(on / off).toFixed(3)} × ± ${(wholeNoise * 100).toFixed(1)} % (two standard errors of the medians, ${plan.pairWindows} windows each), which window-to-window noise cannot resolve to 2 %`,
          value: (off + added) / off,
          bound: pair.bound,
          noise: uncertainty / off,
          want: 'at most',
          noiseText: "the half-ranges of the two loops' windows, added",
        });
      });
      const spread = groups.map(({ framework, modes }) => {
        const widest = Math.max(
          ...modes.map((mode) => {
            const windows = counted.get(mode)!.perWindow;
            return Math.max(...windows) / Math.min(...windows) - 1;
          }),
        );
        return `${framework} ${(widest * 100).toFixed(1)} %`;
      });
      return {
        tables,
        targets: pairTargets,
        notes: [
          `Method: ${version.stdout.trim()}, \`--tool=callgrind --instr-atstart=no --smc-check=all-non-file\`, around the same server processes as section 1 (bench/servers/server.ts; the no-op contenders add one function that calls next, or for NestJS a guard that returns true). Each server gets ${plan.warmRequests} requests unmeasured from autocannon (${CONNECTIONS} connections, in the benchmark process), then ${plan.windows} windows of ${plan.windowRequests}: counting is switched on and off around each window with callgrind_control, and the window's count (every thread of the server: the main thread, V8's compiler and GC helpers, libuv's pool) is divided by the requests answered. The evict contenders send a warm session token, as in section 1; the RedisStore ones are left out, their warm path being the memory one (the cache answers).`,
          'Reading it: instructions are not time (a cache miss or a system call costs time with few instructions, and the kernel is not counted), but they do not move with the load of the machine, so a difference of a few per cent is visible here where section 1 cannot resolve it. The breakdown is by function, exclusive; "JavaScript" is all the code V8 generated, which callgrind cannot name, evict\'s and the framework\'s alike. Differences in the garbage collector and the V8 runtime come from what the guard allocates, and from the young generation being sized by V8 at run time.',
          `Processes started: a server whose first window showed V8's slow form of process.nextTick (its tick object's symbol-keyed fields defined through the runtime, Runtime_DefineKeyedOwnPropertyInLiteral, many times a request) was stopped and another started, up to ${MAX_STARTS} processes, the last kept whatever its mode. Which form V8 compiles is settled once per process and, as far as this benchmark can tell, at random (bench/FINDINGS.md), so it says nothing about the contender; in the HTTP rounds of section 1 it is one more reason a server's rounds, and its ratio to bare, move between runs.`,
          `Resolution: the windows of one server differ by up to ${spread.join(', ')} (max/min − 1 over its windows, the widest of the group), mostly by how much garbage collection and compilation fall into each; a difference between two contenders smaller than that, such as a no-op row below its bare framework, is not resolved.`,
        ],
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

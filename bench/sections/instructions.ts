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
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  type BenchOptions,
  type BenchResult,
  type BenchSection,
  type BenchTable,
  median,
} from '../report.js';
import type { Mode } from '../servers/server.js';
import { NAMES, type Running, startServer, stopServer } from '../support/servers.js';

const GROUPS: Array<{ framework: string; modes: [Mode, Mode, Mode] }> = [
  { framework: 'Express', modes: ['express', 'express-noop', 'express-evict-memory'] },
  { framework: 'Koa', modes: ['koa', 'koa-noop', 'koa-evict-memory'] },
  { framework: 'NestJS', modes: ['nestjs', 'nestjs-noop', 'nestjs-evict-memory'] },
];

interface Plan {
  /** Requests before counting: the JIT has compiled the path and the heap has reached its size. */
  warmRequests: number;
  windowRequests: number;
  windows: number;
  /** Servers under callgrind at once (each is one busy core). */
  parallel: number;
}

interface Counted {
  mode: Mode;
  /** Instructions per request, one per window. */
  perWindow: number[];
  /** The dump of the median window, for the breakdown. */
  medianDump: string;
}

const CONNECTIONS = 10;

function callgrindControl(args: string[], pid: number): void {
  const run = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${run.stderr || run.error}`);
}

async function load(server: Running, requests: number): Promise<number> {
  const result = await autocannon({
    url: server.url,
    headers: server.headers,
    connections: CONNECTIONS,
    amount: requests,
    timeout: 120,
  });
  if (result.non2xx > 0 || result.errors > 0 || result.requests.total === 0) {
    throw new Error(
      `${server.mode}: ${result.requests.total} answers, ${result.non2xx} non-2xx, ${result.errors} errors`,
    );
  }
  return result.requests.total;
}

/** Waits for callgrind to finish writing the dump (its `totals:` line comes last). */
async function totalsOf(file: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    const totals = /^totals: (\d+)/m.exec(text);
    if (totals !== null) return Number(totals[1]);
    if (Date.now() > deadline) throw new Error(`no callgrind dump at ${file}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function count(mode: Mode, dir: string, plan: Plan, options: BenchOptions): Promise<Counted> {
  const server = await startServer(mode, options.redisUrl, {
    // Counting starts off (start-up is not measured); --smc-check makes valgrind see the code V8
    // writes at run time, which it would otherwise run stale.
    wrapper: [
      'valgrind',
      '--tool=callgrind',
      '--instr-atstart=no',
      '--smc-check=all-non-file',
      `--callgrind-out-file=${join(dir, `${mode}.%p`)}`,
    ],
    startTimeoutMs: 300_000,
  });
  try {
    const pid = server.child.pid!;
    await load(server, plan.warmRequests);
    const perWindow: number[] = [];
    for (let w = 1; w <= plan.windows; w += 1) {
      callgrindControl(['--zero'], pid);
      callgrindControl(['--instr=on'], pid);
      const answered = await load(server, plan.windowRequests);
      callgrindControl(['--instr=off'], pid);
      callgrindControl(['--dump'], pid);
      perWindow.push((await totalsOf(join(dir, `${mode}.${pid}.${w}`))) / answered);
    }
    const middle = perWindow.indexOf([...perWindow].sort((a, b) => a - b)[Math.floor(perWindow.length / 2)]!);
    options.log(`  ${mode}: ${perWindow.map((n) => Math.round(n)).join(', ')} instructions/request`);
    return { mode, perWindow, medianDump: join(dir, `${mode}.${pid}.${middle + 1}`) };
  } finally {
    await stopServer(server);
  }
}

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
    const name = /^\?\?\?:0x[0-9a-f]+ \[\?\?\?\]$/.test(match[2]!)
      ? 'JavaScript (code V8 generated: evict, the framework, the route)'
      : match[2]!.replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '');
    functions.set(name, (functions.get(name) ?? 0) + Number(match[1]!.replaceAll(',', '')));
  }
  return functions;
}

/** Shortens a C++ signature to its qualified name. */
function shortName(name: string): string {
  const open = name.indexOf('(');
  const bare = open === -1 ? name : name.slice(0, open);
  return bare.replace(/^v8::internal::/, 'v8 ').replace(/^(unsigned long|void|bool|int) /, '');
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
      ? { warmRequests: 3_000, windowRequests: 1_000, windows: 3, parallel: 2 }
      : { warmRequests: 15_000, windowRequests: 3_000, windows: 5, parallel: 2 };
    const dir = mkdtempSync(join(tmpdir(), 'evict-callgrind-'));
    try {
      const modes = GROUPS.flatMap((g) => g.modes);
      const counted = new Map<Mode, Counted>();
      // A few at a time: counts do not depend on what else runs, only the wall time does.
      for (let i = 0; i < modes.length; i += plan.parallel) {
        const batch = modes.slice(i, i + plan.parallel);
        for (const done of await Promise.all(batch.map((mode) => count(mode, dir, plan, options))))
          counted.set(done.mode, done);
      }
      const per = (mode: Mode) => median(counted.get(mode)!.perWindow);
      const tables: BenchTable[] = [
        {
          title: `Instructions per request (median of ${plan.windows} windows of ${plan.windowRequests} requests, after ${plan.warmRequests} unmeasured)`,
          columns: [
            'instructions/request',
            'added to bare',
            'bare ÷ this (the throughput ratio if time followed instructions)',
            'windows',
          ],
          rows: GROUPS.flatMap(({ modes }) =>
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
              },
            })),
          ),
        },
      ];
      for (const { framework, modes } of GROUPS) {
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
      return {
        tables,
        targets: [],
        notes: [
          `Method: ${version.stdout.trim()}, \`--tool=callgrind --instr-atstart=no --smc-check=all-non-file\`, around the same server processes as section 1 (bench/servers/server.ts; the no-op contenders add one function that calls next, or for NestJS a guard that returns true). Each server gets ${plan.warmRequests} requests unmeasured from autocannon (${CONNECTIONS} connections, in the benchmark process), then ${plan.windows} windows of ${plan.windowRequests}: counting is switched on and off around each window with callgrind_control, and the window's count (every thread of the server: the main thread, V8's compiler and GC helpers, libuv's pool) is divided by the requests answered. The evict contenders send a warm session token, as in section 1; the RedisStore ones are left out, their warm path being the memory one (the cache answers).`,
          'Reading it: instructions are not time (a cache miss or a system call costs time with few instructions, and the kernel is not counted), but they do not move with the load of the machine, so a difference of a few per cent is visible here where section 1 cannot resolve it. The breakdown is by function, exclusive; "JavaScript" is all the code V8 generated, which callgrind cannot name, evict\'s and the framework\'s alike. Differences in the garbage collector and the V8 runtime come from what the guard allocates, and from the young generation being sized by V8 at run time.',
        ],
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

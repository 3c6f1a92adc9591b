/**
 * The guard on its own, for section 8: `node bench/servers/guard-loop.ts <variant>` makes an engine
 * on the memory store as bench/servers/server.ts does, one session, and core's guard, then answers
 * lines on stdin: `run <n>` checks the session's token n times (each synchronously, as a warm check
 * answers) and prints `DONE <n>`. Section 8 switches callgrind's counting on around a `run`, so the
 * count is the guard's own, with no HTTP server, framework or load generator beside it: what a
 * feature adds to a check shows to the instruction where a whole request's count moves by a few per
 * cent from window to window.
 *
 * Variants: `plain` (the defaults), `metrics` (@evict/prometheus attached), `last-seen-off`.
 * evict's packages are loaded from their build (packages/<name>/dist/esm), as the servers do.
 */
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const GUARD_LOOP_VARIANTS = ['plain', 'metrics', 'last-seen-off'] as const;
export type GuardLoopVariant = (typeof GUARD_LOOP_VARIANTS)[number];

const root = process.env.EVICT_BENCH_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = (pkg: string) => pathToFileURL(resolve(root, 'packages', pkg, 'dist/esm/index.js')).href;

async function main(variant: GuardLoopVariant): Promise<void> {
  const core: typeof import('@evict/core') = await import(built('core'));
  const engine = core.createEvict({
    nodeId: 1,
    ...(variant === 'last-seen-off' ? { lastSeenResolutionMs: 0 } : {}),
  });
  if (variant === 'metrics') {
    const { evictMetrics }: typeof import('@evict/prometheus') = await import(built('prometheus'));
    const { Registry } = await import('prom-client');
    evictMetrics(engine, { registry: new Registry() });
  }
  await engine.ready();
  const { token } = await engine.issueSession({ uid: 'bench-user', deviceFlag: 1, ttlMs: 3_600_000 });
  const guard = core.createGuard(engine);
  // One request object, as an adapter hands the guard a fresh one per request: the headers object
  // is the only thing the default source reads.
  const request = { headers: { token }, query: new URLSearchParams() };
  // The first check reads the store and fills the cache (it may wait); the counted ones do not.
  const first = await guard.check(request);
  if (!first.ok) throw new Error(`the session's first check was refused: ${first.reason}`);
  const run = (n: number): void => {
    for (let i = 0; i < n; i += 1) {
      const result = guard.checkNow(request);
      // A check that waited, or refused, is not the path being counted: stop rather than count it.
      if (result instanceof Promise || !result.ok)
        throw new Error(
          `check ${i} was not a warm acceptance: ${result instanceof Promise ? 'it waited' : result.reason}`,
        );
    }
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, count] = line.trim().split(' ');
    if (command !== 'run') return;
    const n = Number(count);
    run(n);
    process.stdout.write(`DONE ${n}\n`);
  });
  process.stdin.on('end', () => {
    void engine.close().then(() => process.exit(0));
  });
  process.stdout.write('READY\n');
}

const variant = process.argv[2] as GuardLoopVariant;
if (!GUARD_LOOP_VARIANTS.includes(variant)) {
  process.stderr.write(`usage: guard-loop.ts <${GUARD_LOOP_VARIANTS.join('|')}>\n`);
  process.exit(2);
}
main(variant).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

/**
 * Counting instructions with valgrind's callgrind around parts of a running process (section 8):
 * counting is switched on and off from outside with callgrind_control, and each window's dump read
 * back. Also the guard-loop child (bench/servers/guard-loop.ts) counted window by window.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { GuardLoopVariant } from '../servers/guard-loop.js';
import { nodeArgsFor, repoRoot } from './compile.js';

const GUARD_LOOP = resolve(dirname(fileURLToPath(import.meta.url)), '../servers/guard-loop.ts');
const SERVER_TSCONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../servers/tsconfig.json');

/** valgrind's arguments: counting off until switched on, and V8's run-time code seen as it changes. */
export function callgrindWrapper(outFile: string): string[] {
  return [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    '--smc-check=all-non-file',
    `--callgrind-out-file=${outFile}`,
  ];
}

export function callgrindControl(args: string[], pid: number): void {
  const run = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${run.stderr || run.error}`);
}

/** Waits for callgrind to finish writing the dump (its `totals:` line comes last). */
export async function totalsOf(file: string): Promise<number> {
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

export interface GuardLoopPlan {
  /** Checks before counting: the JIT has compiled the path. */
  warmChecks: number;
  windowChecks: number;
  windows: number;
}

/**
 * One guard-loop process of `variant` under callgrind: instructions per check in each window.
 * Rejects if the child fails (a check that was not a warm acceptance stops it).
 */
export async function countGuardLoop(
  variant: GuardLoopVariant,
  dir: string,
  plan: GuardLoopPlan,
): Promise<number[]> {
  const command = [
    ...callgrindWrapper(join(dir, `guard-loop-${variant}.%p`)),
    process.execPath,
    ...nodeArgsFor(GUARD_LOOP),
    variant,
  ];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, EVICT_BENCH_ROOT: repoRoot, TSX_TSCONFIG_PATH: SERVER_TSCONFIG },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<never>((_, fail) =>
    child.once('exit', (code) =>
      fail(new Error(`guard loop (${variant}) exited (${code}): ${stderr.trim()}`)),
    ),
  );
  exited.catch(() => {});
  const expect = async (prefix: string): Promise<void> => {
    const next = await Promise.race([lines.next(), exited]);
    if (next.done === true || !next.value.startsWith(prefix))
      throw new Error(`guard loop (${variant}): expected ${prefix}, got ${next.value}: ${stderr.trim()}`);
  };
  try {
    await expect('READY');
    child.stdin!.write(`run ${plan.warmChecks}\n`);
    await expect('DONE');
    const pid = child.pid!;
    const perWindow: number[] = [];
    for (let w = 1; w <= plan.windows; w += 1) {
      callgrindControl(['--zero'], pid);
      callgrindControl(['--instr=on'], pid);
      child.stdin!.write(`run ${plan.windowChecks}\n`);
      await expect('DONE');
      callgrindControl(['--instr=off'], pid);
      callgrindControl(['--dump'], pid);
      perWindow.push((await totalsOf(join(dir, `guard-loop-${variant}.${pid}.${w}`))) / plan.windowChecks);
    }
    return perWindow;
  } finally {
    child.stdin!.end();
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

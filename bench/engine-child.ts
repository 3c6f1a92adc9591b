/**
 * Runs part of a benchmark section in a child Node process, for what the parent cannot give it: a
 * larger heap (ten million records) and `global.gc` (heap measurements). The child imports the same
 * section file with `EVICT_BENCH_CHILD=<name>` set and writes its result as the last line of stdout.
 */
import { spawn } from 'node:child_process';

export interface ChildOptions {
  /** The section file to run in the child (an absolute path or a file: URL). */
  file: string;
  /** The value of EVICT_BENCH_CHILD the file's child mode answers to. */
  name: string;
  /** JSON handed to the child in EVICT_BENCH_INPUT. */
  input: unknown;
  /** --max-old-space-size in MB. */
  heapMb: number;
  /** More node flags (V8's, e.g. `--max-semi-space-size=64`). */
  nodeFlags?: string[];
  log(line: string): void;
}

/** Runs the child and returns what it printed on its last stdout line, parsed. */
export function runChild<T>(options: ChildOptions): Promise<T> {
  const file = options.file.startsWith('file:') ? new URL(options.file).pathname : options.file;
  return new Promise<T>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        `--max-old-space-size=${options.heapMb}`,
        ...(options.nodeFlags ?? []),
        '--import',
        'tsx',
        file,
      ],
      {
        env: {
          ...process.env,
          EVICT_BENCH_CHILD: options.name,
          EVICT_BENCH_INPUT: JSON.stringify(options.input),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const line of chunk.split('\n')) if (line.startsWith('[bench]')) options.log(line.slice(8));
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`bench child ${options.name} exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`bench child ${options.name} printed no result: ${stderr.slice(-2000)}`));
      }
    });
  });
}

/** In a child: runs `main` with the parent's input when EVICT_BENCH_CHILD is `name`, prints its result and exits. */
export function childMode<I, T>(name: string, main: (input: I) => Promise<T>): void {
  if (process.env.EVICT_BENCH_CHILD !== name) return;
  const input = JSON.parse(process.env.EVICT_BENCH_INPUT ?? 'null') as I;
  main(input).then(
    (result) => {
      process.stdout.write(`\n${JSON.stringify(result)}\n`, () => process.exit(0));
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

/** Progress from a child, picked up by the parent's `log`. */
export function childLog(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** The child's gc (it runs with --expose-gc). */
export function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with --expose-gc');
  collect();
  collect();
}

/**
 * Plain-JavaScript copies of the benchmark's own child processes (bench/servers/*.ts), made once per
 * run with the esbuild that tsx ships, so that each child starts as `node file.mjs`: no tsx loader
 * thread transforming and resolving every module the child loads (NestJS alone is hundreds), which
 * made starting eleven servers cost tens of seconds. Type-only imports vanish; nothing is bundled.
 *
 * The copies go to node_modules/.cache/evict-bench/, inside the repository, so that the bare imports
 * (express, koa, …) resolve from the root node_modules as they do for the sources. When esbuild
 * cannot be found, the caller runs the source under tsx as before.
 */
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Esbuild {
  transformSync(
    source: string,
    options: { loader: 'ts'; format: 'esm'; target: string; sourcefile: string },
  ): { code: string };
}

let esbuild: Esbuild | null | undefined;

function loadEsbuild(): Esbuild | null {
  if (esbuild !== undefined) return esbuild;
  try {
    // tsx's own dependency (pnpm does not hoist it to the root).
    const fromTsx = createRequire(realpathSync(join(repoRoot, 'node_modules/tsx/package.json')));
    esbuild = fromTsx('esbuild') as Esbuild;
  } catch {
    esbuild = null;
  }
  return esbuild;
}

const made = new Map<string, string | null>();

/**
 * The path of a plain-JavaScript copy of the TypeScript file `source` (absolute), or null when it
 * cannot be made (run the source under tsx then).
 */
export function compiled(source: string): string | null {
  const known = made.get(source);
  if (known !== undefined) return known;
  let out: string | null = null;
  const transformer = loadEsbuild();
  if (transformer !== null) {
    try {
      const { code } = transformer.transformSync(readFileSync(source, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'node20',
        sourcefile: source,
      });
      const dir = join(repoRoot, 'node_modules/.cache/evict-bench');
      mkdirSync(dir, { recursive: true });
      out = join(dir, `${basename(source, '.ts')}.mjs`);
      writeFileSync(out, code);
    } catch {
      out = null;
    }
  }
  made.set(source, out);
  return out;
}

/** Node arguments that run the TypeScript file `source`: its compiled copy, else the source under tsx. */
export function nodeArgsFor(source: string): string[] {
  const copy = compiled(source);
  return copy === null ? ['--import', 'tsx', source] : [copy];
}

/**
 * The built packages (packages/<name>/dist, what users run), not the sources: tsx's transform wraps
 * every closure in a naming helper, which would add its own cost to what a section times.
 */
export async function builtPackages(): Promise<{
  core: typeof import('@evict/core');
  redis: typeof import('@evict/redis');
}> {
  const url = (name: string) => new URL(`../../packages/${name}/dist/esm/index.js`, import.meta.url).href;
  const [core, redis] = await Promise.all([import(url('core')), import(url('redis'))]);
  return { core: core as typeof import('@evict/core'), redis: redis as typeof import('@evict/redis') };
}

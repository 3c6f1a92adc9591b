#!/usr/bin/env node
// Builds the package in the current directory with plain tsc.
//   node build-package.mjs          a library: ESM (dist/esm) and CJS (dist/cjs)
//   node build-package.mjs --plain  an example: tsc -p tsconfig.build.json as configured (dist)
// Plain tsc, not a bundler: it keeps decorator metadata (NestJS) and runs on Node 20.
//
// A build whose inputs (src/, the tsconfigs, package.json, this script, the TypeScript version) are
// byte for byte those of the last build is skipped, if dist/ is there: the package's
// node_modules/.cache/evict-build-stamp holds their hash (outside dist/, so it is never published). tsc's output
// depends on nothing else (type errors against another package are the typecheck's to find), and
// `pnpm bench` / `pnpm demo` then start in a second instead of half a minute. EVICT_FORCE_BUILD=1
// rebuilds anyway.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const run = (args) => execFileSync(process.execPath, [tsc, ...args], { stdio: 'inherit' });
const plain = process.argv.includes('--plain');
const STAMP_DIR = join('node_modules', '.cache');
const STAMP = join(STAMP_DIR, 'evict-build-stamp');

/** Every file under `dir`, in a stable order. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

function inputsHash() {
  const hash = createHash('sha256');
  const inputs = [
    ...filesUnder('src'),
    'tsconfig.build.json',
    'package.json',
    join('..', '..', 'tsconfig.base.json'),
    fileURLToPath(import.meta.url),
  ];
  for (const file of inputs) {
    hash.update(`${file}\0`);
    hash.update(existsSync(file) ? readFileSync(file) : '(none)');
  }
  hash.update(`${require('typescript/package.json').version}\0${plain}`);
  return hash.digest('hex');
}

const stamp = inputsHash();
const upToDate = existsSync('dist') && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === stamp;
if (upToDate && process.env.EVICT_FORCE_BUILD !== '1') {
  console.log(`${basename(process.cwd())}: dist is up to date (EVICT_FORCE_BUILD=1 rebuilds)`);
  process.exit(0);
}

rmSync('dist', { recursive: true, force: true });
rmSync(STAMP, { force: true });
if (plain) {
  run(['-p', 'tsconfig.build.json']);
} else {
  run(['-p', 'tsconfig.build.json', '--outDir', 'dist/esm']);
  run([
    '-p',
    'tsconfig.build.json',
    '--outDir',
    'dist/cjs',
    '--module',
    'commonjs',
    '--moduleResolution',
    'node10',
  ]);
  // The package is "type": "module"; this marker makes Node read dist/cjs as CommonJS.
  mkdirSync(join('dist', 'cjs'), { recursive: true });
  writeFileSync(join('dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
}
mkdirSync(STAMP_DIR, { recursive: true });
writeFileSync(STAMP, stamp);

#!/usr/bin/env node
// Builds the package in the current directory twice with plain tsc: ESM (dist/esm) and CJS (dist/cjs).
// Plain tsc, not a bundler: it keeps decorator metadata (NestJS) and runs on Node 20.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const run = (args) => execFileSync(process.execPath, [tsc, ...args], { stdio: 'inherit' });

rmSync('dist', { recursive: true, force: true });
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

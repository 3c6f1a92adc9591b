#!/usr/bin/env node
// `pnpm build`: `tsc -b tsconfig.build.json` (arguments pass through: `--force`, `--verbose`), which
// builds every package and example after its references and skips the projects already up to date.
// tsc -b trusts a project's tsconfig.tsbuildinfo, so each one lives inside its outDir (deleting a dist
// rebuilds it) and the packages' "files" leave it out. Outputs of a deleted source stay: delete dist.
// Then each library's dist/cjs gets its marker package.json: the packages are "type": "module", and
// without it Node and TypeScript would read the CommonJS build as ESM.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json', ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
  });
} catch {
  process.exit(1);
}

for (const name of readdirSync(join(root, 'packages'))) {
  const cjs = join(root, 'packages', name, 'dist', 'cjs');
  if (existsSync(cjs)) writeFileSync(join(cjs, 'package.json'), '{ "type": "commonjs" }\n');
}

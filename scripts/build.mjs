#!/usr/bin/env node
// `pnpm build`: `tsc -b tsconfig.build.json` (arguments pass through: `--force`, `--verbose`), which
// builds every package and example after its references and skips the projects already up to date.
// tsc -b trusts a project's tsconfig.tsbuildinfo, so each one lives inside its outDir (deleting a dist
// rebuilds it) and the packages' "files" leave it out. tsc -b never deletes the outputs of a source
// that was deleted or renamed: they are pruned here, so that a pull that moves a file needs no clean.
// Then each library's dist/cjs gets its marker package.json: the packages are "type": "module", and
// without it Node and TypeScript would read the CommonJS build as ESM.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

const OUTPUT = /^(.+?)(?:\.d\.ts|\.js)(?:\.map)?$/;

/** Deletes the outputs under `out` whose source `src/<path>.ts` is gone. */
function pruneOrphans(src, out) {
  if (!existsSync(out)) return;
  for (const entry of readdirSync(out, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath ?? entry.path, entry.name);
    const built = OUTPUT.exec(file.slice(out.length + 1));
    if (built !== null && !existsSync(join(src, `${built[1]}.ts`))) rmSync(file);
  }
}

for (const folder of ['packages', 'examples']) {
  for (const name of readdirSync(join(root, folder))) {
    const dir = join(root, folder, name);
    for (const out of ['dist/esm', 'dist/cjs', 'dist']) {
      if (out === 'dist' && existsSync(join(dir, 'dist', 'esm'))) continue;
      pruneOrphans(join(dir, 'src'), join(dir, out));
    }
  }
}

for (const name of readdirSync(join(root, 'packages'))) {
  const cjs = join(root, 'packages', name, 'dist', 'cjs');
  if (existsSync(cjs)) writeFileSync(join(cjs, 'package.json'), '{ "type": "commonjs" }\n');
}

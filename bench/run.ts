/**
 * The benchmark runner: `tsx bench/run.ts [--quick] [--only id,id]` (`pnpm bench` builds first).
 * Runs every section in bench/sections (ordered by title), then writes bench/results.json (the raw
 * figures) and BENCHMARKS.md (with bench/FINDINGS.md, written by hand, after the summary). A section
 * that throws is reported as failed and the run goes on. `--only` runs some sections and puts their
 * outcomes in place of the same sections of the existing bench/results.json (of the same mode), so
 * BENCHMARKS.md keeps the rest and says which sections ran later. `--quick` (shorter, for a look)
 * writes to bench/quick/ instead, which git ignores. `--render` writes BENCHMARKS.md again from
 * bench/results.json without running anything.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchOptions, BenchResult, BenchSection, BenchTable, BenchTarget } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

interface SectionOutcome {
  id: string;
  title: string;
  file: string;
  seconds: number;
  /** When the section ran, if not in the run the file is dated by (it was re-run with `--only`). */
  date?: string;
  result?: BenchResult;
  error?: string;
}

interface Machine {
  cpuModel: string;
  cpuCount: number;
  totalMemoryGiB: number;
  os: string;
  node: string;
  redis: string;
}

function parseArgs(argv: string[]): { quick: boolean; render: boolean; only?: Set<string> } {
  let quick = false;
  let render = false;
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    if (arg === '--quick') quick = true;
    else if (arg === '--render') render = true;
    else if (arg === '--only') only = new Set((argv[++i] ?? '').split(',').filter((s) => s !== ''));
    else if (arg.startsWith('--only='))
      only = new Set(
        arg
          .slice(7)
          .split(',')
          .filter((s) => s !== ''),
      );
    else
      throw new Error(`unknown argument ${arg}; usage: tsx bench/run.ts [--quick] [--only id,id] [--render]`);
  }
  return only === undefined ? { quick, render } : { quick, render, only };
}

async function redisVersion(redisUrl: string): Promise<string> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch (error) {
    return `unreachable at ${redisUrl} (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    client.disconnect();
  }
}

async function machine(redisUrl: string): Promise<Machine> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    node: process.version,
    redis: await redisVersion(redisUrl),
  };
}

async function loadSections(): Promise<Array<{ file: string; section: BenchSection }>> {
  const dir = join(here, 'sections');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
    .sort();
  const found: Array<{ file: string; section: BenchSection }> = [];
  for (const file of files) {
    let module: { section?: BenchSection };
    try {
      module = (await import(pathToFileURL(join(dir, file)).href)) as { section?: BenchSection };
    } catch (error) {
      // A section that does not even load is reported as failed, like one that throws.
      const id = file.replace(/\.ts$/, '');
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      found.push({
        file,
        section: {
          id,
          title: `${id} (did not load)`,
          run: () => Promise.reject(new Error(`bench/sections/${file} did not load: ${message}`)),
        },
      });
      continue;
    }
    if (module.section === undefined || typeof module.section.run !== 'function') {
      process.stderr.write(`bench: ${file} exports no section; skipped\n`);
      continue;
    }
    found.push({ file, section: module.section });
  }
  return found.sort((a, b) => a.section.title.localeCompare(b.section.title, 'en', { numeric: true }));
}

const cell = (value: number | string | undefined) =>
  value === undefined ? '' : String(value).replaceAll('|', '\\|').replaceAll('\n', ' ');

function markdownTable(table: BenchTable): string {
  const lines = [
    `| contender | ${table.columns.map(cell).join(' | ')} |`,
    `| --- | ${table.columns.map(() => '---:').join(' | ')} |`,
    ...table.rows.map(
      (row) => `| ${cell(row.name)} | ${table.columns.map((c) => cell(row.figures[c])).join(' | ')} |`,
    ),
  ];
  return `**${table.title}**\n\n${lines.join('\n')}`;
}

/** A target's result as the tables word it. */
function verdictOf(target: BenchTarget, sentence = false): string {
  if (target.met) return sentence ? 'Met' : 'met';
  return target.inconclusive ? (sentence ? 'Inconclusive' : 'inconclusive') : '**NOT met**';
}

function targetsTable(rows: Array<{ section: string; target: BenchTarget }>): string {
  const lines = [
    '| section | target | result | measured | note |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      ({ section, target }) =>
        `| ${cell(section)} | ${cell(target.target)} | ${verdictOf(target)} | ${cell(target.measured)} | ${cell(target.note)} |`,
    ),
  ];
  return lines.join('\n');
}

interface Results {
  date: string;
  command: string;
  quick: boolean;
  machine: Machine;
  totalSeconds: number;
  sections: SectionOutcome[];
}

/**
 * Where a run's figures go: a full run's are the repository's (bench/results.json, BENCHMARKS.md);
 * a quick run's go to bench/quick/, which git ignores, so that a quick look leaves the tree as it was.
 */
const outputOf = (quick: boolean) =>
  quick
    ? { results: join(here, 'quick', 'results.json'), markdown: join(here, 'quick', 'BENCHMARKS.md') }
    : { results: join(here, 'results.json'), markdown: join(root, 'BENCHMARKS.md') };

function markdown({
  date,
  command,
  quick,
  machine: info,
  sections: outcomes,
  totalSeconds,
}: Results): string {
  const allTargets = outcomes.flatMap((o) =>
    (o.result?.targets ?? []).map((target) => ({ section: o.title, target })),
  );
  const met = allTargets.filter((t) => t.target.met).length;
  const failed = outcomes.filter((o) => o.error !== undefined);
  const parts: string[] = [
    '# Benchmarks',
    'Generated by `bench/run.ts`; do not edit by hand. The raw figures are in `bench/results.json`.',
    [
      'How to run (from a fresh clone; Redis on 127.0.0.1:6379 or `REDIS_URL`):',
      '',
      '```sh',
      'npx --yes pnpm@10 install && npx --yes pnpm@10 bench           # the full run, under 10 minutes with its build',
      'npx --yes pnpm@10 bench --quick                                 # under a minute after the build; indicative only',
      'npx --yes pnpm@10 bench --only http                             # some sections again (by id), in place of theirs in the last run',
      'npx --yes pnpm@10 bench --only instructions                     # section 8, opt-in: instructions per request under valgrind (about 9 minutes)',
      '```',
    ].join('\n'),
    [
      `- Date: ${date}`,
      `- Command: \`${command}\` (\`pnpm bench\` runs \`pnpm build\` first)${quick ? ' (quick mode: short, single rounds; indicative figures only)' : ''}`,
      `- Machine: ${info.cpuCount} × ${info.cpuModel}, ${info.totalMemoryGiB} GiB RAM, ${info.os}`,
      `- Node.js ${info.node}, Redis ${info.redis}`,
      `- Duration: ${totalSeconds.toFixed(0)} s`,
    ].join('\n'),
    '## Summary of the targets',
    allTargets.length === 0
      ? 'No section reported a target.'
      : `${met} of ${allTargets.length} targets met${failed.length > 0 ? `; ${failed.length} section(s) failed (below)` : ''}.\n\n${targetsTable(allTargets)}`,
  ];
  // What profiling found and what was changed for it: written by hand, kept beside the runner.
  const findings = join(here, 'FINDINGS.md');
  if (existsSync(findings)) parts.push(readFileSync(findings, 'utf8').trim());
  for (const outcome of outcomes) {
    parts.push(`## ${outcome.title}`);
    if (outcome.error !== undefined) {
      parts.push(
        `**This section FAILED** after ${outcome.seconds.toFixed(1)} s (\`bench/sections/${outcome.file}\`):\n\n\`\`\`\n${outcome.error}\n\`\`\``,
      );
      continue;
    }
    const result = outcome.result!;
    const rerun =
      outcome.date === undefined ? '' : `, run on its own on ${outcome.date} (\`--only ${outcome.id}\`)`;
    parts.push(`\`bench/sections/${outcome.file}\`, ${outcome.seconds.toFixed(1)} s${rerun}.`);
    for (const table of result.tables) parts.push(markdownTable(table));
    if (result.targets.length > 0) {
      parts.push(
        result.targets
          .map(
            (t) =>
              `- ${verdictOf(t, true)}: ${t.target}: ${t.measured}${t.note === undefined ? '' : `. ${t.note}`}`,
          )
          .join('\n'),
      );
    }
    for (const note of result.notes) parts.push(note);
  }
  return `${parts.join('\n\n')}\n`;
}

/** The run on file (full, or quick), if there is one. */
function readResults(quick: boolean): Results | undefined {
  const file = outputOf(quick).results;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : undefined;
}

function writeResults(results: Results): void {
  const out = outputOf(results.quick);
  mkdirSync(dirname(out.results), { recursive: true });
  writeFileSync(out.results, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(out.markdown, markdown(results));
}

/** Writes BENCHMARKS.md again from bench/results.json (after editing FINDINGS.md or the layout), running nothing. */
function render(): void {
  const results = readResults(false);
  if (results === undefined)
    throw new Error(`--render: no ${outputOf(false).results}; run the benchmark first`);
  writeResults(results);
  process.stderr.write(`bench: rendered BENCHMARKS.md from the run of ${results.date}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) return render();
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const started = Date.now();
  const date = new Date(started).toISOString();
  const command = ['tsx bench/run.ts', ...process.argv.slice(2)].join(' ');
  const options: BenchOptions = {
    quick: args.quick,
    redisUrl,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const info = await machine(redisUrl);
  options.log(`bench: ${info.cpuCount} × ${info.cpuModel}, Node ${info.node}, Redis ${info.redis}`);
  const all = await loadSections();
  const sections = all.filter(({ section }) =>
    args.only === undefined ? section.optIn !== true : args.only.has(section.id),
  );
  const optIn = new Set(all.filter(({ section }) => section.optIn === true).map(({ section }) => section.id));
  if (args.only !== undefined) {
    const known = new Set(sections.map((s) => s.section.id));
    for (const id of args.only) if (!known.has(id)) throw new Error(`--only: no section with id ${id}`);
  }
  options.log(
    `bench: ${sections.length} section(s) loaded at ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const outcomes: SectionOutcome[] = [];
  for (const { file, section } of sections) {
    options.log(`bench: ${section.title} (${file})`);
    const t0 = performance.now();
    try {
      const result = await section.run(options);
      outcomes.push({
        id: section.id,
        title: section.title,
        file,
        seconds: (performance.now() - t0) / 1000,
        result,
      });
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      options.log(`bench: ${section.title} FAILED: ${message}`);
      outcomes.push({
        id: section.id,
        title: section.title,
        file,
        seconds: (performance.now() - t0) / 1000,
        error: message,
      });
    }
    options.log(`bench: ${section.id} took ${outcomes[outcomes.length - 1]!.seconds.toFixed(1)} s`);
  }
  const totalSeconds = (Date.now() - started) / 1000;
  let results: Results = {
    date,
    command,
    quick: args.quick,
    machine: info,
    totalSeconds,
    sections: [...outcomes],
  };
  // The run on file, if of the same mode (quick figures are never mixed with full ones).
  const onFile = readResults(args.quick);
  if (onFile !== undefined && onFile.quick === args.quick) {
    if (args.only === undefined) {
      // A full run does not run the opt-in sections: their last outcome stays, with its date.
      for (const kept of onFile.sections) {
        if (kept.error === undefined && optIn.has(kept.id))
          results.sections.push({ ...kept, date: kept.date ?? onFile.date });
      }
    } else {
      // Some sections only: in place of theirs in the run on file, so that one section can be
      // measured again without throwing away (or re-running for minutes) the others.
      const fresh = new Map(outcomes.map((o) => [o.id, { ...o, date }]));
      const merged = onFile.sections.map((o) => fresh.get(o.id) ?? o);
      for (const o of fresh.values()) if (!onFile.sections.some((p) => p.id === o.id)) merged.push(o);
      results = { ...onFile, sections: merged };
      options.log(`bench: merged ${[...fresh.keys()].join(', ')} into the run of ${onFile.date}`);
    }
  }
  results.sections.sort((a, b) => a.title.localeCompare(b.title, 'en', { numeric: true }));
  writeResults(results);
  const targets = outcomes.flatMap((o) => o.result?.targets ?? []);
  options.log(
    `bench: wrote ${args.quick ? 'bench/quick/BENCHMARKS.md and bench/quick/results.json' : 'BENCHMARKS.md and bench/results.json'} in ${totalSeconds.toFixed(0)} s (${outcomes.map((o) => `${o.id} ${o.seconds.toFixed(0)} s`).join(', ')}): ${targets.filter((t) => t.met).length}/${targets.length} targets met, ${outcomes.filter((o) => o.error !== undefined).length} section(s) failed`,
  );
  // Sections may leave handles (clients, timers) behind; the run is over.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

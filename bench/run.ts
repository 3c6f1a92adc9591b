/**
 * The benchmark runner: `tsx bench/run.ts [--quick] [--only id,id] [--keep name]` (`pnpm bench`
 * builds first). Runs every section in bench/sections (ordered by title), then writes
 * bench/results.json (the raw figures), the charts (bench/charts/*.svg, drawn from those figures by
 * bench/charts.ts) and BENCHMARKS.md (with bench/FINDINGS.md, written by hand, after the summary). A
 * section that throws is reported as failed and the run goes on. `--only` runs some sections and
 * puts their outcomes in place of the same sections of the existing bench/results.json (of the same
 * mode), so BENCHMARKS.md keeps the rest, says which sections ran later and counts their targets
 * apart from the run's. `--quick` (shorter, for a look) writes to bench/quick/ instead, which git
 * ignores. `--render` writes BENCHMARKS.md and the charts again from bench/results.json without
 * running anything. A full run (no `--only`, not quick) also keeps its results as
 * bench/runs/<date>.json, or as bench/runs/<name>.json with `--keep name`, so that figures quoted
 * from it later come with their file. `--compare a.json b.json [--out file.md]` writes the targets
 * of two kept runs side by side.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Chart, drawCharts } from './charts.js';
import {
  type BenchOptions,
  type BenchRun,
  type BenchSection,
  type BenchTable,
  type BenchTarget,
  type Machine,
  type SectionOutcome,
  type Verdict,
  verdictOf as verdictKind,
} from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

interface Args {
  quick: boolean;
  render: boolean;
  only?: Set<string>;
  /** `--keep name`: the name the run's results are kept under in bench/runs/. */
  keep?: string;
  /** `--compare a.json b.json`: the two results files to set side by side. */
  compare?: [string, string];
  /** `--out file`: where `--compare` writes (stdout otherwise). */
  out?: string;
}

const USAGE =
  'usage: tsx bench/run.ts [--quick] [--only id,id] [--keep name] | --render [--keep name] | --compare a.json b.json [--out file.md]';

function parseArgs(argv: string[]): Args {
  let quick = false;
  let render = false;
  let only: Set<string> | undefined;
  let keep: string | undefined;
  let compare: [string, string] | undefined;
  let out: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    if (arg === '--quick') quick = true;
    else if (arg === '--render') render = true;
    else if (arg === '--keep') {
      keep = argv[++i] ?? '';
      if (!/^[\w.-]+$/.test(keep))
        throw new Error(`--keep: a file name of letters, digits, '.', '-' or '_'; ${USAGE}`);
    } else if (arg === '--compare') {
      const [a, b] = [argv[++i], argv[++i]];
      if (a === undefined || b === undefined) throw new Error(`--compare needs two results files; ${USAGE}`);
      compare = [a, b];
    } else if (arg === '--out') out = argv[++i];
    else if (arg === '--only') only = new Set((argv[++i] ?? '').split(',').filter((s) => s !== ''));
    else if (arg.startsWith('--only='))
      only = new Set(
        arg
          .slice(7)
          .split(',')
          .filter((s) => s !== ''),
      );
    else throw new Error(`unknown argument ${arg}; ${USAGE}`);
  }
  return {
    quick,
    render,
    ...(only === undefined ? {} : { only }),
    ...(keep === undefined ? {} : { keep }),
    ...(compare === undefined ? {} : { compare }),
    ...(out === undefined ? {} : { out }),
  };
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
  const words: Record<Verdict, [string, string]> = {
    met: ['met', 'Met'],
    inconclusive: ['inconclusive', 'Inconclusive'],
    'not met': ['**NOT met**', '**NOT met**'],
  };
  return words[verdictKind(target)][sentence ? 1 : 0];
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

/** "5 met, 3 not met, 4 inconclusive (of 12 targets)". */
function countsOf(targets: BenchTarget[]): string {
  const count = (v: Verdict) => targets.filter((t) => verdictKind(t) === v).length;
  return `${count('met')} met, ${count('not met')} not met, ${count('inconclusive')} inconclusive (of ${targets.length} targets)`;
}

/** The summary: the run's own targets, and apart from them those of sections run at other times. */
function summaryOf(outcomes: SectionOutcome[], date: string): string {
  const rowsOf = (list: SectionOutcome[]) =>
    list.flatMap((o) => (o.result?.targets ?? []).map((target) => ({ section: o.title, target })));
  const own = outcomes.filter((o) => o.date === undefined);
  const apart = outcomes.filter((o) => o.date !== undefined);
  const failed = outcomes.filter((o) => o.error !== undefined);
  const parts: string[] = [];
  const ownRows = rowsOf(own);
  parts.push(
    ownRows.length === 0
      ? `The run of ${date} reported no target.`
      : `**The run of ${date}: ${countsOf(ownRows.map((r) => r.target))}**${failed.length > 0 ? `; ${failed.length} section(s) failed (below)` : ''}. "Inconclusive": the figure is nearer its bound than the run's own noise (bench/report.ts, \`judge\`), so neither met nor not met.\n\n${targetsTable(ownRows)}`,
  );
  const apartRows = rowsOf(apart);
  if (apartRows.length > 0) {
    parts.push(
      `**Sections run on their own, at other times (not counted above): ${countsOf(apartRows.map((r) => r.target))}.** ${apart
        .filter((o) => (o.result?.targets.length ?? 0) > 0)
        .map((o) => `${o.title}: ${o.date}`)
        .join('; ')}.\n\n${targetsTable(apartRows)}`,
    );
  }
  return parts.join('\n\n');
}

/** Where the charts are drawn, and how BENCHMARKS.md (beside `markdown`) links them. */
function chartsSection(
  charts: Chart[],
  markdownFile: string,
  chartsDir: string,
  resultsFile: string,
): string {
  const link = relative(dirname(markdownFile), chartsDir).split('\\').join('/');
  const parts = [
    `Drawn by the runner (bench/charts.ts, Vega-Lite) from this run's own figures in \`${relative(root, resultsFile)}\`${resultsFile === outputOf(false).results ? '; `tsx bench/run.ts --render` draws them again' : ''}. The tables are below.`,
  ];
  for (const chart of charts) {
    parts.push(
      chart.svg === undefined
        ? `*${chart.title}: not drawn, ${chart.absent}.*`
        : `![${chart.title}](${link}/${chart.file})\n\n${chart.caption}`,
    );
  }
  return parts.join('\n\n');
}

type Results = BenchRun;

/**
 * Where a run's figures go: a full run's are the repository's (bench/results.json, BENCHMARKS.md);
 * a quick run's go to bench/quick/, which git ignores, so that a quick look leaves the tree as it was.
 */
const outputOf = (quick: boolean) =>
  quick
    ? {
        results: join(here, 'quick', 'results.json'),
        markdown: join(here, 'quick', 'BENCHMARKS.md'),
        charts: join(here, 'quick', 'charts'),
      }
    : {
        results: join(here, 'results.json'),
        markdown: join(root, 'BENCHMARKS.md'),
        charts: join(here, 'charts'),
      };

/** Where full runs' results are kept, one file each, for figures quoted from them later. */
const RUNS = join(here, 'runs');

function markdown(
  { date, command, quick, machine: info, sections: outcomes, totalSeconds }: Results,
  charts: Chart[],
): string {
  const out = outputOf(quick);
  // Durations as measured, not promised: the full run's from this run, section 8's from its last run.
  const fullRun = quick
    ? 'the full run'
    : `the full run (this one took ${Math.round(totalSeconds / 60)} minutes, build aside)`;
  const instructions = outcomes.find((o) => o.id === 'instructions');
  const instructionsTook =
    instructions === undefined ? '' : ` (${Math.round(instructions.seconds / 60)} minutes when it last ran)`;
  const parts: string[] = [
    '# Benchmarks',
    'Generated by `bench/run.ts`; do not edit by hand. The raw figures are in `bench/results.json`.',
    '## Charts',
    chartsSection(charts, out.markdown, out.charts, out.results),
    [
      'How to run (from a fresh clone; Redis on 127.0.0.1:6379 or `REDIS_URL`):',
      '',
      '```sh',
      `npx --yes pnpm@10 install && npx --yes pnpm@10 bench           # ${fullRun}`,
      'npx --yes pnpm@10 bench --quick                                 # under a minute after the build; indicative only',
      'npx --yes pnpm@10 bench --only http                             # some sections again (by id), in place of theirs in the last run',
      `npx --yes pnpm@10 bench --only instructions                     # section 8, opt-in: instructions per request under valgrind${instructionsTook}`,
      "npx tsx bench/run.ts --compare bench/runs/a.json bench/runs/b.json  # two kept runs' targets side by side",
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
    summaryOf(outcomes, date),
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

/** Writes the results, the charts drawn from them and BENCHMARKS.md; keeps a copy when asked. */
async function writeResults(results: Results, keep?: string): Promise<void> {
  const out = outputOf(results.quick);
  mkdirSync(dirname(out.results), { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(out.results, json);
  const charts = await drawCharts(results);
  mkdirSync(out.charts, { recursive: true });
  for (const chart of charts) {
    const file = join(out.charts, chart.file);
    // A chart this run cannot draw must not be left showing another run's figures.
    if (chart.svg === undefined) rmSync(file, { force: true });
    else writeFileSync(file, chart.svg);
  }
  writeFileSync(out.markdown, markdown(results, charts));
  if (keep !== undefined) {
    mkdirSync(RUNS, { recursive: true });
    const kept = join(RUNS, `${keep}.json`);
    writeFileSync(kept, json);
    process.stderr.write(`bench: kept the results as ${relative(root, kept)}\n`);
  }
}

/** Writes BENCHMARKS.md and the charts again from bench/results.json (after editing FINDINGS.md or the layout), running nothing. */
async function render(keep?: string): Promise<void> {
  const results = readResults(false);
  if (results === undefined)
    throw new Error(`--render: no ${outputOf(false).results}; run the benchmark first`);
  await writeResults(results, keep);
  process.stderr.write(`bench: rendered BENCHMARKS.md and bench/charts/ from the run of ${results.date}\n`);
}

/** A target's identity across runs: its section and its words, with the figures in them (a rate, a count) left out. */
const targetKey = (sectionId: string, target: BenchTarget) =>
  `${sectionId}\u0000${target.target.replace(/[\d,.]+/g, '#')}`;

/** The targets of two results files side by side, as markdown. */
function compareRuns(a: { file: string; run: BenchRun }, b: { file: string; run: BenchRun }): string {
  const rowsOf = (run: BenchRun) =>
    run.sections.flatMap((o) =>
      (o.result?.targets ?? []).map((target) => ({ key: targetKey(o.id, target), outcome: o, target })),
    );
  const left = rowsOf(a.run);
  const right = rowsOf(b.run);
  const keys = [...new Set([...left, ...right].map((r) => r.key))];
  const side = (row: { outcome: SectionOutcome; target: BenchTarget } | undefined) =>
    row === undefined
      ? ['not in this run', '']
      : [
          `${verdictOf(row.target)}${row.outcome.date === undefined ? '' : ` (on its own, ${row.outcome.date})`}`,
          cell(row.target.measured),
        ];
  const counted = (rows: typeof left) =>
    countsOf(rows.filter((r) => r.outcome.date === undefined).map((r) => r.target));
  const heading = (label: string, x: { file: string; run: BenchRun }) =>
    `- ${label}: [${basename(x.file)}](${x.file}), ${x.run.date}, \`${x.run.command}\`${x.run.quick ? ' (quick)' : ''}, ${x.run.machine.cpuCount} × ${x.run.machine.cpuModel}, Node.js ${x.run.machine.node}: ${counted(x === a ? left : right)} in the run itself`;
  const lines = [
    heading('A', a),
    heading('B', b),
    '',
    'Each verdict is as its own run judged it (a run from before the noise rule has no "inconclusive"); a section re-run on its own (`--only`) says when, and is not in its run\'s count.',
    '',
    '| section | target | A | A measured | B | B measured |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const key of keys) {
    const l = left.find((r) => r.key === key);
    const r = right.find((x) => x.key === key);
    const any = (l ?? r)!;
    lines.push(
      `| ${cell(any.outcome.title)} | ${cell(any.target.target)} | ${side(l).join(' | ')} | ${side(r).join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function compare(files: [string, string], out?: string): void {
  const load = (file: string) => ({
    file: relative(out === undefined ? process.cwd() : dirname(resolve(out)), resolve(file))
      .split('\\')
      .join('/'),
    run: JSON.parse(readFileSync(file, 'utf8')) as BenchRun,
  });
  const table = compareRuns(load(files[0]), load(files[1]));
  if (out === undefined) process.stdout.write(table);
  else {
    writeFileSync(out, table);
    process.stderr.write(`bench: wrote ${out}\n`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.compare !== undefined) return compare(args.compare, args.out);
  if (args.render) return render(args.keep);
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
  // A full run is kept whole, so that its figures can be quoted (and compared) later with their file.
  const keep =
    args.keep ??
    (args.only === undefined && !args.quick ? date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z') : undefined);
  await writeResults(results, keep);
  const targets = outcomes.flatMap((o) => o.result?.targets ?? []);
  options.log(
    `bench: wrote ${args.quick ? 'bench/quick/BENCHMARKS.md and bench/quick/results.json' : 'BENCHMARKS.md and bench/results.json'} in ${totalSeconds.toFixed(0)} s (${outcomes.map((o) => `${o.id} ${o.seconds.toFixed(0)} s`).join(', ')}): ${countsOf(targets)}, ${outcomes.filter((o) => o.error !== undefined).length} section(s) failed`,
  );
  // Sections may leave handles (clients, timers) behind; the run is over.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

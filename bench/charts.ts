/**
 * The charts at the top of BENCHMARKS.md, drawn from a run's own figures (bench/results.json) with
 * Vega-Lite, compiled to Vega and rendered to SVG in Node (no browser, no canvas: SVG text needs no
 * font metrics beyond Vega's estimate). Rules:
 * - every number drawn comes from the run passed in; nothing is typed in here;
 * - a chart whose figures the run lacks (a section not run, failed, or from before it kept them) is
 *   not drawn: it comes back with `absent` saying why, and BENCHMARKS.md says so in its place;
 * - the specs are plain data, so that a chart can be changed without knowing Vega's API.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { BenchRun, BenchTable, SectionOutcome } from './report.js';

export interface Chart {
  /** Its file name in the charts directory, e.g. `guard-instructions.svg`. */
  file: string;
  title: string;
  /** What it shows and which figures of the run it draws, under the image. */
  caption: string;
  /** The SVG, when the run had the figures. */
  svg?: string;
  /** Why it was not drawn, when the run lacked the figures. */
  absent?: string;
}

type Drawn = { spec: TopLevelSpec; caption: string } | { absent: string };

interface ChartPlan {
  file: string;
  title: string;
  build(run: BenchRun): Drawn;
}

const WIDTH = 560;

/** The contenders down the side, in the tables' order. */
const CONTENDER = {
  field: 'contender',
  type: 'nominal',
  sort: null,
  title: null,
  axis: { labelLimit: 360 },
} as const;

/** The section's result, or why there is none. */
function sectionOf(run: BenchRun, id: string): SectionOutcome | string {
  const outcome = run.sections.find((s) => s.id === id);
  if (outcome === undefined) return `section \`${id}\` is not in this run`;
  if (outcome.result === undefined) return `section \`${id}\` failed in this run`;
  return outcome;
}

/** A number from a table cell ("545.9, 567.6 k" gives several); NaN for a dash or text. */
function numbersOf(cell: number | string | undefined): number[] {
  if (typeof cell === 'number') return [cell];
  if (cell === undefined) return [];
  const scale = /\bk\s*$/.test(cell) ? 1e3 : /\bM\s*$/.test(cell) ? 1e6 : 1;
  return cell
    .replace(/\s*[kM]\s*$/, '')
    .split(',')
    .map((part) => Number(part.trim()) * scale)
    .filter((n) => Number.isFinite(n));
}

/** Section 8: each contender's instructions per request against its bare framework's. */
function guardInstructions(run: BenchRun): Drawn {
  const outcome = sectionOf(run, 'instructions');
  if (typeof outcome === 'string') return { absent: outcome };
  const table = outcome.result!.tables.find((t) => t.title.startsWith('Instructions per request'));
  if (table === undefined) return { absent: 'section 8 has no table of instructions per request' };
  const points: Array<Record<string, string | number>> = [];
  let framework = '';
  let bare = Number.NaN;
  for (const row of table.rows) {
    const value = numbersOf(row.figures['instructions/request'])[0] ?? Number.NaN;
    if (row.name.startsWith('bare ')) {
      framework = row.name.slice(5).split(' ')[0]!;
      bare = value;
    }
    if (framework === '' || !Number.isFinite(bare) || !Number.isFinite(value)) continue;
    points.push({ contender: row.name, framework, kind: 'median', ratio: value / bare });
    for (const window of numbersOf(row.figures.windows))
      points.push({ contender: row.name, framework, kind: 'window', ratio: window / bare });
  }
  if (points.length === 0) return { absent: 'section 8 counted no bare framework' };
  return {
    caption: `Section 8 (callgrind, ${outcome.date === undefined ? 'this run' : `run on its own on ${outcome.date}`}): each contender's instructions per request divided by its bare framework's median; the tick is the contender's median, the dots its windows. Left of the dashed line (bare ÷ 0.95), a contender would meet target 1 if time followed instructions.`,
    spec: ratioDotsSpec({
      title: 'Guard cost: instructions per request against the bare framework (section 8)',
      points,
      dotKind: 'window',
      dot: { size: 18, opacity: 0.6 },
      xTitle: "instructions per request ÷ the bare framework's",
      rule: 1 / 0.95,
    }),
  };
}

/** Section 1: every round of every contender, over its bare framework's median req/s. */
function guardThroughput(run: BenchRun): Drawn {
  const outcome = sectionOf(run, 'http');
  if (typeof outcome === 'string') return { absent: outcome };
  const tables = outcome.result!.tables.filter((t) => t.columns.includes('rounds (req/s)'));
  const points: Array<Record<string, string | number>> = [];
  for (const table of tables) {
    const framework = table.title.split(':')[0]!.split(' ')[0]!;
    const bare = numbersOf(table.rows.find((r) => r.name.startsWith('bare '))?.figures['median req/s'])[0];
    if (bare === undefined) continue;
    for (const row of table.rows) {
      const median = numbersOf(row.figures['median req/s'])[0];
      if (median !== undefined)
        points.push({ contender: row.name, framework, kind: 'median', ratio: median / bare });
      for (const round of numbersOf(row.figures['rounds (req/s)']))
        points.push({ contender: row.name, framework, kind: 'round', ratio: round / bare });
    }
  }
  if (points.length === 0) return { absent: 'section 1 has no throughput table with its rounds' };
  return {
    caption: `Section 1 (${outcome.date === undefined ? 'this run' : `run on its own on ${outcome.date}`}): requests per second of each round over the bare framework's median, the peers beside evict on Express; the tick is the median. How far one contender's dots spread is this machine's noise, which a 5 % target has to clear (dashed: 0.95).`,
    spec: ratioDotsSpec({
      title: 'Guard cost and the peers: requests per second against the bare framework (section 1)',
      points,
      dotKind: 'round',
      dot: { size: 30, opacity: 0.7 },
      xTitle: "req/s ÷ the bare framework's median (dots: rounds)",
      rule: 0.95,
    }),
  };
}

/**
 * Contenders' ratios to their bare framework: a dot per window or round (coloured by framework), a
 * black tick at the median, and a dashed rule at the target's bound.
 */
function ratioDotsSpec(chart: {
  title: string;
  points: Array<Record<string, string | number>>;
  dotKind: string;
  dot: { size: number; opacity: number };
  xTitle: string;
  rule: number;
}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: WIDTH,
    data: { values: chart.points },
    layer: [
      {
        transform: [{ filter: `datum.kind === '${chart.dotKind}'` }],
        mark: { type: 'point', size: chart.dot.size, opacity: chart.dot.opacity, filled: true },
        encoding: {
          y: CONTENDER,
          x: { field: 'ratio', type: 'quantitative', scale: { zero: false }, title: chart.xTitle },
          color: { field: 'framework', type: 'nominal', title: 'framework', sort: null },
        },
      },
      {
        transform: [{ filter: "datum.kind === 'median'" }],
        mark: { type: 'tick', thickness: 3, color: 'black' },
        encoding: { y: CONTENDER, x: { field: 'ratio', type: 'quantitative' } },
      },
      {
        data: { values: [{ ratio: chart.rule }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: 'gray' },
        encoding: { x: { field: 'ratio', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** The nearest-rank percentile of sorted values. */
function rank(sorted: number[], p: number): number {
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at]!;
}

const PERCENTILES = [0, ...Array.from({ length: 99 }, (_, i) => i + 1), 99.5, 99.9, 100];

/** Section 5: the delay from A's answer to B, as a distribution (its samples, or its table's percentiles). */
function propagation(run: BenchRun): Drawn {
  const outcome = sectionOf(run, 'propagation');
  if (typeof outcome === 'string') return { absent: outcome };
  const result = outcome.result!;
  const points: Array<Record<string, string | number>> = [];
  let from: string;
  let sampled = false;
  if (result.samples !== undefined && result.samples.length > 0) {
    for (const series of result.samples) {
      const sorted = [...series.values].sort((a, b) => a - b);
      if (sorted.length === 0) continue;
      for (const p of PERCENTILES) points.push({ series: series.name, percentile: p, ms: rank(sorted, p) });
    }
    sampled = true;
    from = `every sample (${result.samples.map((s) => `${s.values.length} ${s.name}`).join('; ')})`;
  } else {
    // A run from before the section kept its samples: the percentiles its tables give.
    const wanted = (name: string) =>
      !name.startsWith('kick:') &&
      !name.startsWith('from sending') &&
      (name.includes('answers 401') || name.includes('sees the close'));
    const columns: Array<[string, number]> = [
      ['min ms', 0],
      ['p50 ms', 50],
      ['p90 ms', 90],
      ['p99 ms', 99],
      ['max ms', 100],
    ];
    for (const table of result.tables as BenchTable[])
      for (const row of table.rows.filter((r) => wanted(r.name)))
        for (const [column, p] of columns) {
          const ms = numbersOf(row.figures[column])[0];
          if (ms !== undefined) points.push({ series: row.name, percentile: p, ms });
        }
    from = "its tables' min, p50, p90, p99 and max only (the run kept no samples)";
  }
  if (points.length === 0) return { absent: 'section 5 has neither samples nor percentiles' };
  return {
    caption: `Section 5 (${outcome.date === undefined ? 'this run' : `run on its own on ${outcome.date}`}): milliseconds from node A's answer to node B's guard refusing the credential and to B's WebSocket client seeing the close, by percentile, from ${from}. The targets: p99 ≤ 10 ms to the guard, ≤ 25 ms to the close.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Propagation: from A’s answer to node B, by percentile (section 5)',
      width: WIDTH,
      height: 260,
      data: { values: points },
      // From samples, a step per percentile; from a table's five percentiles, only those points: what
      // lies between them was not kept.
      mark: sampled
        ? { type: 'line', point: { size: 16 }, interpolate: 'step-after' }
        : { type: 'point', size: 50, filled: true },
      encoding: {
        x: { field: 'percentile', type: 'quantitative', title: 'percentile of kicks / logouts' },
        y: {
          field: 'ms',
          type: 'quantitative',
          scale: { type: 'symlog' },
          title: 'ms after A answered (symmetric log scale)',
        },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          sort: null,
          legend: { orient: 'bottom', columns: 1, labelLimit: 520 },
        },
      },
    } as TopLevelSpec,
  };
}

/** Section 7: a kick's median cost as the user's sessions or connections grow. */
function kickCost(run: BenchRun): Drawn {
  const outcome = sectionOf(run, 'kick-cost');
  if (typeof outcome === 'string') return { absent: outcome };
  const table = outcome.result!.tables.find((t) =>
    t.title.startsWith('Median milliseconds per engine.kickUser'),
  );
  if (table === undefined) return { absent: 'section 7 has no table of milliseconds per kick' };
  const points: Array<Record<string, string | number>> = [];
  for (const row of table.rows)
    for (const column of table.columns) {
      const count = Number(column.replaceAll(',', ''));
      const ms = numbersOf(row.figures[column])[0];
      if (Number.isFinite(count) && ms !== undefined && ms > 0) points.push({ series: row.name, count, ms });
    }
  if (points.length === 0) return { absent: 'section 7 measured no kick' };
  return {
    caption: `Section 7 (${outcome.date === undefined ? 'this run' : `run on its own on ${outcome.date}`}): median milliseconds per engine.kickUser against how many sessions or connections the user has, both axes logarithmic; a count the section did not run is not drawn.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Kick cost as sessions and connections grow (section 7)',
      width: WIDTH,
      height: 260,
      data: { values: points },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'count',
          type: 'quantitative',
          scale: { type: 'log' },
          title: 'sessions or connections of the user kicked',
        },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms per kick (median)' },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          sort: null,
          legend: { orient: 'bottom', columns: 2, labelLimit: 360 },
        },
      },
    } as TopLevelSpec,
  };
}

const PLANS: ChartPlan[] = [
  {
    file: 'guard-instructions.svg',
    title: 'Guard cost in instructions (section 8)',
    build: guardInstructions,
  },
  {
    file: 'guard-throughput.svg',
    title: 'Guard cost and the peers in req/s (section 1)',
    build: guardThroughput,
  },
  { file: 'propagation.svg', title: 'Propagation latency (section 5)', build: propagation },
  { file: 'kick-cost.svg', title: 'Kick cost (section 7)', build: kickCost },
];

/** Draws every chart of a run; one the run lacks the figures for comes back `absent`. */
export async function drawCharts(run: BenchRun): Promise<Chart[]> {
  // Loaded here so that a run that never draws (a section's child process) does not pay for Vega.
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const charts: Chart[] = [];
  for (const plan of PLANS) {
    const drawn = plan.build(run);
    if ('absent' in drawn) {
      charts.push({ file: plan.file, title: plan.title, caption: '', absent: drawn.absent });
      continue;
    }
    const spec = { ...drawn.spec, config: { background: 'white', font: 'sans-serif' } } as TopLevelSpec;
    const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
    try {
      charts.push({ file: plan.file, title: plan.title, caption: drawn.caption, svg: await view.toSVG() });
    } finally {
      view.finalize();
    }
  }
  return charts;
}

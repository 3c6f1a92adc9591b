/**
 * What every benchmark section returns, and what `bench/run.ts` turns into BENCHMARKS.md and
 * bench/results.json. Each section lives in `bench/sections/<id>.ts` and exports `section`.
 */

export interface BenchOptions {
  /** `--quick`: fewer, shorter rounds; the whole run under a minute. */
  quick: boolean;
  /** Where Redis is (REDIS_URL, default redis://127.0.0.1:6379). */
  redisUrl: string;
  /** Prints progress to stderr. */
  log(line: string): void;
}

/** One contender's figures, e.g. `{ name: 'express + evict guard (memory)', figures: { 'req/s': 21000, 'ratio to bare': 0.97 } }`. */
export interface BenchRow {
  name: string;
  figures: Record<string, number | string>;
}

export interface BenchTable {
  title: string;
  /** The columns, in order; each row's `figures` keys. */
  columns: string[];
  rows: BenchRow[];
}

/** A target from the issue, and whether this run met it. */
export interface BenchTarget {
  target: string;
  measured: string;
  met: boolean;
  /** Neither met nor missed: the difference is inside the run's own noise (shown instead of "NOT met"). */
  inconclusive?: boolean;
  /** Why, when not met (or anything worth knowing). */
  note?: string;
}

/** Every measurement of one figure, kept so that a chart can draw its distribution. */
export interface BenchSamples {
  /** What was measured, e.g. "B's guard answers 401 after a kick". */
  name: string;
  /** The unit of `values`, e.g. "ms". */
  unit: string;
  values: number[];
}

export interface BenchResult {
  tables: BenchTable[];
  targets: BenchTarget[];
  /** Method and findings, one paragraph each, in plain words. */
  notes: string[];
  /** The raw measurements behind some figures (kept in results.json, drawn by bench/charts.ts). */
  samples?: BenchSamples[];
}

export interface BenchSection {
  /** Stable id, e.g. 'guard-overhead'. */
  id: string;
  /** The heading in BENCHMARKS.md, e.g. '1. Guard overhead'. */
  title: string;
  /**
   * Runs only when named with `--only` (it takes minutes, or needs a tool the machine may lack); a
   * full run keeps its last outcome from bench/results.json.
   */
  optIn?: boolean;
  run(options: BenchOptions): Promise<BenchResult>;
}

/** One section's outcome in a run, as bench/results.json keeps it. */
export interface SectionOutcome {
  id: string;
  title: string;
  file: string;
  seconds: number;
  /** When the section ran, if not in the run the file is dated by (it was re-run with `--only`). */
  date?: string;
  result?: BenchResult;
  error?: string;
}

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  totalMemoryGiB: number;
  os: string;
  node: string;
  redis: string;
}

/** A run as bench/results.json keeps it. */
export interface BenchRun {
  date: string;
  command: string;
  quick: boolean;
  machine: Machine;
  totalSeconds: number;
  sections: SectionOutcome[];
}

/** The median of a list of numbers (NaN for none). */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0..100) of a list of numbers, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A target's outcome in one run. */
export type Verdict = 'met' | 'not met' | 'inconclusive';

/**
 * The one rule for every target that compares noisy figures, applied to both sides alike: met only
 * when the figure is on the bound's side by at least its own noise, not met only when it is on the
 * other side by more than that, inconclusive in between. `noise` is how far the figure itself moves
 * within the run (in its unit: the spread of its rounds, or of the two contenders', whichever is
 * wider); 0 for a count that does not move. A figure that was not measured (NaN) is not met.
 */
export function judge(figure: {
  value: number;
  bound: number;
  noise: number;
  want: 'at least' | 'at most';
}): Verdict {
  const { value, bound, want } = figure;
  if (Number.isNaN(value)) return 'not met';
  // A noise that could not be measured (one round, no figures) resolves nothing.
  const noise = Number.isFinite(figure.noise) ? Math.abs(figure.noise) : Number.POSITIVE_INFINITY;
  const margin = want === 'at least' ? value - bound : bound - value;
  if (margin >= 0 && margin >= noise) return 'met';
  if (margin < 0 && -margin > noise) return 'not met';
  return 'inconclusive';
}

/** P(K ≥ k) and P(K ≤ k) for K ~ Binomial(n, p). */
function binomialTails(n: number, p: number, k: number): { atLeast: number; atMost: number } {
  // log(i!) for i = 0..n, each from the one before.
  const logFactorial = [0];
  for (let i = 1; i <= n; i += 1) logFactorial.push(logFactorial[i - 1]! + Math.log(i));
  const mass = (i: number) =>
    p === 0
      ? i === 0
        ? 1
        : 0
      : Math.exp(
          logFactorial[n]! -
            logFactorial[i]! -
            logFactorial[n - i]! +
            i * Math.log(p) +
            (n - i) * Math.log1p(-p),
        );
  let atLeast = 0;
  let atMost = 0;
  for (let i = 0; i <= n; i += 1) {
    const m = mass(i);
    if (i >= k) atLeast += m;
    if (i <= k) atMost += m;
  }
  return { atLeast: Math.min(1, atLeast), atMost: Math.min(1, atMost) };
}

/** What `judgeQuantile` found: its verdict, and the count it is read from. */
export interface QuantileVerdict {
  verdict: Verdict;
  /** Samples over the bound, of `samples`. */
  over: number;
  samples: number;
  /** The fewest samples, all within the bound, that would make the verdict "met". */
  samplesForMet: number;
}

/**
 * A verdict on a high percentile ("p99 ≤ 50 ms") from its samples alone, with no shape of their
 * distribution assumed. Were that percentile exactly at the bound, the count of samples over it
 * would be Binomial(n, 1 − q): "not met" when at least as many over it as seen would happen with
 * probability ≤ 5 % (the percentile is above the bound at 95 % confidence), "met" when at most as
 * many would (below it, likewise), "inconclusive" between. The slowest of a few dozen samples says
 * little about a p99: with 100 samples none over the bound still happens 37 % of the time at the
 * bound, so "met" needs `samplesForMet` samples (299 for a p99), all within it.
 */
export function judgeQuantile(spec: { samples: number[]; quantile: number; bound: number }): QuantileVerdict {
  const n = spec.samples.length;
  const tail = 1 - spec.quantile;
  const samplesForMet = Math.ceil(Math.log(0.05) / Math.log(spec.quantile));
  if (n === 0 || spec.samples.some((x) => Number.isNaN(x)))
    return { verdict: 'not met', over: Number.NaN, samples: n, samplesForMet };
  const over = spec.samples.filter((x) => x > spec.bound).length;
  const { atLeast, atMost } = binomialTails(n, tail, over);
  const verdict: Verdict = atLeast <= 0.05 ? 'not met' : atMost <= 0.05 ? 'met' : 'inconclusive';
  return { verdict, over, samples: n, samplesForMet };
}

/** The fields of a BenchTarget for a verdict. */
export function verdictFields(verdict: Verdict): Pick<BenchTarget, 'met' | 'inconclusive'> {
  return verdict === 'inconclusive' ? { met: false, inconclusive: true } : { met: verdict === 'met' };
}

/**
 * A target judged by {@link judge}, with a note saying so when the bound is inside the noise.
 * `noiseText` says what the noise is, e.g. "either contender's rounds differ by up to 12 %".
 */
export function judgedTarget(spec: {
  target: string;
  measured: string;
  value: number;
  bound: number;
  noise: number;
  want: 'at least' | 'at most';
  noiseText: string;
  note?: string;
}): BenchTarget {
  const verdict = judge(spec);
  const inside =
    verdict === 'inconclusive'
      ? `inside this run's noise (${spec.noiseText}): the figure is nearer the bound than the noise, so neither met nor not met`
      : undefined;
  const note = [inside, spec.note].filter((s) => s !== undefined && s !== '').join('; ');
  return {
    target: spec.target,
    measured: spec.measured,
    ...verdictFields(verdict),
    ...(note === '' ? {} : { note }),
  };
}

/** How much a contender's rounds differ, relative: max / min − 1 (NaN for fewer than two: unknown). */
export function relativeSpread(values: number[]): number {
  if (values.length < 2) return Number.NaN;
  return Math.max(...values) / Math.min(...values) - 1;
}

/** The distance between a contender's highest and lowest round, in their unit (NaN for fewer than two). */
export function rangeOf(values: number[]): number {
  if (values.length < 2) return Number.NaN;
  return Math.max(...values) - Math.min(...values);
}

/** A target's verdict as counted in the summary. */
export function verdictOf(target: BenchTarget): Verdict {
  if (target.inconclusive === true) return 'inconclusive';
  return target.met ? 'met' : 'not met';
}

/** Says what a relative spread is, for a target's note: "either contender's rounds differ by up to 12 %". */
export function spreadText(spread: number): string {
  return Number.isNaN(spread)
    ? 'one round each: the noise is unknown'
    : `either contender's rounds differ by up to ${Math.round(spread * 100)} % from each other (max/min − 1)`;
}

/** A latency distribution in milliseconds, each figure to 0.01 ms. */
export interface Distribution {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
}

export function distribution(values: number[]): Distribution {
  const ms2 = (n: number) => Math.round(n * 100) / 100;
  return {
    p50: ms2(percentile(values, 50)),
    p90: ms2(percentile(values, 90)),
    p99: ms2(percentile(values, 99)),
    max: ms2(Math.max(...values)),
    min: ms2(Math.min(...values)),
  };
}

/** The standard error of the median of `values`: about 1.2533 × their standard deviation / √n. */
export function medianStandardError(values: number[]): number {
  if (values.length < 2) return Number.NaN;
  const mean = values.reduce((sum, x) => sum + x, 0) / values.length;
  const sd = Math.sqrt(values.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (values.length - 1));
  return (1.2533 * sd) / Math.sqrt(values.length);
}

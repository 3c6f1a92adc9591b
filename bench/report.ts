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

export interface BenchResult {
  tables: BenchTable[];
  targets: BenchTarget[];
  /** Method and findings, one paragraph each, in plain words. */
  notes: string[];
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

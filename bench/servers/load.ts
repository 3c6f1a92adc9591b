/**
 * The load generator, in its own process: `node --import tsx bench/servers/load.ts` (or its compiled
 * copy, bench/support/compile.ts). Reads one `LoadSpec` per line of stdin, runs autocannon with it,
 * and answers each with one line of JSON on stdout, a `LoadResult` (or `{"error": …}`); ends with
 * stdin. One process serves all the rounds of the HTTP section, so that no round pays for a process
 * start. Latencies are kept with sub-millisecond precision (autocannon's own histogram rounds to
 * whole milliseconds), from the same per-response times autocannon measures.
 */
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationSec: number;
  /** A fixed request rate (requests per second over all connections); none: as fast as possible. */
  overallRate?: number;
  /** Stop after this many requests instead of after `durationSec`. */
  amount?: number;
  /** One of `values`, picked uniformly at random, goes in header `header` of each request (the many-user contenders). */
  variants?: { header: string; values: string[] };
}

export interface LoadResult {
  /** 2xx responses per second of the run. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Latency in ms of the 2xx responses. */
  p50: number;
  p99: number;
  mean: number;
}

function percentileOf(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A request set-up that puts a credential picked uniformly at random (the order least kind to a cache) in each request. */
function pickVariant({ header, values }: NonNullable<LoadSpec['variants']>) {
  return (request: autocannon.Request): autocannon.Request => {
    // autocannon hands each set-up a fresh copy of the default headers: no copy needed here.
    request.headers![header] = values[Math.floor(Math.random() * values.length)]!;
    return request;
  };
}

async function measure(spec: LoadSpec): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let sum = 0;
  const started = process.hrtime.bigint();
  let finish: (result: autocannon.Result) => void = () => undefined;
  let failWith: (error: Error) => void = () => undefined;
  const finished = new Promise<autocannon.Result>((done, fail) => {
    finish = done;
    failWith = fail;
  });
  const instance = autocannon(
    {
      url: spec.url,
      headers: spec.headers,
      connections: spec.connections,
      pipelining: 1,
      duration: spec.durationSec,
      // autocannon notices the end of `duration` only on its sampling tick (default every 1 000 ms): a
      // 1 s round could last 2 s and a 0.3 s warm-up 1 s. Ticking every 50 ms ends a round on time.
      sampleInt: 50,
      ...(spec.overallRate === undefined ? {} : { overallRate: Math.max(1, Math.round(spec.overallRate)) }),
      ...(spec.amount === undefined ? {} : { amount: spec.amount }),
      ...(spec.variants === undefined ? {} : { requests: [{ setupRequest: pickVariant(spec.variants) }] }),
    },
    (error, result) => (error ? failWith(error) : finish(result)),
  );
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode >= 300) return;
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = responseTime;
    sum += responseTime;
  });
  const result = await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = latencies.subarray(0, count).sort();
  const out: LoadResult = {
    rps: count / (result.duration > 0 ? result.duration : seconds),
    ok: count,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    p50: percentileOf(sorted, 50),
    p99: percentileOf(sorted, 99),
    mean: count === 0 ? Number.NaN : sum / count,
  };
  return out;
}

async function main(): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    try {
      process.stdout.write(`${JSON.stringify(await measure(JSON.parse(line) as LoadSpec))}\n`);
    } catch (error) {
      process.stdout.write(
        `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
      );
    }
  }
}

void main();

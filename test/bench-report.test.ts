/**
 * The benchmark report's own logic: the one rule that turns a noisy figure into a verdict, and the
 * charts drawn from a run's results (rendered for real with Vega, from a small run of known figures).
 */
import { describe, expect, it } from 'vitest';
import { drawCharts } from '../bench/charts.js';
import { type BenchRun, judge, judgedTarget, judgeQuantile } from '../bench/report.js';

describe('judge: a verdict inside the noise is inconclusive, on both sides alike', () => {
  it.each([
    // value, bound, noise, want, verdict
    [1.0, 0.95, 0.02, 'at least', 'met'],
    [0.96, 0.95, 0.05, 'at least', 'inconclusive'],
    [0.94, 0.95, 0.05, 'at least', 'inconclusive'],
    [0.8, 0.95, 0.05, 'at least', 'not met'],
    // A guarded server "faster" than bare by less than bare's own spread resolves nothing.
    [-0.6, 0.2, 1.5, 'at most', 'inconclusive'],
    [-0.6, 0.2, 0.5, 'at most', 'met'],
    [2.5, 0.2, 1.5, 'at most', 'not met'],
    // A count that does not move: exactly at the bound is met.
    [300, 300, 0, 'at most', 'met'],
    [301, 300, 0, 'at most', 'not met'],
    // One round: the noise is unknown, so nothing is resolved; a figure not measured is not met.
    [10, 1, Number.NaN, 'at least', 'inconclusive'],
    [Number.NaN, 1, 0, 'at least', 'not met'],
  ] as const)('%d against %d ± %d (%s): %s', (value, bound, noise, want, verdict) => {
    expect(judge({ value, bound, noise, want })).toBe(verdict);
  });

  it('says why in the target it builds', () => {
    const target = judgedTarget({
      target: 'throughput ≥ 0.95 × bare',
      measured: '0.96 ×',
      value: 0.96,
      bound: 0.95,
      noise: 0.1,
      want: 'at least',
      noiseText: "either contender's rounds differ by up to 10 %",
    });
    expect(target).toMatchObject({ met: false, inconclusive: true });
    expect(target.note).toContain("inside this run's noise (either contender's rounds differ by up to 10 %)");
    const clear = {
      target: 't',
      measured: '1.2 ×',
      bound: 0.95,
      noise: 0.1,
      want: 'at least',
      noiseText: 'n',
    } as const;
    expect(judgedTarget({ ...clear, value: 1.2 })).toEqual({ target: 't', measured: '1.2 ×', met: true });
    expect(judgedTarget({ ...clear, value: 0.5 })).toEqual({ target: 't', measured: '1.2 ×', met: false });
  });
});

const machine = {
  cpuModel: 'test CPU',
  cpuCount: 2,
  totalMemoryGiB: 1,
  os: 'test',
  node: 'v0',
  redis: '0',
};

/** A run with one section of each kind the charts draw, with figures chosen to be recognisable. */
const fixture: BenchRun = {
  date: '2026-01-01T00:00:00.000Z',
  command: 'tsx bench/run.ts',
  quick: false,
  machine,
  totalSeconds: 1,
  sections: [
    {
      id: 'http',
      title: '1. HTTP',
      file: 'http.ts',
      seconds: 1,
      result: {
        targets: [],
        notes: [],
        tables: [
          {
            title: 'Express: guard overhead (1) and peers (2), throughput',
            columns: ['median req/s', 'ratio to bare', 'rounds (req/s)'],
            rows: [
              {
                name: 'bare Express',
                figures: { 'median req/s': 1000, 'rounds (req/s)': '900, 1000, 1100' },
              },
              {
                name: 'Express + evictGuard (memory store)',
                figures: { 'median req/s': 950, 'rounds (req/s)': '940, 950, 990' },
              },
              {
                name: 'Express + express-session + connect-redis',
                figures: { 'median req/s': 600, 'rounds (req/s)': '580, 600, 610' },
              },
            ],
          },
        ],
      },
    },
    {
      id: 'propagation',
      title: '5. Propagation',
      file: 'propagation.ts',
      seconds: 1,
      date: '2026-01-02T00:00:00.000Z',
      result: {
        targets: [],
        notes: [],
        tables: [],
        samples: [
          { name: 'guard after a kick', unit: 'ms', values: [0.5, 0.7, 1.1, 2.9, 7.25] },
          { name: 'close after a kick', unit: 'ms', values: [-0.3, 0.2, 0.4, 1.6] },
        ],
      },
    },
    {
      id: 'kick-cost',
      title: '7. Kick cost',
      file: 'kick-cost.ts',
      seconds: 1,
      result: {
        targets: [],
        notes: [],
        tables: [
          {
            title:
              'Median milliseconds per engine.kickUser, by how many sessions or connections the user has',
            columns: ['1', '100', '1,000', '10,000'],
            rows: [
              {
                name: 'memory store, sessions',
                figures: { '1': 0.007, '100': 0.007, '1,000': 0.008, '10,000': 0.007 },
              },
              {
                name: 'redis store, connections',
                figures: { '1': 0.2, '100': 2, '1,000': 26, '10,000': '–' },
              },
            ],
          },
        ],
      },
    },
  ],
};

describe('judgeQuantile: a p99 from its samples, by the count over the bound', () => {
  const samples = (n: number, over: number) =>
    Array.from({ length: n }, (_, i) => (i < over ? 60 : 30 + (i % 10)));

  it.each([
    // samples, over the bound, verdict: with 100, none over is 37 % likely at the bound (inconclusive);
    // 4 over is 1.8 % likely (not met), 3 is 7.9 % (inconclusive).
    [100, 0, 'inconclusive'],
    [100, 3, 'inconclusive'],
    [100, 4, 'not met'],
    // 299 within the bound: 0.99^299 < 5 %, met; 298 is not enough.
    [299, 0, 'met'],
    [298, 0, 'inconclusive'],
    [300, 1, 'inconclusive'],
    [300, 8, 'not met'],
  ] as const)('%d samples, %d over: %s', (n, over, verdict) => {
    const judged = judgeQuantile({ samples: samples(n, over), quantile: 0.99, bound: 50 });
    expect(judged).toEqual({ verdict, over, samples: n, samplesForMet: 299 });
  });

  it('counts only samples strictly over the bound, and calls none (or one not measured) not met', () => {
    expect(judgeQuantile({ samples: Array(299).fill(50), quantile: 0.99, bound: 50 }).verdict).toBe('met');
    expect(judgeQuantile({ samples: [], quantile: 0.99, bound: 50 }).verdict).toBe('not met');
    expect(
      judgeQuantile({ samples: [...Array(299).fill(1), Number.NaN], quantile: 0.99, bound: 50 }).verdict,
    ).toBe('not met');
  });
});

describe('drawCharts', () => {
  it('draws each chart the run has figures for, with its marks and labels, from those figures', async () => {
    const charts = await drawCharts(fixture);
    const byFile = new Map(charts.map((c) => [c.file, c]));

    const throughput = byFile.get('guard-throughput.svg')!;
    expect(throughput.absent).toBeUndefined();
    const svg = throughput.svg!;
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Guard cost and the peers');
    for (const label of ['bare Express', 'Express + evictGuard (memory store)', 'Express + express-session'])
      expect(svg).toContain(label);
    // Nine rounds as dots, three medians as ticks, the 0.95 line as a rule, each at the run's figure.
    expect(marks(svg, 'point')).toBe(9);
    expect(marks(svg, 'tick')).toBe(3);
    expect(marks(svg, 'rule mark')).toBe(1);
    expect(svg).toContain('median (dots: rounds): 0.94; contender: Express + evictGuard (memory store)');
    expect(svg).toContain('aria-label="ratio: 0.6; contender: Express + express-session + connect-redis"');
    expect(throughput.caption).toContain('this run');

    const propagation = byFile.get('propagation.svg')!;
    expect(propagation.svg).toContain('guard after a kick');
    expect(propagation.svg).toContain('close after a kick');
    expect(marks(propagation.svg!, 'line mark')).toBe(2);
    expect(propagation.svg).toContain('ms after A answered');
    // Drawn from the samples, and said to come from a section run on its own.
    expect(propagation.caption).toContain('every sample (5 guard after a kick; 4 close after a kick)');
    expect(propagation.caption).toContain('run on its own on 2026-01-02T00:00:00.000Z');

    const kicks = byFile.get('kick-cost.svg')!;
    expect(kicks.svg).toContain('memory store, sessions');
    expect(kicks.svg).toContain('redis store, connections');
    expect(kicks.svg).toContain('ms per kick (median)');
    // A count the section did not run ('–') is not drawn: 4 + 3 points on two lines.
    expect(marks(kicks.svg!, 'point')).toBe(7);
    expect(marks(kicks.svg!, 'line mark')).toBe(2);
    expect(kicks.svg).toContain(
      'the user kicked: 1000; ms per kick (median): 26; series: redis store, connections',
    );
  });

  it('draws nothing for a section the run lacks, and says which', async () => {
    const charts = await drawCharts({ ...fixture, sections: [] });
    for (const chart of charts) {
      expect(chart.svg).toBeUndefined();
      expect(chart.absent).toMatch(/^section `[\w-]+` is not in this run$/);
    }
  });
});

/** How many marks of a kind Vega drew (each data mark carries its kind for screen readers). */
function marks(svg: string, kind: string): number {
  return svg.split(`role="graphics-symbol" aria-roledescription="${kind}"`).length - 1;
}

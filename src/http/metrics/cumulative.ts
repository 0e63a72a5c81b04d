/**
 * A Prometheus histogram or counter whose cumulative values already exist
 * (the worker's rollup counts every attempt anyway), read at scrape time.
 * prom-client's own Histogram would have to observe each attempt a second
 * time on the worker's hot path; its registry formats any metric object
 * whose get() returns values in its format, which is what this is.
 */
import type { Metric, Registry } from 'prom-client';
import { BUCKET_BOUNDS_MS } from '../../histogram.js';

type Labels = Record<string, string>;

export interface HistogramSample {
  labels: Labels;
  /** Counts per bucket of src/histogram.ts (not cumulative). */
  buckets: readonly number[];
  sumMs: number;
}

/** Registers a histogram in seconds, computed by `read` at every scrape. */
export function registerCumulativeHistogram(
  registry: Registry,
  name: string,
  help: string,
  read: () => HistogramSample[],
): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { labels: Labels; value: number; metricName: string }[] = [];
      for (const s of read()) {
        let cumulative = 0;
        for (let i = 0; i < BUCKET_BOUNDS_MS.length; i++) {
          cumulative += s.buckets[i] ?? 0;
          values.push({
            metricName: `${name}_bucket`,
            labels: { ...s.labels, le: String(BUCKET_BOUNDS_MS[i]! / 1000) },
            value: cumulative,
          });
        }
        cumulative += s.buckets[BUCKET_BOUNDS_MS.length] ?? 0;
        values.push({
          metricName: `${name}_bucket`,
          labels: { ...s.labels, le: '+Inf' },
          value: cumulative,
        });
        values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sumMs / 1000 });
        values.push({ metricName: `${name}_count`, labels: s.labels, value: cumulative });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  };
  registry.registerMetric(metric as unknown as Metric);
}

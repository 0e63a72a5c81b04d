/**
 * Charts: the server renders an empty, labelled figure and the numbers as a
 * JSON attribute of the live region; dashboard.js draws them with uPlot and
 * redraws them whenever the live region brings new numbers.
 */
import type { Stats } from '../../../client/stats.js';

export type ChartKind = 'throughput' | 'latency';

/** A figure that dashboard.js fills with a uPlot chart. `summary` is its text alternative. */
export function Chart(props: { kind: ChartKind; title: string; summary: string }) {
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div class="chart-plot" data-chart={props.kind} role="img" aria-label={props.summary} />
      <p class="chart-summary muted">{props.summary}</p>
    </figure>
  );
}

/** The series both charts draw, in the shape dashboard.js reads. */
export function chartData(s: Stats) {
  const pts = s.total.points;
  return {
    stepMs: s.stepMs,
    x: pts.map((p) => p.at.getTime() / 1000),
    throughput: {
      succeeded: pts.map((p) => p.succeeded),
      failed: pts.map((p) => p.failed),
      retried: pts.map((p) => p.retried),
    },
    latency: {
      runP50: pts.map((p) => p.runP50Ms),
      runP95: pts.map((p) => p.runP95Ms),
      lagP95: pts.map((p) => p.lagP95Ms),
    },
  };
}

/**
 * The numbers, carried by the live region so each refresh brings new ones,
 * with each chart's text alternative (dashboard.js copies it to the figure).
 */
export function ChartData(props: { stats: Stats; summaries: Record<ChartKind, string> }) {
  return (
    <div
      id="chart-data"
      hidden
      data-series={JSON.stringify(chartData(props.stats))}
      data-summaries={JSON.stringify(props.summaries)}
    />
  );
}

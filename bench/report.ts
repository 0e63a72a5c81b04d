/** Turns scenario results into the one results table, the target checks and the JSON file. */
import type { ApiResult } from './scenarios/api.js';
import type { BulkResult } from './scenarios/bulk.js';
import type { DrainResult } from './scenarios/drain.js';
import type { LatencyResult } from './scenarios/latency.js';
import type { ScaleResult } from './scenarios/scale.js';
import type { TxResult } from './scenarios/tx.js';
import { fmt, fmtRatio } from './stats.js';

export interface Results {
  drain?: DrainResult[];
  bulk?: BulkResult[];
  tx?: TxResult[];
  latency?: LatencyResult[];
  scale?: ScaleResult[];
  api?: ApiResult[];
}

type Row = [
  scenario: string,
  unit: string,
  tandem: string,
  graphile: string,
  pgboss: string,
  ratio: string,
];

/** Tandem's figure over the best peer's: above 1 means Tandem is better (faster or lower latency). */
function advantage(
  tandem: number | null | undefined,
  peers: (number | null | undefined)[],
  lowerIsBetter = false,
): number | null {
  const ok = peers.filter((p): p is number => typeof p === 'number' && Number.isFinite(p) && p > 0);
  if (tandem == null || !Number.isFinite(tandem) || ok.length === 0 || tandem <= 0) return null;
  return lowerIsBetter ? Math.min(...ok) / tandem : tandem / Math.max(...ok);
}

function cell(value: number | null | undefined, error?: string, suffix = ''): string {
  if (error) return 'failed';
  return value == null ? '—' : `${fmt(value)}${suffix}`;
}

function drainRows(results: DrainResult[]): Row[] {
  const rows: Row[] = [];
  const shapes = [...new Set(results.map((r) => `${r.processes}x${r.concurrency}`))];
  for (const shape of shapes) {
    const of = (system: string, variant: string) =>
      results.find(
        (r) =>
          `${r.processes}x${r.concurrency}` === shape &&
          r.system === system &&
          r.variant === variant,
      );
    const tandem = of('tandem', 'default');
    const [p, c] = shape.split('x');
    const rounds = (tandem as { runs?: unknown[] } | undefined)?.runs?.length ?? 1;
    const median = rounds > 1 ? `, median of ${rounds}` : '';
    const where = `${fmt(tandem?.tasks ?? results[0]!.tasks)} tasks, ${p} proc × ${c}${median}`;
    for (const [gv, pv, what] of [
      ['default', 'b50', 'peers: graphile defaults, pg-boss batch 50'],
      ['tuned', 'b500', 'peers: graphile tuned, pg-boss batch 500'],
    ] as const) {
      const g = of('graphile', gv);
      const b = of('pgboss', pv);
      rows.push([
        `Drain, ${where} (${what})`,
        'tasks/s',
        cell(tandem?.tasksPerSecond, tandem?.error),
        cell(g?.tasksPerSecond, g?.error),
        cell(b?.tasksPerSecond, b?.error),
        fmtRatio(advantage(tandem?.tasksPerSecond, [g?.tasksPerSecond, b?.tasksPerSecond])),
      ]);
    }
  }
  return rows;
}

function bulkRows(results: BulkResult[]): Row[] {
  if (results.length === 0) return [];
  const of = (s: string) => results.find((r) => r.system === s);
  const [t, g, b] = [of('tandem'), of('graphile'), of('pgboss')];
  return [
    [
      `Bulk enqueue, ${fmt(results[0]!.tasks)} tasks in one call`,
      'tasks/s',
      cell(t?.tasksPerSecond, t?.error),
      cell(g?.tasksPerSecond, g?.error),
      cell(b?.tasksPerSecond, b?.error),
      fmtRatio(advantage(t?.tasksPerSecond, [g?.tasksPerSecond, b?.tasksPerSecond])),
    ],
  ];
}

function txRows(results: TxResult[]): Row[] {
  const rows: Row[] = [];
  for (const conns of [...new Set(results.map((r) => r.connections))]) {
    const of = (s: string) => results.find((r) => r.system === s && r.connections === conns);
    const [t, g, b] = [of('tandem'), of('graphile'), of('pgboss')];
    const withRatio = (r?: TxResult) =>
      r?.error ? 'failed' : r ? `${fmt(r.txPerSecond)} (${fmtRatio(r.ratioToBaseline)})` : '—';
    const name = `${conns} connection${conns === 1 ? '' : 's'}`;
    rows.push([
      `Transactional enqueue, ${name} (× baseline)`,
      'tx/s',
      withRatio(t),
      withRatio(g),
      withRatio(b),
      fmtRatio(advantage(t?.txPerSecond, [g?.txPerSecond, b?.txPerSecond])),
    ]);
    rows.push([
      `Baseline: same transaction without a task, ${name}`,
      'tx/s',
      cell(t?.baselineTxPerSecond, t?.error),
      cell(g?.baselineTxPerSecond, g?.error),
      cell(b?.baselineTxPerSecond, b?.error),
      '',
    ]);
  }
  return rows;
}

function latencyRows(results: LatencyResult[]): Row[] {
  if (results.length === 0) return [];
  const of = (s: string) => results.find((r) => r.system === s);
  const [t, g, b] = [of('tandem'), of('graphile'), of('pgboss')];
  const n = (r?: LatencyResult) => (r && !r.error ? ` n=${r.samples}` : '');
  return (['p50Ms', 'p90Ms', 'p99Ms'] as const).map((k) => [
    `Commit → handler start, ${k.slice(0, 3)} (idle worker, defaults${k === 'p50Ms' ? `; samples:${n(t)}${n(g)}${n(b)}` : ''})`,
    'ms',
    cell(t?.[k], t?.error),
    cell(g?.[k], g?.error),
    cell(b?.[k], b?.error),
    fmtRatio(advantage(t?.[k], [g?.[k], b?.[k]], true)),
  ]);
}

function scaleRows(results: ScaleResult[]): Row[] {
  const empty = results.find((r) => r.finishedRows === 0);
  return results.map((r) => {
    const vsEmpty =
      r.finishedRows > 0 && empty?.tasksPerSecond && r.tasksPerSecond
        ? ` (${fmtRatio(r.tasksPerSecond / empty.tasksPerSecond)} of empty)`
        : '';
    return [
      `Tandem drain with ${fmt(r.finishedRows)} finished tasks kept, ${fmt(r.tasks)} tasks, 1 proc × 10${r.runs.length > 1 ? `, median of ${r.runs.length}` : ''}`,
      'tasks/s',
      r.error ? 'failed' : `${fmt(r.tasksPerSecond)}${vsEmpty}`,
      '—',
      '—',
      '',
    ];
  });
}

function apiRows(results: ApiResult[]): Row[] {
  return results.map((r) => [
    `Tandem API ${r.route}, ${fmt(r.rows)} finished tasks, ${fmt(r.requests)} requests`,
    'ms p50 / p99',
    r.error ? 'failed' : `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)}`,
    '—',
    '—',
    '',
  ]);
}

/** The results as one Markdown table. */
export function resultsTable(results: Results): string {
  const rows: Row[] = [
    ...drainRows(results.drain ?? []),
    ...bulkRows(results.bulk ?? []),
    ...txRows(results.tx ?? []),
    ...latencyRows(results.latency ?? []),
    ...scaleRows(results.scale ?? []),
    ...apiRows(results.api ?? []),
  ];
  const header: Row = [
    'Scenario',
    'Unit',
    'Tandem',
    'graphile-worker',
    'pg-boss',
    'Tandem vs best peer',
  ];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: Row) =>
    `| ${r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

/** Tandem's performance targets, checked against this run. */
export function checkTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (
    target: string,
    value: number | null | undefined,
    ok: (v: number) => boolean,
    show: (v: number) => string,
  ) => {
    const has = value != null && Number.isFinite(value);
    checks.push({
      target,
      measured: has ? show(value) : 'not measured',
      met: has ? ok(value) : null,
    });
  };
  for (const t of (results.drain ?? []).filter((r) => r.system === 'tandem')) {
    const g = results.drain!.find(
      (r) =>
        r.system === 'graphile' &&
        r.variant === 'tuned' &&
        r.processes === t.processes &&
        r.concurrency === t.concurrency,
    );
    const ratio =
      t.tasksPerSecond && g?.tasksPerSecond ? t.tasksPerSecond / g.tasksPerSecond : null;
    check(
      `drain ${t.processes}×${t.concurrency}, defaults ≥ 1.25× graphile-worker tuned`,
      ratio,
      (v) => v >= 1.25,
      fmtRatio,
    );
  }
  const bulk = results.bulk?.find((r) => r.system === 'tandem');
  if (bulk)
    check(
      'bulk enqueue ≥ 200,000 tasks/s',
      bulk.tasksPerSecond,
      (v) => v >= 200_000,
      (v) => `${fmt(v)} tasks/s`,
    );
  for (const t of (results.tx ?? []).filter((r) => r.system === 'tandem')) {
    const min = t.connections === 1 ? 0.75 : 0.85;
    check(
      `transactional enqueue, ${t.connections} conn ≥ ${min}× baseline`,
      t.ratioToBaseline,
      (v) => v >= min,
      fmtRatio,
    );
  }
  const lat = results.latency?.find((r) => r.system === 'tandem');
  if (lat) {
    check(
      'latency p50 ≤ 1 ms',
      lat.p50Ms,
      (v) => v <= 1,
      (v) => `${fmt(v)} ms`,
    );
    check(
      'latency p99 ≤ 5 ms',
      lat.p99Ms,
      (v) => v <= 5,
      (v) => `${fmt(v)} ms`,
    );
  }
  const empty = results.scale?.find((r) => r.finishedRows === 0);
  for (const r of (results.scale ?? []).filter((x) => x.finishedRows > 0)) {
    const ratio =
      r.tasksPerSecond && empty?.tasksPerSecond ? r.tasksPerSecond / empty.tasksPerSecond : null;
    check(
      `drain with ${fmt(r.finishedRows)} finished rows ≥ 0.9× empty table`,
      ratio,
      (v) => v >= 0.9,
      fmtRatio,
    );
  }
  return checks;
}

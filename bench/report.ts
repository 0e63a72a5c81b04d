/** Turns scenario results into the results tables. */
import { sizeLabel } from './payload.js';
import type { ApiResult } from './scenarios/api.js';
import type { BulkResult } from './scenarios/bulk.js';
import type { ChaosResult } from './scenarios/chaos.js';
import type { DrainResult } from './scenarios/drain.js';
import type { LatencyResult } from './scenarios/latency.js';
import type { LimitsResult } from './scenarios/limits.js';
import type { PayloadResult } from './scenarios/payload.js';
import type { PressureResult } from './scenarios/pressure.js';
import type { RelayResult } from './scenarios/relay.js';
import type { ScaleResult } from './scenarios/scale.js';
import type { TxResult } from './scenarios/tx.js';
import { fmt, fmtRatio } from './stats.js';
import { SYSTEM_LABELS } from './systems/index.js';
import type { SystemName } from './systems/types.js';

export interface Results {
  drain?: DrainResult[];
  bulk?: BulkResult[];
  tx?: TxResult[];
  latency?: LatencyResult[];
  scale?: ScaleResult[];
  api?: ApiResult[];
  limits?: LimitsResult[];
  payload?: PayloadResult[];
  pressure?: PressureResult[];
  chaos?: ChaosResult[];
  relay?: RelayResult[];
}

/** One row of the comparison table: a figure per system, and Tandem's ratios. */
interface Row {
  scenario: string;
  unit: string;
  cells: Partial<Record<SystemName, string>>;
  vsPeer: string;
  vsFloor: string;
}

/** Tandem's figure over the best peer's: above 1 means Tandem is better (faster or lower latency). */
export function advantage(
  tandem: number | null | undefined,
  peers: (number | null | undefined)[],
  lowerIsBetter = false,
): number | null {
  const ok = peers.filter((p): p is number => typeof p === 'number' && Number.isFinite(p) && p > 0);
  if (tandem == null || !Number.isFinite(tandem) || ok.length === 0 || tandem <= 0) return null;
  return lowerIsBetter ? Math.min(...ok) / tandem : tandem / Math.max(...ok);
}

export const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a && b && Number.isFinite(a) && Number.isFinite(b) ? a / b : null;

function cell(value: number | null | undefined, error?: string, suffix = ''): string {
  if (error) return 'failed';
  return value == null ? '—' : `${fmt(value)}${suffix}`;
}

export const isPeer = (s: SystemName) => s !== 'tandem' && s !== 'floor';

/** A row from each system's figure: cells, Tandem over the best peer, Tandem over the floor. */
function figuresRow(
  scenario: string,
  unit: string,
  figures: Partial<Record<SystemName, { value: number | null | undefined; error?: string }>>,
  text: Partial<Record<SystemName, string>> = {},
  lowerIsBetter = false,
): Row {
  const cells: Row['cells'] = {};
  for (const [s, f] of Object.entries(figures) as [
    SystemName,
    { value: number | null; error?: string },
  ][])
    cells[s] = text[s] ?? cell(f.value, f.error);
  const tandem = figures.tandem?.value;
  const peers = (Object.keys(figures) as SystemName[]).filter(isPeer).map((s) => figures[s]?.value);
  const floor = figures.floor?.value;
  return {
    scenario,
    unit,
    cells,
    vsPeer: fmtRatio(advantage(tandem, peers, lowerIsBetter)),
    vsFloor: floor ? fmtRatio(lowerIsBetter ? ratio(floor, tandem) : ratio(tandem, floor)) : '',
  };
}

function drainRows(results: DrainResult[]): Row[] {
  const rows: Row[] = [];
  const floor = results.find((r) => r.tier === 'floor');
  const shapes = [
    ...new Set(
      results.filter((r) => r.tier !== 'floor').map((r) => `${r.processes}x${r.concurrency}`),
    ),
  ];
  for (const shape of shapes) {
    const inShape = results.filter((r) => `${r.processes}x${r.concurrency}` === shape);
    const tandem = inShape.find((r) => r.system === 'tandem');
    const [p, c] = shape.split('x');
    const rounds = (tandem as { runs?: unknown[] } | undefined)?.runs?.length ?? 1;
    const median = rounds > 1 ? `, median of ${rounds}` : '';
    const where = `${fmt(inShape[0]!.tasks)} tasks, ${p} proc × ${c}${median}`;
    for (const tier of ['default', 'tuned'] as const) {
      const figures: Parameters<typeof figuresRow>[2] = {};
      if (tandem) figures.tandem = { value: tandem.tasksPerSecond, error: tandem.error };
      for (const r of inShape.filter((x) => isPeer(x.system) && x.tier === tier))
        figures[r.system] = { value: r.tasksPerSecond, error: r.error };
      if (floor) figures.floor = { value: floor.tasksPerSecond, error: floor.error };
      rows.push(
        figuresRow(
          `Drain, ${where} (peers ${tier === 'default' ? 'at defaults; pg-boss batch 50' : 'tuned; pg-boss batch 500'})`,
          'tasks/s',
          figures,
        ),
      );
    }
  }
  return rows;
}

function payloadRows(results: PayloadResult[]): Row[] {
  const sizes = [...new Set(results.map((r) => r.payloadBytes))];
  const smallest = sizes[0];
  return sizes.map((bytes) => {
    const inSize = results.filter((r) => r.payloadBytes === bytes);
    const figures: Parameters<typeof figuresRow>[2] = {};
    const text: Partial<Record<SystemName, string>> = {};
    for (const r of inSize) {
      figures[r.system] = { value: r.tasksPerSecond, error: r.error };
      if (bytes !== smallest && r.tasksPerSecond && !r.error)
        text[r.system] = `${fmt(r.tasksPerSecond)} (${fmtRatio(r.ratioToSmallest)})`;
    }
    const first = inSize[0]!;
    return figuresRow(
      `Drain, ${sizeLabel(bytes)} payloads, ${fmt(first.tasks)} backlog, 1 proc × ${inSize.find((r) => r.system !== 'floor')?.concurrency ?? '?'}, ${first.handlerMs ?? 0} ms handler (floor: none)${bytes !== smallest ? ` (× ${sizeLabel(smallest!)})` : ''}`,
      'tasks/s',
      figures,
      text,
    );
  });
}

function bulkRows(results: BulkResult[]): Row[] {
  if (results.length === 0) return [];
  const figures: Parameters<typeof figuresRow>[2] = {};
  for (const r of results) figures[r.system] = { value: r.tasksPerSecond, error: r.error };
  return [
    figuresRow(
      `Bulk enqueue, ${fmt(results[0]!.tasks)} tasks in one call (floor: INSERT … SELECT generate_series)`,
      'tasks/s',
      figures,
    ),
  ];
}

function txRows(results: TxResult[]): Row[] {
  const rows: Row[] = [];
  for (const conns of [...new Set(results.map((r) => r.connections))]) {
    const inConns = results.filter((r) => r.connections === conns);
    const figures: Parameters<typeof figuresRow>[2] = {};
    const text: Partial<Record<SystemName, string>> = {};
    const base: Parameters<typeof figuresRow>[2] = {};
    for (const r of inConns) {
      figures[r.system] = { value: r.txPerSecond, error: r.error };
      text[r.system] = r.notSupported
        ? 'n/a'
        : r.error
          ? 'failed'
          : `${fmt(r.txPerSecond)} (${fmtRatio(r.ratioToBaseline)})`;
      base[r.system] = { value: r.baselineTxPerSecond, error: r.error };
    }
    const name = `${conns} connection${conns === 1 ? '' : 's'}`;
    const row = figuresRow(
      `Transactional enqueue, ${name} (× baseline; floor: plain INSERT into tandem.tasks)`,
      'tx/s',
      figures,
      text,
    );
    // Each system has its own baseline run: the floor comparison uses the
    // ratios to them, which drift of a shared machine disturbs less.
    const of = (s: SystemName) => inConns.find((r) => r.system === s)?.ratioToBaseline;
    const floor = of('floor');
    rows.push({ ...row, vsFloor: floor ? fmtRatio(ratio(of('tandem'), floor)) : '' });
    const b = figuresRow(`Baseline: same transaction without a task, ${name}`, 'tx/s', base);
    rows.push({ ...b, vsPeer: '', vsFloor: '' });
  }
  return rows;
}

function latencyRows(results: LatencyResult[]): Row[] {
  if (results.length === 0) return [];
  const samples = results.map((r) => (r.error ? '' : ` n=${r.samples}`)).join('');
  return (['p50Ms', 'p90Ms', 'p99Ms'] as const).map((k) => {
    const figures: Parameters<typeof figuresRow>[2] = {};
    for (const r of results) figures[r.system] = { value: r[k], error: r.error };
    return figuresRow(
      `Commit → handler start, ${k.slice(0, 3)} (idle worker, defaults${k === 'p50Ms' ? `; samples:${samples}` : ''})`,
      'ms',
      figures,
      {},
      true,
    );
  });
}

function scaleRows(results: ScaleResult[]): Row[] {
  const empty = results.find((r) => r.finishedRows === 0);
  return results.map((r) => {
    const vsEmpty =
      r.finishedRows > 0 && empty?.tasksPerSecond && r.tasksPerSecond
        ? ` (${fmtRatio(r.tasksPerSecond / empty.tasksPerSecond)} of empty)`
        : '';
    return {
      scenario: `Tandem drain with ${fmt(r.finishedRows)} finished tasks kept, ${fmt(r.tasks)} tasks, 1 proc × 10${r.runs.length > 1 ? `, median of ${r.runs.length}` : ''}`,
      unit: 'tasks/s',
      cells: { tandem: r.error ? 'failed' : `${fmt(r.tasksPerSecond)}${vsEmpty}` },
      vsPeer: '',
      vsFloor: '',
    };
  });
}

function limitsRows(results: LimitsResult[]): Row[] {
  return results.map((r) => ({
    scenario: `Tandem ${r.label}`,
    unit: r.unit,
    cells: {
      tandem:
        r.ratio === undefined
          ? fmt(r.value)
          : `${fmt(r.value)} (${fmtRatio(r.ratio)} of ${fmt(r.baseline)})`,
    },
    vsPeer: '',
    vsFloor: '',
  }));
}

function apiRows(results: ApiResult[]): Row[] {
  return results.map((r) => ({
    scenario: `Tandem ${r.route.startsWith('dashboard') ? '' : 'API '}${r.route}, ${fmt(r.rows)} finished tasks, ${fmt(r.requests)} requests`,
    unit: r.serverP50Ms === undefined ? 'ms p50 / p99' : 'ms p50 / p99 (server time)',
    cells: {
      tandem: r.error
        ? 'failed'
        : r.serverP50Ms === undefined
          ? `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)}`
          : `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)} (${fmt(r.serverP50Ms)} / ${fmt(r.serverP99Ms!)})`,
    },
    vsPeer: '',
    vsFloor: '',
  }));
}

export const BROKER_NAMES = {
  rabbitmq: 'RabbitMQ',
  jetstream: 'NATS JetStream',
  redis: 'Redis Streams',
} as const;

function relayRows(results: RelayResult[]): Row[] {
  return results.flatMap((r): Row[] => [
    {
      scenario: `Tandem relay to ${BROKER_NAMES[r.broker]}, one relay process, ${fmt(r.messages)} committed messages`,
      unit: 'msg/s',
      cells: { tandem: r.error ? 'failed' : fmt(r.messagesPerSecond) },
      vsPeer: '',
      vsFloor: '',
    },
    {
      scenario: `Tandem relay to ${BROKER_NAMES[r.broker]}, commit → consumer at ${fmt(r.rate)} msg/s (n=${r.samples})`,
      unit: 'ms p50 / p99',
      cells: { tandem: r.error ? 'failed' : `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)}` },
      vsPeer: '',
      vsFloor: '',
    },
  ]);
}

/** A Markdown table with right-aligned figure columns from `first` on. */
export function markdownTable(header: string[], rows: string[][], first = 1): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${header.map((_, i) => (i >= first ? (r[i] ?? '').padStart(widths[i]!) : (r[i] ?? '').padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= first ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** "graphile-worker 0.18.0", "BullMQ 6.7.0 (Redis)". */
function heading(s: SystemName, versions: Partial<Record<SystemName, string>>): string {
  const [name, ...rest] = SYSTEM_LABELS[s].split(' (');
  const v = versions[s] ? ` ${versions[s]}` : '';
  return `${name}${v}${rest.length ? ` (${rest.join(' (')}` : ''}`;
}

/** Column order: Tandem, the peers as asked for, the floor. */
function columns(rows: Row[], order: SystemName[]): SystemName[] {
  const used = new Set(rows.flatMap((r) => Object.keys(r.cells) as SystemName[]));
  const ordered = ['tandem', ...order.filter(isPeer), 'floor'] as SystemName[];
  return [...new Set(ordered)].filter((s) => used.has(s));
}

/**
 * The results as Markdown: the comparison table, then the pressure and
 * chaos tables when those ran. `versions` gives each column's version.
 */
export function resultsTable(
  results: Results,
  order: SystemName[],
  versions: Partial<Record<SystemName, string>> = {},
): string {
  const rows: Row[] = [
    ...drainRows(results.drain ?? []),
    ...payloadRows(results.payload ?? []),
    ...bulkRows(results.bulk ?? []),
    ...txRows(results.tx ?? []),
    ...latencyRows(results.latency ?? []),
    ...scaleRows(results.scale ?? []),
    ...apiRows(results.api ?? []),
    ...limitsRows(results.limits ?? []),
    ...relayRows(results.relay ?? []),
  ];
  const out: string[] = [];
  if (rows.length > 0) {
    const cols = columns(rows, order);
    const hasFloor = cols.includes('floor');
    const header = [
      'Scenario',
      'Unit',
      ...cols.map((s) => heading(s, versions)),
      'Tandem vs best peer',
      ...(hasFloor ? ['Tandem vs floor'] : []),
    ];
    out.push(
      markdownTable(
        header,
        rows.map((r) => [
          r.scenario,
          r.unit,
          ...cols.map((s) => r.cells[s] ?? '—'),
          r.vsPeer,
          ...(hasFloor ? [r.vsFloor] : []),
        ]),
        2,
      ),
    );
  }
  if (results.pressure?.length) out.push(pressureTable(results.pressure, versions));
  if (results.chaos?.length) out.push(chaosTable(results.chaos));
  return out.join('\n\n');
}

function pressureTable(
  results: PressureResult[],
  versions: Partial<Record<SystemName, string>>,
): string {
  const rows: string[][] = [];
  for (const r of results) {
    const name = versions[r.system]
      ? `${SYSTEM_LABELS[r.system]} ${versions[r.system]}`
      : SYSTEM_LABELS[r.system];
    if (r.error && r.phases.length === 0) {
      rows.push([name, r.kind, 'failed', r.error.slice(0, 60)]);
      continue;
    }
    for (const p of r.phases) {
      rows.push([
        name,
        r.kind,
        p.phase,
        `${fmt(p.seconds, 0)} s`,
        fmt(p.offeredPerSecond),
        fmt(p.completedPerSecond),
        fmtRatio(p.completedPerSecond / p.offeredPerSecond),
        `${fmt(p.pickupP50Ms)} / ${fmt(p.pickupP99Ms)}`,
        fmt(p.backlogAtEnd),
        p.deadTuples == null ? '—' : fmt(p.deadTuples),
        p.tableBytes == null
          ? '—'
          : `${fmt(p.tableBytes / 2 ** 20, 1)} / ${fmt((p.indexBytes ?? 0) / 2 ** 20, 1)}`,
      ]);
    }
  }
  return markdownTable(
    [
      'System',
      'Pressure',
      'Phase',
      'Length',
      'Offered /s',
      'Done /s',
      'Done / offered',
      'Pickup p50 / p99 ms',
      'Backlog at end',
      'Dead tuples',
      'Table / index MiB',
    ],
    rows,
    3,
  );
}

function chaosTable(results: ChaosResult[]): string {
  return markdownTable(
    [
      'Chaos case (Tandem)',
      'Tasks',
      'Lost',
      'Failed',
      'Duplicate effects',
      'Missing effects',
      'Handler runs',
      'Clean rate /s',
      'Back to full rate after',
      'Drain s',
      'Note',
    ],
    results.map((r) => [
      r.case,
      fmt(r.tasks),
      r.lost == null ? '—' : fmt(r.lost),
      r.failed == null ? '—' : fmt(r.failed),
      r.duplicateEffects == null ? '—' : fmt(r.duplicateEffects),
      r.missingEffects == null ? '—' : fmt(r.missingEffects),
      r.handlerRuns == null ? '—' : fmt(r.handlerRuns),
      fmt(r.cleanRatePerSecond),
      r.recoverySeconds == null
        ? r.error
          ? 'failed'
          : 'never'
        : r.recoverySeconds
            .map((s) => (Number.isFinite(s) ? `${fmt(s, 1)} s` : 'never'))
            .join(', '),
      fmt(r.drainSeconds, 1),
      r.error ? `FAILED: ${r.error.slice(0, 80)}` : r.note,
    ]),
    1,
  );
}

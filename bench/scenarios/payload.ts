/**
 * Payload sizes: drain a backlog of `payloadTasks` tasks whose payloads are
 * padded to each of `payloadSizes` bytes of JSON (with incompressible
 * padding, see bench/payload.ts), one worker process at concurrency
 * `payloadConcurrency`, each handler taking `payloadHandlerMs`. Tandem with
 * its defaults, every peer in its tuned configuration, and the SQL floor
 * (which has no handler) on the same payloads. Each size's rate is also
 * given as a ratio to the first (smallest) size of the same system.
 */
import type { BenchDatabases } from '../db.js';
import { progress } from '../log.js';
import type { BenchOptions } from '../options.js';
import { padFor, sizeLabel } from '../payload.js';
import { fmt, fmtRatio } from '../stats.js';
import { BEST_CONFIGS } from '../systems/index.js';
import { type DrainResult, type DrainSummary, measureDrain, summarize } from './drain.js';

export interface PayloadResult extends DrainSummary {
  payloadBytes: number;
  /** This size's rate over the smallest size's, same system. */
  ratioToSmallest: number | null;
}

export async function runPayload(
  dbs: BenchDatabases,
  options: BenchOptions,
): Promise<PayloadResult[]> {
  const configs = BEST_CONFIGS.filter((c) => options.systems.includes(c.system));
  const cells = options.payloadSizes.flatMap((bytes) =>
    configs.map((cfg) => ({ bytes, cfg, runs: [] as DrainResult[] })),
  );
  const pads = new Map(options.payloadSizes.map((b) => [b, padFor(b)]));
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) progress(`payload: round ${round} of ${options.rounds}`);
    for (const cell of cells) {
      const floor = cell.cfg.tier === 'floor';
      cell.runs.push(
        await measureDrain(
          dbs,
          cell.cfg,
          { processes: 1, concurrency: floor ? 2 : options.payloadConcurrency },
          {
            tasks: options.payloadTasks,
            payload: { pad: pads.get(cell.bytes) },
            payloadBytes: cell.bytes,
            handlerMs: floor ? 0 : options.payloadHandlerMs,
            dbLabel: `payload_${cell.cfg.system}_${cell.bytes}`,
          },
        ),
      );
    }
  }
  const out: PayloadResult[] = cells.map((c) => ({
    ...summarize(c.runs),
    payloadBytes: c.bytes,
    ratioToSmallest: null,
  }));
  const smallest = options.payloadSizes[0];
  for (const r of out) {
    const base = out.find(
      (x) => x.system === r.system && x.variant === r.variant && x.payloadBytes === smallest,
    );
    if (r.tasksPerSecond && base?.tasksPerSecond)
      r.ratioToSmallest = r.tasksPerSecond / base.tasksPerSecond;
  }
  for (const r of out) {
    progress(
      `payload ${r.label} ${sizeLabel(r.payloadBytes)}: ${fmt(r.tasksPerSecond)} tasks/s (${fmtRatio(r.ratioToSmallest)} of ${sizeLabel(smallest!)})`,
    );
  }
  return out;
}

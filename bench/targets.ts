/** Tandem's performance targets (docs/benchmarks.md), checked against one run's results. */
import { advantage, BROKER_NAMES, isPeer, type Results, ratio } from './report.js';
import { fmt, fmtRatio } from './stats.js';

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
  const drain = results.drain ?? [];
  const floor = drain.find((r) => r.tier === 'floor');
  for (const t of drain.filter((r) => r.system === 'tandem')) {
    const peers = drain.filter(
      (r) =>
        isPeer(r.system) &&
        r.tier === 'tuned' &&
        r.processes === t.processes &&
        r.concurrency === t.concurrency,
    );
    check(
      `drain ${t.processes}×${t.concurrency}, defaults ≥ 1.25× the best peer tuned`,
      advantage(
        t.tasksPerSecond,
        peers.map((p) => p.tasksPerSecond),
      ),
      (v) => v >= 1.25,
      fmtRatio,
    );
    check(
      `drain ${t.processes}×${t.concurrency} ≥ 0.65× the SQL floor`,
      ratio(t.tasksPerSecond, floor?.tasksPerSecond),
      (v) => v >= 0.65,
      fmtRatio,
    );
  }
  const payload = results.payload ?? [];
  for (const r of payload.filter((x) => x.system === 'tandem' && x.payloadBytes === 1024)) {
    check(
      `drain with 1 KB payloads ≥ 0.7× the smallest payloads`,
      r.ratioToSmallest,
      (v) => v >= 0.7,
      fmtRatio,
    );
  }
  const bulk = results.bulk?.find((r) => r.system === 'tandem');
  const bulkFloor = results.bulk?.find((r) => r.system === 'floor');
  if (bulk) {
    check(
      'bulk enqueue ≥ 0.6× INSERT … SELECT generate_series',
      ratio(bulk.tasksPerSecond, bulkFloor?.tasksPerSecond),
      (v) => v >= 0.6,
      fmtRatio,
    );
  }
  for (const t of (results.tx ?? []).filter((r) => r.system === 'tandem')) {
    const min = 0.75;
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
    check(
      `drain with ${fmt(r.finishedRows)} finished rows ≥ 0.9× empty table`,
      ratio(r.tasksPerSecond, empty?.tasksPerSecond),
      (v) => v >= 0.9,
      fmtRatio,
    );
  }
  for (const r of (results.pressure ?? []).filter((x) => x.system === 'tandem')) {
    const pinned = r.phases.find((p) => p.phase === 'pinned');
    if (!pinned || r.kind === 'overload') continue;
    check(
      `pressure ${r.kind}: completed ≥ 0.95× offered while pinned`,
      pinned.completedPerSecond / pinned.offeredPerSecond,
      (v) => v >= 0.95,
      fmtRatio,
    );
    check(
      `pressure ${r.kind}: pickup p99 ≤ 250 ms while pinned`,
      pinned.pickupP99Ms,
      (v) => v <= 250,
      (v) => `${fmt(v)} ms`,
    );
    check(
      `pressure ${r.kind}: backlog under one second of work 30 s after the pin`,
      r.backlog30sAfterPin,
      (v) => v <= r.offeredRate,
      (v) => `${fmt(v)} tasks (one second = ${fmt(r.offeredRate)})`,
    );
  }
  for (const r of results.chaos ?? []) {
    check(`chaos ${r.case}: no task lost`, r.lost, (v) => v === 0, fmt);
    check(
      `chaos ${r.case}: no duplicate transactional effect`,
      r.duplicateEffects,
      (v) => v === 0,
      fmt,
    );
    if (r.case === 'pg-restart')
      check(
        'chaos pg-restart: full throughput ≤ 5 s after PostgreSQL is back',
        r.recoverySeconds?.[0],
        (v) => v <= 5,
        (v) => `${fmt(v, 1)} s`,
      );
  }
  const pages = (results.api ?? []).filter((r) => r.serverP99Ms !== undefined);
  if (pages.length > 0) {
    const slowest = pages.reduce((a, b) => (b.serverP99Ms! > a.serverP99Ms! ? b : a));
    check(
      `every dashboard page's server time p99 ≤ 200 ms at ${fmt(slowest.rows)} finished rows`,
      slowest.serverP99Ms,
      (v) => v <= 200,
      (v) => `slowest ${slowest.route}: ${fmt(v)} ms`,
    );
  }
  for (const r of results.relay ?? []) {
    if (r.broker !== 'redis')
      check(
        `relay to ${BROKER_NAMES[r.broker]} ≥ 10,000 msg/s with confirmations`,
        r.messagesPerSecond,
        (v) => v >= 10_000,
        (v) => `${fmt(v)} msg/s`,
      );
    check(
      `relay to ${BROKER_NAMES[r.broker]}: p99 commit → publish ≤ 20 ms at ${fmt(r.rate)} msg/s (measured to the consumer)`,
      r.p99Ms,
      (v) => v <= 20,
      (v) => `${fmt(v)} ms`,
    );
  }
  return checks;
}

/**
 * Latency: with an idle worker running (each system's defaults, concurrency
 * 10) in this process, enqueue one task at a time in its own transaction and
 * measure from the moment the commit is acknowledged to the moment the
 * handler starts (both read from performance.now() in this process). After
 * each task has started, pause ~10 ms so the worker is idle again.
 *
 * Sampling stops after `latencySamples` tasks or `latencyBudget` seconds,
 * whichever comes first: a polling system takes seconds per sample.
 */
import { type BenchDatabases, inFreshDatabase } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions } from '../options.js';
import { fmt, quantile } from '../stats.js';
import { LATENCY_CONFIGS, loadSystem } from '../systems/index.js';
import type { Payload, SystemName } from '../systems/types.js';

export interface LatencyResult {
  system: SystemName;
  label: string;
  settings: string;
  samples: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  error?: string;
}

const WARMUP_SAMPLES = 5;
const WARMUP_MAX_MS = 2_000;
const SAMPLE_TIMEOUT_MS = 15_000;

export async function runLatency(
  dbs: BenchDatabases,
  options: BenchOptions,
): Promise<LatencyResult[]> {
  const results: LatencyResult[] = [];
  for (const cfg of LATENCY_CONFIGS.filter((c) => options.systems.includes(c.system))) {
    const base = { system: cfg.system, label: cfg.label, settings: cfg.settings };
    try {
      const system = await loadSystem(cfg.system);
      const samples = await inFreshDatabase(dbs, `latency_${cfg.system}`, async (url) => {
        await system.install(url);
        const producer = await system.producer(url);
        let waiting: { i: number; started: (t: number) => void } | null = null;
        const worker = await system.prepareWorker({
          url,
          variant: cfg.variant,
          concurrency: 10,
          onJobs: (payloads: Payload[]) => {
            const t = performance.now();
            for (const p of payloads) if (waiting && p.i === waiting.i) waiting.started(t);
          },
        });
        try {
          await worker.start();
          await sleep(300);
          const out: number[] = [];
          const t0 = performance.now();
          for (let i = 0; i < WARMUP_SAMPLES + options.latencySamples; i++) {
            const warm = i < WARMUP_SAMPLES;
            if (warm && performance.now() - t0 > WARMUP_MAX_MS) continue;
            if (!warm && performance.now() - t0 > options.latencyBudgetSeconds * 1000) break;
            let timer: NodeJS.Timeout | undefined;
            const started = new Promise<number>((resolve, reject) => {
              waiting = { i, started: resolve };
              timer = setTimeout(
                () => reject(new Error(`task ${i} did not start within ${SAMPLE_TIMEOUT_MS} ms`)),
                SAMPLE_TIMEOUT_MS,
              );
            });
            started.catch(() => {});
            await producer.enqueueOne(i);
            const committed = performance.now();
            try {
              const t = await started;
              if (!warm) out.push(t - committed);
            } finally {
              clearTimeout(timer);
              waiting = null;
            }
            await sleep(options.latencyPauseMs);
          }
          return out;
        } finally {
          await worker.stop();
          await producer.close();
        }
      });
      const r: LatencyResult = {
        ...base,
        samples: samples.length,
        p50Ms: quantile(samples, 0.5),
        p90Ms: quantile(samples, 0.9),
        p99Ms: quantile(samples, 0.99),
        maxMs: Math.max(...samples),
      };
      progress(
        `latency ${cfg.label}: n=${r.samples} p50 ${fmt(r.p50Ms)} ms, p90 ${fmt(r.p90Ms)} ms, p99 ${fmt(r.p99Ms)} ms, max ${fmt(r.maxMs)} ms`,
      );
      results.push(r);
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      progress(`latency ${cfg.label} FAILED: ${message}`);
      results.push({
        ...base,
        samples: 0,
        p50Ms: null,
        p90Ms: null,
        p99Ms: null,
        maxMs: null,
        error: message,
      });
    }
  }
  return results;
}

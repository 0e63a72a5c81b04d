/**
 * OpenTelemetry: the producer's span in this process, the consumer's spans
 * in a real worker process, one trace across both.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem } from '../src/index.js';
import { tracingActive } from '../src/middleware/tracing.js';
import { drain } from '../src/testing/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { type SpanJson, spanJson } from './support/span-json.js';
import { waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
const instances: Tandem[] = [];
const exporter = new InMemorySpanExporter();

// The same name as the worker process's task: this process only enqueues it.
const traced = defineTask({
  name: 'traced',
  payload: z.object({ order: z.number() }),
  handler: () => {},
});

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((t) => t.close()));
  await pool.query('delete from tandem.tasks; delete from tandem.workers');
  exporter.reset();
});
afterAll(() => pool.end());

function setup(options: { tracing?: boolean } = {}): Tandem {
  const tandem = createTandem({ pool, tasks: [traced], logger: quietLogger, ...options });
  instances.push(tandem);
  return tandem;
}

const metadataOf = async (id: string) =>
  (await pool.query('select metadata from tandem.tasks where id = $1', [id])).rows[0].metadata;

describe('without a tracer provider', () => {
  it('is inactive: no trace context is written and the task metadata stays as given', async () => {
    expect(tracingActive()).toBe(false);
    const tandem = setup();
    const { id } = await tandem.enqueue(pool, traced, { order: 1 });
    expect(await metadataOf(id)).toBeNull();
    const { id: withMeta } = await tandem.enqueue(
      pool,
      traced,
      { order: 2 },
      { metadata: { a: 1 } },
    );
    expect(await metadataOf(withMeta)).toEqual({ a: 1 });
  });
});

describe('with a tracer provider', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
  });

  const finished = () => exporter.getFinishedSpans().map(spanJson);

  it('wraps each enqueue in a PRODUCER span and stores its context in the task, in the caller transaction', async () => {
    expect(tracingActive()).toBe(true);
    const tandem = setup();
    const tracer = trace.getTracer('test');
    const client = await pool.connect();
    let requestSpan!: { traceId: string; spanId: string };
    let id!: string;
    try {
      await tracer.startActiveSpan('POST /orders', async (span) => {
        requestSpan = span.spanContext();
        await client.query('begin');
        ({ id } = await tandem.enqueue(client, traced, { order: 7 }, { key: 'order:7' }));
        // Not committed yet: the trace context is part of the uncommitted row.
        expect(await metadataOf(id).catch(() => undefined)).toBeUndefined();
        await client.query('commit');
        span.end();
      });
    } finally {
      client.release();
    }
    const send = finished().find((s) => s.name === 'send traced')!;
    expect(send).toMatchObject({
      kind: SpanKind.PRODUCER,
      traceId: requestSpan.traceId,
      parentSpanId: requestSpan.spanId,
      attributes: {
        'messaging.system': 'tandem',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'default',
        'messaging.message.id': id,
        'tandem.task.name': 'traced',
        'tandem.task.key': 'order:7',
      },
    });
    expect(await metadataOf(id)).toEqual({
      traceparent: `00-${send.traceId}-${send.spanId}-01`,
    });
  });

  it('rolls the trace context back with the transaction, and records a failed enqueue on its span', async () => {
    const tandem = setup();
    const client = await pool.connect();
    try {
      await client.query('begin');
      await tandem.enqueue(client, traced, { order: 1 });
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect((await pool.query('select count(*)::int as n from tandem.tasks')).rows[0].n).toBe(0);
    await expect(tandem.enqueue(pool, traced, { order: 'x' } as never)).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
    });
    const failed = finished().filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.events[0]!.name).toBe('exception');
  });

  it('gives each item of enqueueMany its own producer span and trace context', async () => {
    const tandem = setup();
    const out = await tandem.enqueueMany(pool, [
      { task: traced, payload: { order: 1 } },
      { task: traced, payload: { order: 2 } },
    ]);
    const sends = finished().filter((s) => s.name === 'send traced');
    expect(sends.map((s) => s.attributes['messaging.message.id']).sort()).toEqual(
      out.map((r) => r.id).sort(),
    );
    for (const r of out) {
      const span = sends.find((s) => s.attributes['messaging.message.id'] === r.id)!;
      expect((await metadataOf(r.id)).traceparent).toBe(`00-${span.traceId}-${span.spanId}-01`);
    }
  });

  it('writes the W3C traceparent itself when no propagator is registered (only a tracer provider)', async () => {
    propagation.disable();
    try {
      expect(propagation.fields()).toEqual([]);
      const tandem = setup();
      const { id } = await tandem.enqueue(pool, traced, { order: 3 });
      const send = finished().find((s) => s.name === 'send traced')!;
      expect(await metadataOf(id)).toEqual({ traceparent: `00-${send.traceId}-${send.spanId}-01` });
    } finally {
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    }
  });

  it('outside any span, continues the trace context the caller put in the metadata (as the inbox does)', async () => {
    const tandem = setup();
    const remote = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8) };
    const { id } = await tandem.enqueue(
      pool,
      traced,
      { order: 1 },
      { metadata: { traceparent: `00-${remote.traceId}-${remote.spanId}-01`, inbox: 'rabbitmq' } },
    );
    const send = finished().find((s) => s.name === 'send traced')!;
    expect(send).toMatchObject({ traceId: remote.traceId, parentSpanId: remote.spanId });
    expect(await metadataOf(id)).toEqual({
      traceparent: `00-${remote.traceId}-${send.spanId}-01`,
      inbox: 'rabbitmq',
    });
  });

  it('is off with tracing: false', async () => {
    const tandem = setup({ tracing: false });
    const { id } = await tandem.enqueue(pool, traced, { order: 1 });
    expect(await metadataOf(id)).toBeNull();
    await drain(tandem);
    expect(finished()).toEqual([]);
  });

  it('makes one trace from the producer span to the consumer spans of a worker in another process, one span per attempt', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/traced-worker.ts'], {
      env: { ...process.env, DATABASE_URL: url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const spans: SpanJson[] = [];
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const msg = JSON.parse(l);
      if (msg.event === 'ready') ready = true;
      if (msg.event === 'span') spans.push(msg.span);
    });
    const exited = new Promise((res) => child.on('exit', res));
    try {
      await waitFor(() => ready, 20_000, 'the traced worker to start');
      const tandem = setup();
      let id!: string;
      let rootTrace!: string;
      await trace.getTracer('test').startActiveSpan('POST /orders', async (span) => {
        rootTrace = span.spanContext().traceId;
        ({ id } = await tandem.enqueue(pool, traced, { order: 42 }));
        span.end();
      });
      // A task enqueued through SQL, with no trace context: a trace of its own.
      const [{ id: sqlId }] = (
        await pool.query(`select tandem.enqueue('traced', '{"order": 43}'::jsonb) as id`)
      ).rows;
      const processSpans = () => spans.filter((s) => s.name === 'process traced');
      await waitFor(() => processSpans().length >= 4, 20_000, 'four attempts to be traced');
      await waitFor(() => spans.filter((s) => s.name === 'charge card').length >= 2, 5_000);

      const send = finished().find((s) => s.name === 'send traced')!;
      expect(send.traceId).toBe(rootTrace);
      const mine = processSpans().filter((s) => s.attributes['messaging.message.id'] === id);
      expect(mine.map((s) => s.attributes['tandem.task.attempt'])).toEqual([1, 2]);
      for (const s of mine) {
        expect(s).toMatchObject({
          kind: SpanKind.CONSUMER,
          traceId: send.traceId,
          parentSpanId: send.spanId,
          attributes: {
            'messaging.system': 'tandem',
            'messaging.operation.type': 'process',
            'messaging.destination.name': 'default',
            'messaging.message.id': id,
            'tandem.task.name': 'traced',
          },
        });
      }
      const [first, second] = mine as [SpanJson, SpanJson];
      expect(first.spanId).not.toBe(second.spanId);
      expect(first.status).toEqual({
        code: SpanStatusCode.ERROR,
        message: 'upstream down for order 42',
      });
      expect(first.attributes['tandem.task.outcome']).toBe('retrying');
      expect(first.events).toEqual([
        {
          name: 'exception',
          attributes: expect.objectContaining({
            'exception.type': 'Error',
            'exception.message': 'upstream down for order 42',
          }),
        },
      ]);
      expect(second.status.code).not.toBe(SpanStatusCode.ERROR);
      expect(second.attributes['tandem.task.outcome']).toBe('succeeded');
      expect(second.events).toEqual([]);
      // The handler's own span is a child of its attempt's span.
      const charge = spans.find((s) => s.name === 'charge card' && s.traceId === send.traceId)!;
      expect(charge.parentSpanId).toBe(second.spanId);

      const fromSql = processSpans().filter(
        (s) => s.attributes['messaging.message.id'] === String(sqlId),
      );
      expect(fromSql).toHaveLength(2);
      expect(fromSql[0]!.parentSpanId).toBeNull();
      expect(fromSql[0]!.traceId).not.toBe(send.traceId);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

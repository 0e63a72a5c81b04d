/**
 * A worker process with the OpenTelemetry SDK registered as an application
 * would: a tracer provider and a context manager, but no propagator (so
 * Tandem's W3C fallback reads the trace context). Prints one JSON line per
 * event on stdout: ready, then span (each finished span). Env: DATABASE_URL.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { createTandem, defineTask } from '../../src/index.js';
import { quietLogger } from './quiet-logger.js';
import { spanJson } from './span-json.js';

const out = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const exporter: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    for (const s of spans) out({ event: 'span', span: spanJson(s) });
    done({ code: 0 });
  },
  shutdown: async () => {},
};
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

/** Fails its first attempt; the second opens a span of its own inside the handler. */
const traced = defineTask({
  name: 'traced',
  payload: z.object({ order: z.number() }),
  maxAttempts: 3,
  backoff: { base: 0, jitter: false },
  async handler(p, ctx) {
    if (ctx.attempt === 1) throw new Error(`upstream down for order ${p.order}`);
    await trace.getTracer('app').startActiveSpan('charge card', async (span) => {
      span.end();
    });
    return { charged: p.order };
  },
});

const tandem = createTandem({
  connectionString: process.env.DATABASE_URL!,
  tasks: [traced],
  logger: quietLogger,
});
const worker = tandem.worker({ pollInterval: 50, shutdownTimeout: 2_000 });
await worker.start();
out({ event: 'ready', pid: process.pid });
process.on('SIGTERM', async () => {
  await worker.stop();
  await tandem.close();
  process.exit(0);
});

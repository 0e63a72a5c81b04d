import {
  type Attributes,
  context,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { EnqueueMiddleware } from './enqueue.js';
import { type AttemptOutcome, failedOutcome, isError } from './outcome.js';
import type { TaskMiddleware } from './task.js';
import { extractTraceContext, injectTraceContext } from './trace-context.js';

/**
 * Tandem's OpenTelemetry spans, through `@opentelemetry/api` only (the
 * application brings and registers the SDK):
 *
 * - `send <task name>` (PRODUCER) around each enqueue; its context is
 *   written into the task's metadata (W3C `traceparent`/`tracestate`), in
 *   the same insert, so it commits or rolls back with the caller's
 *   transaction.
 * - `process <task name>` (CONSUMER) around each attempt, a **child** of
 *   that producer span: one trace from the request that enqueued to the
 *   handler's own spans, whichever process runs it. Each attempt (retry,
 *   snooze) is a span of its own, a sibling of the others under the
 *   producer span. A task without a trace context starts a new trace.
 *
 * Both run only while a tracer provider is registered: without one no span
 * object is made, and the chain is skipped altogether when there is no
 * other middleware.
 */

const TRACER = 'tandem-queue';
/** What the API hands out when no provider is registered (a private singleton of the API). */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether a tracer provider is registered. Cheap: a few property reads, no allocation. */
export function tracingActive(): boolean {
  const p = trace.getTracerProvider() as { getDelegate?: () => unknown };
  if (typeof p.getDelegate !== 'function') return true;
  const d = p.getDelegate();
  // Another copy of the API registered the global: its no-op provider is not ours.
  return d !== NOOP_PROVIDER && (d as object).constructor?.name !== 'NoopTracerProvider';
}

function recordFailure(span: Span, err: unknown, outcome: AttemptOutcome | null): void {
  if (outcome !== null) span.setAttribute('tandem.task.outcome', outcome);
  if (outcome !== null && !isError(outcome)) return;
  const e =
    err instanceof Error
      ? err
      : { name: 'Error', message: typeof err === 'string' ? err : String(err) };
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/** The producer span around one enqueue, and the trace context written into its metadata. */
export const enqueueTracing: EnqueueMiddleware = async (info, next) => {
  let parent = context.active();
  // Outside any span, a trace context the caller put in the metadata (as the
  // inbox does with a message's traceparent) is the parent, so the trace
  // goes on from the remote producer instead of being overwritten.
  if (trace.getSpanContext(parent) === undefined && typeof info.metadata.traceparent === 'string')
    parent = extractTraceContext(info.metadata, parent);
  const span = trace.getTracer(TRACER).startSpan(
    `send ${info.name}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'tandem',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': info.queue,
        'tandem.task.name': info.name,
        ...(info.options.key !== undefined && { 'tandem.task.key': info.options.key }),
      },
    },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  injectTraceContext(ctx, info.metadata);
  try {
    const r = await context.with(ctx, next);
    span.setAttribute('messaging.message.id', r.id);
    if (!r.inserted) span.setAttribute('tandem.task.duplicate', true);
    return r;
  } catch (err) {
    recordFailure(span, err, null);
    throw err;
  } finally {
    span.end();
  }
};

/** The consumer span around one attempt, a child of the producer's span. */
export const taskTracing: TaskMiddleware = async (ctx, next) => {
  const parent = extractTraceContext(ctx.metadata);
  const attributes: Attributes = {
    'messaging.system': 'tandem',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': ctx.queue,
    'messaging.message.id': ctx.id,
    'tandem.task.name': ctx.name,
    'tandem.task.attempt': ctx.attempt,
    'tandem.task.max_attempts': ctx.maxAttempts,
  };
  if (ctx.key !== null) attributes['tandem.task.key'] = ctx.key;
  const span = trace
    .getTracer(TRACER)
    .startSpan(`process ${ctx.name}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    const result = await context.with(trace.setSpan(parent, span), next);
    span.setAttribute('tandem.task.outcome', 'succeeded');
    return result;
  } catch (err) {
    recordFailure(span, err, failedOutcome(ctx, err));
    throw err;
  } finally {
    span.end();
  }
};

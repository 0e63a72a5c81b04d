import {
  type Context,
  createTraceState,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';

/**
 * The producer's trace context, kept in the task's metadata as the W3C
 * `traceparent` and `tracestate` keys (and whatever else the registered
 * propagator writes, such as `baggage`). The registered global propagator is
 * used; when it wrote no `traceparent` (none is registered: the API's
 * default propagator does nothing, which is the case when only a tracer
 * provider was set), Tandem writes and reads the W3C Trace Context format
 * itself, so a trace crosses the queue whatever the SDK's setup.
 */

const setter: TextMapSetter<Record<string, unknown>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const v = carrier[key];
    return typeof v === 'string' ? v : undefined;
  },
};

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** Writes the trace context of `ctx` into `metadata`. */
export function injectTraceContext(ctx: Context, metadata: Record<string, unknown>): void {
  propagation.inject(ctx, metadata, setter);
  if (typeof metadata.traceparent === 'string') return;
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return;
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  metadata.traceparent = `00-${sc.traceId}-${sc.spanId}-${flags}`;
  const state = sc.traceState?.serialize();
  if (state) metadata.tracestate = state;
}

/** `base` with the context `metadata` carries (a remote parent), or `base` alone when it carries none. */
export function extractTraceContext(
  metadata: Record<string, unknown> | null,
  base: Context = ROOT_CONTEXT,
): Context {
  if (metadata === null) return base;
  const ctx = propagation.extract(base, metadata, getter);
  if (trace.getSpanContext(ctx)) return ctx;
  const tp = metadata.traceparent;
  if (typeof tp !== 'string') return ctx;
  const m = TRACEPARENT_RE.exec(tp.trim());
  // Version ff is invalid; a future version may add fields after ours.
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return ctx;
  const sc = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: Number.parseInt(m[4]!, 16) & 0x01,
    isRemote: true,
    ...(typeof metadata.tracestate === 'string' && {
      traceState: createTraceState(metadata.tracestate),
    }),
  };
  return isSpanContextValid(sc) ? trace.setSpanContext(ctx, sc) : ctx;
}

/** Finished spans as JSON, for comparing the spans of two processes. */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface SpanJson {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string }[];
}

export function spanJson(s: ReadableSpan): SpanJson {
  return {
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? null,
    attributes: { ...s.attributes },
    status: { ...s.status },
    events: s.events.map((e) => ({ name: e.name, attributes: { ...e.attributes } })),
    links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
  };
}

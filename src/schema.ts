/**
 * Payload schemas: any validator that implements Standard Schema
 * (https://standardschema.dev): zod 3.24+ and 4, valibot, arktype, and
 * others. Tandem only ever calls the interface, never a library's own API,
 * so no validator is a dependency of Tandem.
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from '@standard-schema/spec';

/** A payload schema: any Standard Schema validator. */
export type PayloadSchema<Input = unknown, Output = Input> = StandardSchemaV1<Input, Output>;

/** What a schema accepts (the type `enqueue` takes). */
export type InferInput<S extends PayloadSchema> = StandardSchemaV1.InferInput<S>;

/** What a schema produces (the type the handler gets). */
export type InferOutput<S extends PayloadSchema> = StandardSchemaV1.InferOutput<S>;

/** One reason a value failed its schema: where (`'items.0.sku'`, `'(root)'`) and why. */
export interface SchemaIssue {
  path: string;
  message: string;
}

/** The outcome of `validate`. */
export type ValidationResult<T> = { ok: true; value: T } | { ok: false; issues: SchemaIssue[] };

/** Whether `value` is a Standard Schema validator. */
export function isPayloadSchema(value: unknown): value is PayloadSchema {
  const std = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.[
    '~standard'
  ];
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof std === 'object' &&
    std !== null &&
    std.version === 1 &&
    typeof std.validate === 'function'
  );
}

function pathOf(issue: StandardSchemaV1.Issue): string {
  const parts = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p));
  return parts.join('.') || '(root)';
}

/**
 * Validates `value` against `schema`, synchronously (Tandem validates before
 * any SQL runs). Never throws: a schema whose validation returns a Promise
 * (zod's async refinements, for example), or that throws, yields an issue
 * saying so.
 *
 * @example
 * const result = validate(z.object({ id: z.string() }), input);
 * if (!result.ok) console.log(result.issues); // [{ path: 'id', message: '…' }]
 */
export function validate<S extends PayloadSchema>(
  schema: S,
  value: unknown,
): ValidationResult<InferOutput<S>> {
  const std = schema['~standard'];
  let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
  try {
    result = std.validate(value);
  } catch (err) {
    const message = `the ${std.vendor} schema threw while validating: ${(err as Error)?.message ?? err}`;
    return { ok: false, issues: [{ path: '(root)', message }] };
  }
  if (result instanceof Promise) {
    result.catch(() => {}); // its outcome is not used
    const message = `the ${std.vendor} schema validated asynchronously; Tandem needs a synchronous schema (no async refinements or transforms)`;
    return { ok: false, issues: [{ path: '(root)', message }] };
  }
  if (result.issues) {
    return {
      ok: false,
      issues: result.issues.map((i) => ({ path: pathOf(i), message: i.message })),
    };
  }
  return { ok: true, value: result.value as InferOutput<S> };
}

/** Issues as one line: `orderId: Expected string; cents: Too small`. */
export function formatIssues(issues: readonly SchemaIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/**
 * The JSON Schema (draft 2020-12) of what `schema` accepts, where the
 * validator can produce one: through Standard JSON Schema (zod 4.2+ and
 * arktype implement it), or null (zod 3, valibot without its converter).
 *
 * @example
 * jsonSchemaOf(z.object({ id: z.string() }));
 * // { $schema: '…/draft/2020-12/schema', type: 'object', properties: { id: { type: 'string' } }, … }
 */
export function jsonSchemaOf(schema: PayloadSchema): Record<string, unknown> | null {
  const std = (schema as { '~standard': Partial<StandardJSONSchemaV1.Props> })['~standard'];
  if (typeof std?.jsonSchema?.input !== 'function') return null;
  try {
    return std.jsonSchema.input({ target: 'draft-2020-12' });
  } catch {
    return null; // the schema holds something JSON Schema cannot express (a transform, a Date…)
  }
}

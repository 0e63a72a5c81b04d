/**
 * Publishing into the outbox, inside the caller's transaction: everything
 * about a message is validated and serialised here, before any SQL runs,
 * so a bad call throws and leaves the caller's transaction usable.
 */

import { type AnyDestination, badRoute } from '../destination.js';
import { TandemError } from '../errors.js';
import { badText, MAX_KEY_LENGTH } from '../limits.js';
import { formatIssues, validate } from '../schema.js';
import { toJsonText } from './json.js';

/** Per-message options of `publish`. */
export interface PublishOptions {
  /**
   * The ordering key (`order:123`): a destination's messages leave in id
   * order, so messages of one key inserted one after another arrive in
   * that order. Not an idempotency key: any number of messages may share it.
   */
  key?: string;
  /**
   * String headers sent with the message (AMQP headers, NATS headers, a
   * `headers` field in Redis). Put the W3C trace context here as
   * `traceparent` (and `tracestate`). Names starting with `nats-` or
   * `tandem-` are reserved.
   */
  headers?: Record<string, string>;
}

/** What `publish` reports: the message's id in the outbox (the broker sees `<prefix>-<id>`). */
export interface PublishResult {
  id: string;
}

/** A message validated and serialised, ready for `tandem.insert_message`. */
export interface PreparedMessage {
  destination: string;
  key: string | null;
  route: string | null;
  payloadJson: string;
  headersJson: string | null;
}

const OPTION_KEYS = new Set(['key', 'headers']);
/** HTTP token characters: valid as AMQP, NATS and HTTP header names alike. */
const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,255}$/;
const MAX_HEADER_VALUE = 8 * 1024;

function isDestinationLike(d: unknown): d is AnyDestination {
  const v = d as Partial<AnyDestination> | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && !!v.target;
}

/** Validates one publish completely; throws a TandemError naming what is wrong. */
export function prepareMessage(
  destination: AnyDestination,
  message: unknown,
  options: PublishOptions | undefined,
  maxPayloadBytes: number,
): PreparedMessage {
  if (!isDestinationLike(destination)) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `publish needs a destination made by defineDestination() as its second argument; got ${destination === null ? 'null' : typeof destination}`,
    );
  }
  const name = destination.name;
  const invalid = (msg: string) =>
    new TandemError('INVALID_OPTIONS', `publish(${JSON.stringify(name)}): ${msg}`);
  const o = options ?? {};
  if (typeof o !== 'object' || o === null)
    throw invalid(`options must be an object, got ${o === null ? 'null' : typeof o}`);
  for (const k of Object.keys(o)) {
    if (!OPTION_KEYS.has(k))
      throw invalid(
        `unknown option ${JSON.stringify(k)}; known options: ${[...OPTION_KEYS].join(', ')}`,
      );
  }
  const json = toJsonText(
    message,
    'PAYLOAD_NOT_JSON',
    `message for destination ${JSON.stringify(name)}`,
  );
  const size = Buffer.byteLength(json.text);
  if (size > maxPayloadBytes) {
    throw new TandemError(
      'PAYLOAD_TOO_LARGE',
      `message for destination ${JSON.stringify(name)} is ${size} bytes, over the ${maxPayloadBytes}-byte limit; send a reference (an id, a URL) instead, or raise maxPayloadBytes`,
    );
  }
  const stored = json.converted ? JSON.parse(json.text) : message;
  const parsed = validate(destination.schema, stored);
  if (!parsed.ok) {
    throw new TandemError(
      'INVALID_PAYLOAD',
      `message for destination ${JSON.stringify(name)} is invalid${json.converted ? ' as sent (JSON)' : ''}: ${formatIssues(parsed.issues)}`,
      parsed.issues,
    );
  }
  let key: string | null = null;
  if (o.key !== undefined) {
    const bad = typeof o.key === 'string' ? badText(o.key) : null;
    if (typeof o.key !== 'string' || o.key.length === 0 || o.key.length > MAX_KEY_LENGTH || bad)
      throw invalid(
        `key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters${bad ? ` without ${bad}` : ''}, got ${JSON.stringify(o.key)}`,
      );
    key = o.key;
  }
  let headersJson: string | null = null;
  if (o.headers !== undefined) {
    const h = o.headers;
    if (typeof h !== 'object' || h === null || Array.isArray(h))
      throw invalid('headers must be an object of string values, e.g. { traceparent: "00-…" }');
    for (const [k, v] of Object.entries(h)) {
      if (!HEADER_NAME_RE.test(k))
        throw invalid(
          `header name ${JSON.stringify(k)} must be 1-255 letters, digits and !#$%&'*+.^_\`|~-`,
        );
      if (/^(nats-|tandem-)/i.test(k))
        throw invalid(
          `header ${JSON.stringify(k)} is reserved (names starting with nats- or tandem- are set by the relay)`,
        );
      if (typeof v !== 'string' || v.length > MAX_HEADER_VALUE || /[\r\n\0]/.test(v) || badText(v))
        throw invalid(
          `header ${JSON.stringify(k)} must be a string of at most ${MAX_HEADER_VALUE} characters without line breaks or U+0000, got ${typeof v === 'string' ? `${v.length} characters` : typeof v}`,
        );
    }
    if (Object.keys(h).length > 0) headersJson = JSON.stringify(h);
  }
  let route: string | null = null;
  const routeOf = destination.target.routeOf;
  if (routeOf) {
    let value: unknown;
    try {
      value = routeOf(parsed.value, key);
    } catch (err) {
      throw invalid(`its route function threw: ${(err as Error)?.message ?? err}`);
    }
    const why = badRoute(destination.broker.kind, value);
    if (why) throw invalid(`its route function returned ${JSON.stringify(value)}, which ${why}`);
    route = value as string;
  }
  return { destination: name, key, route, payloadJson: json.text, headersJson };
}

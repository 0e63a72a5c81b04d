/** Option parsers shared by the commands. Each throws commander's InvalidArgumentError (exit 2). */
import { InvalidArgumentError, Option } from 'commander';
import { toMs } from '../duration.js';

const NAME_RE = /^[A-Za-z0-9_.:\-/]{1,200}$/;

/** What every database command accepts. */
export interface DatabaseOptions {
  databaseUrl?: string;
}

/** `--database-url`, falling back to `DATABASE_URL`; without either the CLI starts embedded PostgreSQL. */
export function databaseUrlOption(): Option {
  return new Option(
    '--database-url <url>',
    'PostgreSQL connection string (default: embedded PostgreSQL in .tandem/pg)',
  ).env('DATABASE_URL');
}

/** `'30s'`, `'5m'`, `'500ms'` or a number of milliseconds. */
export function parseDuration(value: string): number {
  try {
    return toMs(/^\d+$/.test(value) ? Number(value) : value, 'duration');
  } catch {
    throw new InvalidArgumentError(
      `expected a duration such as 500ms, 30s, 5m or 1h (or a number of milliseconds), got ${JSON.stringify(value)}`,
    );
  }
}

export function parseInteger(value: string): number {
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`expected an integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

export function parsePositiveInteger(value: string): number {
  const n = parseInteger(value);
  if (n < 1) throw new InvalidArgumentError(`expected an integer of at least 1, got ${n}`);
  return n;
}

/** A TCP port, 0 (any free one) to 65535. */
export function parsePort(value: string): number {
  const n = parseInteger(value);
  if (n < 0 || n > 65_535)
    throw new InvalidArgumentError(`expected a port from 0 to 65535, got ${n}`);
  return n;
}

export function parseQueueName(value: string): string {
  if (!NAME_RE.test(value)) {
    throw new InvalidArgumentError(
      `a queue name is 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * `default=10,payments=5` → `{ default: 10, payments: 5 }`. Strict: every
 * pair needs a valid queue name and a positive integer, and no queue twice.
 */
export function parseQueues(value: string): Record<string, number> {
  const example =
    'expected queue=concurrency pairs separated by commas, like default=10,payments=5';
  const out: Record<string, number> = {};
  if (value.trim() === '') throw new InvalidArgumentError(`${example}; got an empty string`);
  for (const raw of value.split(',')) {
    const part = raw.trim();
    const m = /^([^=]*)=(.*)$/.exec(part);
    if (!m) {
      throw new InvalidArgumentError(
        `${example}; ${part === '' ? 'found an empty entry (a stray comma?)' : `${JSON.stringify(part)} has no "="`}`,
      );
    }
    const name = m[1]!.trim();
    const count = m[2]!.trim();
    if (!NAME_RE.test(name)) {
      throw new InvalidArgumentError(
        `${example}; queue name ${JSON.stringify(name)} in ${JSON.stringify(part)} must be 1-200 characters of letters, digits and _ . : - /`,
      );
    }
    if (!/^\d+$/.test(count) || Number(count) < 1 || !Number.isSafeInteger(Number(count))) {
      throw new InvalidArgumentError(
        `${example}; concurrency ${JSON.stringify(count)} of queue ${JSON.stringify(name)} must be a positive integer`,
      );
    }
    if (Object.hasOwn(out, name)) {
      throw new InvalidArgumentError(`${example}; queue ${JSON.stringify(name)} is listed twice`);
    }
    out[name] = Number(count);
  }
  return out;
}

/** A task id: a positive integer (bigint), kept as a string. */
export function parseTaskId(value: string): string {
  if (!/^[1-9][0-9]{0,18}$/.test(value)) {
    throw new InvalidArgumentError(`a task id is a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

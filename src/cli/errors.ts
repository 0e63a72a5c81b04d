/**
 * How the CLI turns errors into a message and an exit code: 2 for bad input
 * (usage, arguments, payloads), 1 for everything else.
 */
import { TandemError, type TandemErrorCode } from '../errors.js';

/** An error in what the user typed. Exits 2, message only. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the message fully explains (no stack trace). Exits 1 unless told otherwise. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** TandemError codes that mean "the input was wrong", like a usage error. */
const INPUT_CODES = new Set<TandemErrorCode>([
  'UNKNOWN_TASK',
  'INVALID_PAYLOAD',
  'PAYLOAD_NOT_JSON',
  'PAYLOAD_TOO_LARGE',
  'INVALID_OPTIONS',
  'INVALID_DURATION',
  'INVALID_ID',
]);

interface PgDatabaseError extends Error {
  code: string;
  severity?: string;
  detail?: string;
  hint?: string;
}

const isPgError = (e: unknown): e is PgDatabaseError =>
  e instanceof Error &&
  typeof (e as PgDatabaseError).code === 'string' &&
  typeof (e as PgDatabaseError).severity === 'string';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** Prints `error: <message>` to stderr and returns the exit code. */
export function reportError(err: unknown): number {
  const say = (msg: string) => process.stderr.write(`error: ${msg}\n`);
  if (err instanceof UsageError) {
    say(err.message);
    return 2;
  }
  if (err instanceof CliError) {
    say(err.message);
    return err.exitCode;
  }
  if (err instanceof TandemError) {
    say(err.message);
    return INPUT_CODES.has(err.code) ? 2 : 1;
  }
  if (isPgError(err)) {
    say(`PostgreSQL: ${err.message}`);
    if (err.detail) process.stderr.write(`detail: ${err.detail}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    if (err.code === '3F000' || (err.code === '42P01' && err.message.includes('"tandem.'))) {
      process.stderr.write('hint: run `tandem migrate` to create the tandem schema\n');
    }
    return 1;
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && CONNECT_CODES.has(code)) {
    say(
      `could not connect to PostgreSQL (${(err as Error).message}); check --database-url or DATABASE_URL, or unset both to use the embedded PostgreSQL`,
    );
    return 1;
  }
  process.stderr.write(
    `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 1;
}

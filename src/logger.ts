import { pino } from 'pino';
import type { Logger } from './types.js';

/** Tandem's default logger: pino to stderr, level from TANDEM_LOG_LEVEL (default `info`). */
export function defaultLogger(): Logger {
  return pino(
    { name: 'tandem', level: process.env.TANDEM_LOG_LEVEL ?? 'info' },
    pino.destination(2),
  ) as unknown as Logger;
}

import { pino } from 'pino';
import type { Logger } from '../../src/index.js';

/** Tests log at warn and above only, unless TANDEM_LOG_LEVEL says otherwise. */
export const quietLogger = pino({
  level: process.env.TANDEM_LOG_LEVEL ?? 'silent',
}) as unknown as Logger;

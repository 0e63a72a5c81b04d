// Module hooks that append every resolved module URL to the file named in
// TANDEM_IMPORT_LOG: which modules a program loaded, for tests.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.TANDEM_IMPORT_LOG, `${result.url}\n`);
  return result;
}

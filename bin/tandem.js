#!/usr/bin/env node
// The `tandem` command: the compiled CLI (dist/, always there in the npm
// package), else the TypeScript sources through tsx (a checkout that was
// not built, `npm link`).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('error: tandem is not built: run `npm run build` (or npm install tsx)\n');
    process.exit(1);
  }
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

#!/usr/bin/env node
// The `tandem` command: the compiled CLI when built (dist/), else the
// TypeScript sources through tsx (a checkout, `npm link`).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

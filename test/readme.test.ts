/**
 * The README shows the walkthrough's files whole; this keeps them identical
 * to the files that CI type-checks and runs.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const root = new URL('..', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

it('shows every file it names exactly as it is', () => {
  const blocks = [...readme.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
  expect(blocks.map((b) => b[1])).toEqual([
    'examples/walkthrough/tasks.ts',
    'examples/walkthrough/main.ts',
  ]);
  for (const [, path, code] of blocks) {
    expect(code, path).toBe(readFileSync(new URL(path!, root), 'utf8'));
  }
});

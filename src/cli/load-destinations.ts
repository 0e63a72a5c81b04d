/**
 * Loads a user's destinations module (`--destinations`): every value made
 * by defineDestination() that it exports, as named exports or in a default
 * export that is an array or an object of them.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AnyDestination, isDestination } from '../destination.js';
import { UsageError } from './errors.js';
import { importModule } from './load-tasks.js';

export function collectDestinations(mod: Record<string, unknown>): AnyDestination[] {
  const found = new Set<AnyDestination>();
  for (const [name, value] of Object.entries(mod)) {
    if (isDestination(value)) found.add(value);
    else if (name === 'default' && value && typeof value === 'object') {
      for (const v of Array.isArray(value) ? value : Object.values(value))
        if (isDestination(v)) found.add(v);
    }
  }
  return [...found];
}

export async function loadDestinationModule(spec: string): Promise<AnyDestination[]> {
  const path = resolve(process.cwd(), spec);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UsageError(
      `--destinations ${spec}: no such file (looked for ${path}); give the path of a module that exports your defineDestination(...) values`,
    );
  }
  const mod = await importModule(path, spec, '--destinations');
  const destinations = collectDestinations(mod);
  if (destinations.length === 0) {
    const names = Object.keys(mod);
    throw new UsageError(
      `--destinations ${spec}: the module exports no destinations (values made by defineDestination); its exports: ${names.length ? names.join(', ') : 'none'}`,
    );
  }
  return destinations;
}

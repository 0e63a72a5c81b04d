/**
 * The claim bounds' bookkeeping on its own (no database): a bound the probe
 * moved back stays back until a round planned after the move has claimed
 * past it.
 */
import { expect, it } from 'vitest';
import { ClaimBounds } from '../src/worker/claim-bounds.js';

const at = (s: number) => `2026-12-07 06:00:${String(s).padStart(2, '0')}.000000`;
const noneInProgress = { xmin: 100n, xmax: 100n, xip: [] };

it('a round planned before the probe moved a bound back does not move it forward again', () => {
  const bounds = new ClaimBounds(new Map([['default', [0]]]));
  bounds.snapshotSeen(noneInProgress);
  bounds.observe('default', [{ priority: 0, runAt: at(10), id: '100' }], null, bounds.generation);
  expect(bounds.bounds('default')).toEqual([{ priority: 0, runAt: at(10), id: '100' }]);

  // A round is planned; then the probe finds a task given back behind the bound.
  const planned = bounds.generation;
  expect(bounds.lower('default', [{ priority: 0, runAt: at(5), id: '50' }])).toBe(true);
  expect(bounds.bounds('default')).toEqual([{ priority: 0, runAt: at(5), id: '49' }]);

  // That round scanned past the task and claimed later ones: the bound stays back.
  bounds.observe('default', [{ priority: 0, runAt: at(20), id: '200' }], null, planned);
  expect(bounds.bounds('default')).toEqual([{ priority: 0, runAt: at(5), id: '49' }]);

  // A round planned after the move claims the task and moves on.
  bounds.observe('default', [{ priority: 0, runAt: at(5), id: '50' }], null, bounds.generation);
  expect(bounds.bounds('default')).toEqual([{ priority: 0, runAt: at(5), id: '50' }]);
});

it('the probe creates the bounds of priorities no task definition has, and never moves a bound forward', () => {
  const bounds = new ClaimBounds(new Map([['default', [0]]]));
  expect(bounds.lower('default', [{ priority: -7, runAt: at(1), id: '10' }])).toBe(true);
  const rows = bounds.bounds('default');
  expect(rows).toContainEqual({ priority: -7, runAt: at(1), id: '9' });
  // Priority 0 still starts from the beginning; a key ahead of it changes nothing.
  expect(bounds.lower('default', [{ priority: 0, runAt: at(3), id: '30' }])).toBe(false);
  expect(bounds.bounds('default').find((b) => b.priority === 0)?.id).toBe('0');
});

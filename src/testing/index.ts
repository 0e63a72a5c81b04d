/**
 * Helpers for your own tests (`tandem-queue/testing`): a database per test
 * file, assertions on enqueued tasks, and running tasks without a worker.
 * They work with any test runner (vitest, node:test, jest): failures are
 * thrown `AssertionError`s.
 */
export { type DrainOptions, drain } from './drain.js';
export {
  type ExpectEnqueuedOptions,
  expectEnqueued,
  type PayloadMatch,
} from './expect-enqueued.js';
export type { TaskOutcome } from './inline-worker.js';
export { type RunTaskOptions, runTask } from './run-task.js';
export {
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseOptions,
} from './test-database.js';

/**
 * Payloads of a chosen size. The padding is the same string for every task
 * of a run, made of pseudo-random base64 characters from a fixed seed: it
 * compresses about as badly as real data (PostgreSQL's pglz would squeeze a
 * run of one character to nothing and keep an "8 KB" row inline), and runs
 * stay comparable.
 */
import type { Payload, PayloadShape } from './systems/types.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Bytes of `{"i":<6 digits>,"pad":""}`: what a padded payload costs before its padding. */
const OVERHEAD = JSON.stringify({ i: 100_000, pad: '' }).length;

/** A padding string that brings a payload's JSON to about `bytes` (none for tiny sizes). */
export function padFor(bytes: number): string | undefined {
  const n = bytes - OVERHEAD;
  if (n <= 0) return undefined;
  let seed = 0x2545f491;
  let out = '';
  for (let k = 0; k < n; k++) {
    // xorshift32
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out += ALPHABET[(seed >>> 0) % 64];
  }
  return out;
}

/** The payload of task `i`. */
export function makePayload(i: number, shape: PayloadShape | undefined): Payload {
  if (!shape) return { i };
  const p: Payload = { i };
  if (shape.stamp) p.t = performance.timeOrigin + performance.now();
  if (shape.pad !== undefined) p.pad = shape.pad;
  return p;
}

/** Wall-clock epoch milliseconds with sub-millisecond resolution, comparable across processes. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** "100 B", "1 KB", "8 KB". */
export function sizeLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KB` : `${bytes} B`;
}

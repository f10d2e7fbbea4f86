/**
 * With other gateway instances on one Redis (server/gateway/redis/shared-edge.ts): their fresh
 * copy of a kept answer, else the lease to read it upstream for them all, else their copy once
 * the instance holding the lease has stored it. The waiting is the only I/O here: Redis
 * through the injected `shared`, and the pause between two looks through `setTimer`.
 */
import type { SharedEdge } from '../redis/shared-edge';
import type { Clock } from '../../../src/shared/clock';
import { type AnswerCheck, keepableCopy, sharedKeepMs } from './keepable';
import type { KeptAnswer } from './kept-answers';

/** How often an instance looks again for the copy another one is reading, ms. */
export const LEASE_POLL_MS = 50;

export interface OthersCopyOptions {
  shared: SharedEdge;
  /** How long to wait for the copy another instance is reading before reading it here, ms. */
  waitMs: number;
  maxBytes: number;
  now: () => number;
  setTimer: Clock['setTimer'];
}

/**
 * Another instance's copy of `key` stored within `ttlMs`, checked; undefined: read upstream
 * (this instance holds the lease, or waited in vain, or the asker left, or Redis is down).
 */
export async function othersCopy(
  options: OthersCopyOptions,
  key: string,
  check: AnswerCheck,
  ttlMs: number,
  signal: AbortSignal,
): Promise<KeptAnswer | undefined> {
  const { shared, waitMs, now } = options;
  const deadline = now() + waitMs;
  for (;;) {
    const copy = keepableCopy(await shared.get(key), check, ttlMs, options.maxBytes, now());
    if (copy) return copy;
    if (signal.aborted || (await shared.lease(key, waitMs))) return undefined;
    if (now() >= deadline) return undefined;
    await new Promise<void>((resolve) => options.setTimer(resolve, LEASE_POLL_MS));
  }
}

/**
 * Reads upstream with `key`'s lease held (othersCopy said so), stores a kept result for the
 * other instances, and gives the lease back whatever happened.
 */
export async function readForOthers<T extends { kind: string; entry?: KeptAnswer }>(
  shared: SharedEdge,
  key: string,
  ttlMs: number,
  read: () => Promise<T>,
): Promise<T> {
  try {
    const outcome = await read();
    if (outcome.kind === 'kept' && outcome.entry) await shared.put(key, outcome.entry, sharedKeepMs(ttlMs));
    return outcome;
  } finally {
    await shared.release(key);
  }
}

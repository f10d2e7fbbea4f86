/**
 * The breaker's repository: reads its snapshot from IndexedDB (meta key 'breaker') at
 * worker start and writes it on every transition. The breaker itself does no I/O.
 */
import { getMeta, type PurlDatabase } from '../src/shared/db';
import type { BreakerSnapshot } from '../src/shared/network';
import { CircuitBreaker, isBreakerSnapshot, type CircuitBreakerOptions } from './breaker';
import type { GateStore } from './gate';
import { setMeta } from './store';

/**
 * The breaker as the last worker left it. A missing snapshot gives a closed breaker; so
 * does a stored value of the wrong shape or a failed read, with a warning, because a
 * worker that cannot start is worse than one that forgot a few failures.
 *
 * @throws RangeError for bad options (not for bad storage).
 */
export async function loadBreaker(db: PurlDatabase, options: CircuitBreakerOptions): Promise<CircuitBreaker> {
  let stored: unknown;
  try {
    stored = await getMeta(db, 'breaker');
  } catch (error) {
    console.warn('Purl: could not read the saved circuit breaker; starting closed', error);
    return new CircuitBreaker(options);
  }
  if (stored === undefined) return new CircuitBreaker(options);
  if (!isBreakerSnapshot(stored)) {
    console.warn('Purl: ignoring a saved circuit breaker of the wrong shape; starting closed', stored);
    return new CircuitBreaker(options);
  }
  return new CircuitBreaker(options, stored);
}

/** Writes the snapshot to meta key 'breaker'. */
export async function saveBreaker(db: PurlDatabase, snapshot: BreakerSnapshot): Promise<void> {
  await setMeta(db, 'breaker', snapshot);
}

export interface PersistOptions {
  /**
   * Receives each write (already guarded, it never rejects) so the worker can hand it
   * to `event.waitUntil`, keeping the worker alive until the snapshot is on disk.
   */
  track?: (write: Promise<void>) => void;
}

/**
 * Saves the breaker's snapshot on every transition. Writes are started in order, and
 * IndexedDB runs read-write transactions on one store in the order they were created,
 * so the last snapshot on disk is the last transition.
 *
 * @returns a function that stops saving.
 */
export function persistTransitions(breaker: CircuitBreaker, db: PurlDatabase, options: PersistOptions = {}): () => void {
  return breaker.onTransition((snapshot) => {
    const write = saveBreaker(db, snapshot).catch((error: unknown) => {
      // The breaker in memory is still right; only a restart before the next transition
      // would see the older snapshot, which is no worse than a closed breaker.
      console.warn('Purl: could not save the circuit breaker', error);
    });
    options.track?.(write);
  });
}

/**
 * The gate's copy in IndexedDB: the breaker (meta 'breaker', saved on every transition)
 * and the server's Retry-After (meta 'retryAt').
 */
export function gateStore(db: PurlDatabase, options: CircuitBreakerOptions, persist: PersistOptions = {}): GateStore {
  return {
    async load() {
      const breaker = await loadBreaker(db, options);
      persistTransitions(breaker, db, persist);
      const retryAt = await getMeta(db, 'retryAt').catch(() => undefined);
      return retryAt === undefined ? { breaker } : { breaker, retryAt };
    },
    saveRetryAt(at) {
      const write = setMeta(db, 'retryAt', at).catch((error: unknown) => {
        // Memory still holds it; a restart before it is saved only forgets a wait.
        console.warn('Purl: could not save Retry-After', error);
      });
      persist.track?.(write);
    },
  };
}

/**
 * A browser's very first visit shows data at once rather than at its first poll (whose
 * deadline is spread over a whole interval). Once a refresh has succeeded, ever, this
 * costs nothing: the answer is kept in memory, and storage is read once per worker start.
 */

export interface FirstVisitOptions {
  /** Whether a refresh ever succeeded (the sync status in IndexedDB). */
  hasSucceeded: () => Promise<boolean>;
  /** Reads the server now; rejects when it could not. */
  refresh: () => Promise<unknown>;
}

export function createFirstVisit(options: FirstVisitOptions): () => Promise<void> {
  let isDone = false;
  let hasChecked = false;
  return async () => {
    if (isDone) return;
    if (!hasChecked) {
      hasChecked = true;
      if (await options.hasSucceeded()) {
        isDone = true;
        return;
      }
    }
    try {
      await options.refresh();
      isDone = true;
    } catch {
      // Said in the sync status already; the next heartbeat tries again.
    }
  };
}

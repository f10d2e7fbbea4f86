/**
 * Long-lived tabs look for a new version of Purl: every hour, and when the tab becomes
 * visible again, at most once per `minGapMs`. The browser checks by itself only on
 * navigations (and at most once a day for the worker script), so a tab left open for
 * days would never offer an update. What happens when one is found is update.ts's job.
 */
export interface UpdateChecksOptions {
  /** Asks the browser to fetch the worker script again (workbox-window's `wb.update()`). */
  update: () => Promise<unknown>;
  now: () => number;
  isVisible: () => boolean;
  /** Calls `listener` when the tab's visibility changes; returns how to stop. */
  onVisibilityChange: (listener: () => void) => () => void;
  /** How often a tab checks (default one hour). */
  everyMs?: number;
  /** The least time between two checks (default ten minutes): focus changes often. */
  minGapMs?: number;
}

export const UPDATE_CHECK_EVERY_MS = 60 * 60_000;
export const UPDATE_CHECK_MIN_GAP_MS = 10 * 60_000;

/** Starts the checks (registration itself has just checked); returns how to stop them. */
export function startUpdateChecks(options: UpdateChecksOptions): () => void {
  const everyMs = options.everyMs ?? UPDATE_CHECK_EVERY_MS;
  const minGapMs = options.minGapMs ?? UPDATE_CHECK_MIN_GAP_MS;
  let lastAt = options.now();
  let timer: ReturnType<typeof setTimeout> | undefined;

  // The hourly check counts from the last check of either kind, so a focus check postpones it.
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(0, lastAt + everyMs - options.now()));
  };
  function check(): void {
    const at = options.now();
    if (at - lastAt >= minGapMs) {
      lastAt = at;
      void options.update().catch(() => {
        // Offline or the server is down: the next check tries again.
      });
    }
    schedule();
  }

  const stopListening = options.onVisibilityChange(() => {
    if (options.isVisible()) check();
  });
  schedule();
  return () => {
    clearTimeout(timer);
    stopListening();
  };
}

/**
 * The time the edge reads and the timers it sets, injected (STYLE.md #4) so its tests drive
 * them with a fake clock; the real ones are the defaults, so callers pass nothing.
 */

/** Calls `callback` once after `ms`; returns what cancels it. */
export type SetTimer = (callback: () => void, ms: number) => () => void;

/**
 * setTimeout, unref'd: a timer of the edge (a lease wait, a sweep, a notice waiting for its
 * window) never keeps the process alive by itself; the requests it serves do.
 */
export const realSetTimer: SetTimer = (callback, ms) => {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

/** Date.now, read at each call (so a test's fake Date is seen even if installed later). */
export const realNow = (): number => Date.now();

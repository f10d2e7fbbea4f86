/**
 * The gateway's timers, on the one clock (src/shared/clock.ts) so tests run them with
 * `manualClock()`: `every` repeats on `setTimer`, `sleep` waits on it.
 */
import type { Clock } from '../../src/shared/clock';

/**
 * The clock the gateway takes when none is given: the system's, its timers unref'd, so
 * a pending timer (a keep-alive, a sweep, the cluster log's pauses) never keeps the process alive.
 */
export const unrefClock: Clock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};

/** Calls `tick` every `ms` on `clock` until the returned function is called. */
export function every(clock: Clock, ms: number, tick: () => void): () => void {
  let cancel = () => {};
  let stopped = false;
  const arm = () => {
    cancel = clock.setTimer(() => {
      if (stopped) return;
      arm();
      tick();
    }, ms);
  };
  arm();
  return () => {
    stopped = true;
    cancel();
  };
}

/** Settles after `ms` on `clock`. */
export const sleep = (clock: Clock, ms: number) => new Promise<void>((resolve) => void clock.setTimer(resolve, ms));

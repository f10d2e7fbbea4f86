/**
 * The push route's timers, injected so tests can run them on a fake clock: `setTimer` is the
 * house's one-shot timer (as in sw/wake-loop.ts), and `every` repeats on it.
 */

/** Calls `callback` once after `ms`; returns what cancels it. */
export type SetTimer = (callback: () => void, ms: number) => () => void;

/** Node's timer, unref'd: a pending push timer never keeps the process alive. */
export const unrefTimer: SetTimer = (callback, ms) => {
  const timer = setTimeout(callback, ms);
  timer.unref?.();
  return () => clearTimeout(timer);
};

/** Calls `tick` every `ms` until the returned function is called. */
export function every(setTimer: SetTimer, ms: number, tick: () => void): () => void {
  let cancel = () => {};
  let stopped = false;
  const arm = () => {
    cancel = setTimer(() => {
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

/** Settles after `ms`. */
export const sleep = (setTimer: SetTimer, ms: number) => new Promise<void>((resolve) => void setTimer(resolve, ms));

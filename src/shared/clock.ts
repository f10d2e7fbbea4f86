/**
 * Time as both wings take it: the time now, as epoch ms (persisted values are epoch ms,
 * never `performance.now()`, which restarts with every worker start), and a timer that
 * returns its own cancel. Parts take a `Clock` instead of calling `Date.now()` and
 * `setTimeout` themselves, so tests drive them with `manualClock()` instead of sleeping.
 */

export interface Clock {
  now(): number;
  /** Calls `callback` once, `ms` from now; the returned function cancels it. */
  setTimer(callback: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => {
    const id = setTimeout(callback, ms);
    return () => clearTimeout(id);
  },
};

/** A clock for tests: time moves only when told, and the timers it passes fire in order of their due time. */
export interface ManualClock extends Clock {
  /** Moves time on by `ms`, firing each timer that falls due on the way (timers set by those fire too, when due). */
  advance(ms: number): void;
  /** Timers set and not yet fired or cancelled. */
  pending(): number;
}

export function manualClock(start = 0): ManualClock {
  let time = start;
  let sequence = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const nextDue = (until: number) => {
    let found: [number, { at: number; callback: () => void }] | undefined;
    for (const entry of timers) if (entry[1].at <= until && (!found || entry[1].at < found[1].at)) found = entry;
    return found;
  };
  return {
    now: () => time,
    setTimer(callback, ms) {
      if (!(ms >= 0)) throw new RangeError(`A timer needs a delay of 0 ms or more, got ${ms}.`);
      const id = sequence++;
      timers.set(id, { at: time + ms, callback });
      return () => timers.delete(id);
    },
    advance(ms) {
      if (!(ms >= 0)) throw new RangeError(`Time moves forward only, got ${ms} ms.`);
      const until = time + ms;
      for (let due = nextDue(until); due; due = nextDue(until)) {
        timers.delete(due[0]);
        time = Math.max(time, due[1].at);
        due[1].callback();
      }
      time = until;
    },
    pending: () => timers.size,
  };
}

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createWakeLoop, type WakeJob } from './wake-loop';

// The clock is fake (vitest's timers and Date): the loop's waits pass in no time, in order.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Runs the fake timers, one due time after another, until `promise` settles; resolves or rejects with it. */
async function drive<T>(promise: Promise<T>): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let step = 0; step < 10_000 && !settled; step += 1) await vi.advanceTimersToNextTimerAsync();
  return promise;
}

/** A job whose deadline the test sets; each run is logged and moves the deadline by `every` (Infinity: done). */
function job(name: string, dueAt: number, every: number, runsOnEvent = false) {
  const state = { dueAt, runs: [] as number[] };
  const spec: WakeJob = {
    name,
    runsOnEvent,
    dueAt: () => state.dueAt,
    run: async () => {
      state.runs.push(Date.now());
      state.dueAt = Date.now() + every;
    },
  };
  return { state, spec };
}

function loopOf(jobs: WakeJob[], lookaheadMs = 5_000, maxRunMs?: number) {
  const waits: number[] = [];
  const loop = createWakeLoop({
    now: Date.now,
    jobs,
    lookaheadMs,
    ...(maxRunMs === undefined ? {} : { maxRunMs }),
    setTimer: (callback, ms) => {
      waits.push(ms);
      const id = setTimeout(callback, ms);
      return () => clearTimeout(id);
    },
  });
  return { loop, waits };
}

describe('the wake loop', () => {
  it('runs a job added after it was made, from the next event on', async () => {
    const now = Date.now();
    const { loop } = loopOf([]);
    await loop.tick();
    const added = job('outbox', now + 60_000, Infinity, true);
    loop.add(added.spec);
    expect(added.state.runs).toHaveLength(0);
    await loop.tick();
    expect(added.state.runs).toHaveLength(1);
    expect(loop.nextWakeAt()).toBe(Infinity);
  });

  it('runs the jobs an event runs, and what is due, then ends when nothing falls due within the lookahead', async () => {
    const now = Date.now();
    const onEvent = job('polls', now + 60_000, Infinity, true);
    const due = job('health', now - 1, 60_000);
    const later = job('outbox', now + 60_000, Infinity);
    const { loop, waits } = loopOf([onEvent.spec, due.spec, later.spec]);
    await loop.tick();
    expect(onEvent.state.runs).toHaveLength(1);
    expect(due.state.runs).toHaveLength(1);
    expect(later.state.runs).toHaveLength(0);
    expect(waits).toEqual([]);
  });

  it('waits for the earliest deadline and never wakes sooner', async () => {
    const start = Date.now();
    const health = job('health', start + 300, 300);
    const stop: WakeJob = {
      ...health.spec,
      run: async () => {
        await health.spec.run();
        if (health.state.runs.length === 3) health.state.dueAt = Infinity;
      },
    };
    const { loop, waits } = loopOf([stop], 1_000);
    await drive(loop.tick());
    expect(health.state.runs).toHaveLength(3);
    // Each run came at its deadline, not before.
    for (const [i, at] of health.state.runs.entries()) expect(at).toBeGreaterThanOrEqual(start + 300 * (i + 1) - 5);
    expect(waits).toHaveLength(3);
    expect(waits.every((ms) => ms >= 250)).toBe(true);
  });

  it('with a job held far off (a breaker probe in minutes), sets no timer at all', async () => {
    const held = job('polls', Date.now() + 290_000, Infinity, true);
    const { loop, waits } = loopOf([held.spec]);
    for (let i = 0; i < 20; i += 1) await loop.tick();
    expect(waits).toEqual([]);
    expect(held.state.runs).toHaveLength(20);
  });

  it('waits a second instead of spinning when a job stays due after it ran', async () => {
    const stuck: WakeJob = { name: 'stuck', runsOnEvent: false, dueAt: () => Date.now() - 1, run: async () => undefined };
    const { loop, waits } = loopOf([stuck], 1_500);
    const ticking = loop.tick();
    await vi.advanceTimersByTimeAsync(2_200);
    // One short wait for the first due time, then one-second waits: a handful, not hundreds.
    expect(waits.length).toBeLessThanOrEqual(4);
    expect(waits.slice(1).every((ms) => ms === 1_000)).toBe(true);
    void ticking;
  });

  it('merges ticks that arrive while it runs into one more round, and cuts a wait short', async () => {
    const now = Date.now();
    const onEvent = job('outbox', now + 60_000, Infinity, true);
    const health = job('health', now + 2_000, 60_000);
    const { loop } = loopOf([onEvent.spec, health.spec]);
    const first = loop.tick();
    await vi.advanceTimersByTimeAsync(50);
    const second = loop.tick();
    const third = loop.tick();
    expect(second).toBe(third);
    await vi.advanceTimersByTimeAsync(50);
    // The waiting loop woke for the ticks and ran the event's jobs again, well before the health deadline.
    expect(onEvent.state.runs).toHaveLength(2);
    await drive(first);
  });

  it('ends a loop kept going by a short cadence before the browser would stop the event holding it, and a tick starts a new one', async () => {
    const health = job('health', Date.now() + 100, 100);
    const { loop } = loopOf([health.spec], 5_000, 450);
    const started = Date.now();
    await drive(loop.tick());
    expect(Date.now() - started).toBeLessThan(600);
    const runs = health.state.runs.length;
    expect(runs).toBeGreaterThanOrEqual(3);
    await drive(loop.tick());
    expect(health.state.runs.length).toBeGreaterThan(runs);
  });
});

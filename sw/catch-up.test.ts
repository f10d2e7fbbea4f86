import { describe, expect, it } from 'vitest';
import type { BreakerView } from '../src/shared/network';
import { createCatchUp, createProbeJob } from './catch-up';

describe('catching up after an outage', () => {
  it('lets the polls in flight finish, then makes backed-off polls and waiting messages due now, then asks for a round', async () => {
    const steps: string[] = [];
    let finishPoll: () => void = () => undefined;
    const catchUp = createCatchUp({
      poller: {
        tick: () =>
          new Promise<void>((resolve) => {
            finishPoll = () => {
              steps.push('poll in flight ended');
              resolve();
            };
          }),
        retryFailed: async (at, baseMs) => {
          steps.push(`polls due at ${at}, chat back to ${baseMs('chat')} ms`);
        },
      },
      baseMs: (kind) => (kind === 'chat' ? 5_000 : 60_000),
      retryOutbox: async () => {
        steps.push('messages due now');
      },
      now: () => 42,
      requestRound: () => steps.push('round'),
    });
    const first = catchUp();
    const second = catchUp();
    expect(second).toBe(first);
    await Promise.resolve();
    expect(steps).toEqual([]);
    finishPoll();
    await first;
    expect(steps).toEqual(['poll in flight ended', 'polls due at 42, chat back to 5000 ms', 'messages due now', 'round']);
  });

  it('never rejects: the next event runs what is due anyway', async () => {
    const catchUp = createCatchUp({
      poller: { tick: async () => undefined, retryFailed: () => Promise.reject(new Error('disk full')) },
      baseMs: () => 1_000,
      retryOutbox: async () => undefined,
      now: () => 0,
      requestRound: () => undefined,
    });
    await expect(catchUp()).resolves.toBeUndefined();
  });
});

describe('the breaker’s probe', () => {
  it('makes the backed-off polls due when an open breaker’s timeout passes, once per opening, again after a reopen', async () => {
    const clock = { now: 1_000 };
    let breaker: BreakerView = { state: 'closed', failures: 0 };
    const retried: number[] = [];
    const job = createProbeJob({
      poller: { retryFailed: async (at) => void retried.push(at) },
      breaker: () => breaker,
      baseMs: () => 5_000,
      now: () => clock.now,
    });
    expect(job.dueAt()).toBeUndefined();

    breaker = { state: 'open', openedAt: 1_000, nextProbeAt: 9_000 };
    expect(job.dueAt()).toBe(9_000);
    // Run early (an event): nothing yet.
    await job.run();
    expect(retried).toEqual([]);

    clock.now = 9_000;
    breaker = { ...breaker, state: 'half-open' };
    await job.run();
    expect(retried).toEqual([9_000]);
    expect(job.dueAt()).toBeUndefined();
    await job.run();
    expect(retried).toEqual([9_000]);

    // The probe failed: a new opening, a new probe time.
    breaker = { state: 'open', openedAt: 9_500, nextProbeAt: 17_500 };
    expect(job.dueAt()).toBe(17_500);
    clock.now = 17_600;
    await job.run();
    expect(retried).toEqual([9_000, 17_600]);
  });
});

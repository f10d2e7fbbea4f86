import { describe, expect, it } from 'vitest';
import { createCatchUp } from './catch-up';

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

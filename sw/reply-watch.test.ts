import { describe, expect, it } from 'vitest';
import { createReplyWatch } from './reply-watch';

function harness(awaiting = { is: true }) {
  const clock = { now: 1_000_000 };
  const windows: number[] = [];
  const watch = createReplyWatch({
    now: () => clock.now,
    awaitingReply: async (windowMs) => {
      windows.push(windowMs);
      return awaiting.is;
    },
  });
  return { clock, watch, windows, awaiting };
}

describe('the reply watch', () => {
  it('polls the chat a second after a message is sent', () => {
    const { watch } = harness();
    expect(watch.sent()).toBe(1_001_000);
  });

  it('looks again a second after each empty poll while the reply is awaited, four times at most per message', async () => {
    const { clock, watch, windows } = harness();
    watch.sent();
    const rechecks: (number | undefined)[] = [];
    for (let i = 0; i < 6; i += 1) {
      clock.now += 1_000;
      rechecks.push(await watch.afterPoll('unchanged'));
    }
    expect(rechecks).toEqual([1_002_000, 1_003_000, 1_004_000, 1_005_000, undefined, undefined]);
    expect(windows.every((ms) => ms === 20_000)).toBe(true);
    // The next message starts again.
    watch.sent();
    expect(await watch.afterPoll('unchanged')).toBe(clock.now + 1_000);
  });

  it('goes back to the usual interval once something arrived, or when no reply is awaited', async () => {
    const { watch, awaiting } = harness();
    watch.sent();
    expect(await watch.afterPoll('changed')).toBeUndefined();
    expect(await watch.afterPoll('unchanged')).toBeUndefined();
    watch.sent();
    awaiting.is = false;
    expect(await watch.afterPoll('unchanged')).toBeUndefined();
  });

  it('does not recheck before any message was sent', async () => {
    const { watch } = harness();
    expect(await watch.afterPoll('unchanged')).toBeUndefined();
  });
});

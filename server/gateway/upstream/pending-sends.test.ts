import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { PendingSends, type SendOutcome } from './pending-sends';

const ROW = 'eeeeeeee-0000-4000-8000-000000000001';

describe('the sends awaiting their acknowledgement', () => {
  it('is stored at the echo’s time once acknowledged, and hands the echo its clientMessageId', async () => {
    const clock = manualClock(1_000);
    const sends = new PendingSends(clock);
    const outcome = sends.start('m-1', 'c-1', 5_000);
    expect(sends.echoed('m-1', 42)).toBe('c-1');
    sends.acknowledged('m-1', ROW);
    await expect(outcome).resolves.toEqual({ kind: 'stored', id: ROW, createdAt: 42 });
    expect(clock.pending()).toBe(0);
    expect(sends.size).toBe(0);
  });

  it('is stored at the time now when no echo came first', async () => {
    const sends = new PendingSends(manualClock(7_000));
    const outcome = sends.start('m-1', undefined, 5_000);
    sends.acknowledged('m-1', ROW);
    await expect(outcome).resolves.toEqual({ kind: 'stored', id: ROW, createdAt: 7_000 });
  });

  it('times out on the clock, and settles once only', async () => {
    const clock = manualClock();
    const sends = new PendingSends(clock);
    const outcome = sends.start('m-1', undefined, 5_000);
    clock.advance(4_999);
    expect(sends.size).toBe(1);
    clock.advance(1);
    sends.acknowledged('m-1', ROW);
    await expect(outcome).resolves.toEqual({ kind: 'timeout' });
  });

  it('settles every send under way at once, and knows nothing of sends not its own', async () => {
    const clock = manualClock();
    const sends = new PendingSends(clock);
    const outcomes: Promise<SendOutcome>[] = [sends.start('m-1', undefined, 5_000), sends.start('m-2', undefined, 5_000)];
    expect(sends.echoed('other', 1)).toBeUndefined();
    sends.settleAll({ kind: 'failed', error: 'the database is away' });
    expect(await Promise.all(outcomes)).toEqual([
      { kind: 'failed', error: 'the database is away' },
      { kind: 'failed', error: 'the database is away' },
    ]);
    expect(clock.pending()).toBe(0);
  });
});

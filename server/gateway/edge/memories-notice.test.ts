import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import { createMemoriesNotice, type MemoriesNotice } from './memories-notice';

describe('the memories notice', () => {
  let sent: [string, string][];
  let notice: MemoriesNotice;

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    notice = createMemoriesNotice({ windowMs: 2_000, send: (agentId, cursor) => sent.push([agentId, cursor]), now: Date.now });
  });

  afterEach(() => {
    notice.close();
    vi.useRealTimers();
  });

  it('tells the first change at once, and the changes within the window once at its end with the newest cursor', () => {
    notice.changed('a', 'e.1');
    expect(sent).toEqual([['a', 'e.1']]);
    vi.advanceTimersByTime(500);
    notice.changed('a', 'e.2');
    notice.changed('a', 'e.3');
    vi.advanceTimersByTime(1_499);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([
      ['a', 'e.1'],
      ['a', 'e.3'],
    ]);
    // That one opened a window of its own.
    notice.changed('a', 'e.4');
    vi.advanceTimersByTime(1_999);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sent.at(-1)).toEqual(['a', 'e.4']);
  });

  it('keeps a window per agent, and tells a change after a quiet window at once', () => {
    notice.changed('a', 'e.1');
    notice.changed('b', 'e.2');
    expect(sent).toEqual([
      ['a', 'e.1'],
      ['b', 'e.2'],
    ]);
    vi.advanceTimersByTime(2_000);
    notice.changed('a', 'e.3');
    expect(sent.at(-1)).toEqual(['a', 'e.3']);
  });

  it('drops what waits for its window on close, and refuses a window of 0', () => {
    notice.changed('a', 'e.1');
    notice.changed('a', 'e.2');
    notice.close();
    vi.advanceTimersByTime(5_000);
    expect(sent).toHaveLength(1);
    expect(() => createMemoriesNotice({ windowMs: 0, send: () => undefined })).toThrowError(RangeError);
  });

  it('waits on the clock it is given', () => {
    const clock = manualClock(1_000_000);
    const told: string[] = [];
    const onClock = createMemoriesNotice({ windowMs: 2_000, send: (_agentId, cursor) => told.push(cursor), ...clock });
    onClock.changed('a', 'e.1');
    onClock.changed('a', 'e.2');
    expect(clock.pending()).toBe(1);
    clock.advance(1_999);
    expect(told).toEqual(['e.1']);
    clock.advance(1);
    expect(told).toEqual(['e.1', 'e.2']);
    onClock.changed('a', 'e.3');
    onClock.close();
    expect(clock.pending()).toBe(0);
  });
});

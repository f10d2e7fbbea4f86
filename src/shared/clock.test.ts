import { describe, expect, it, vi } from 'vitest';
import { manualClock, systemClock } from './clock';

describe('the manual clock', () => {
  it('fires timers in order of their due time, at their due time, and only when time passes them', () => {
    const clock = manualClock(1000);
    const fired: [string, number][] = [];
    clock.setTimer(() => fired.push(['late', clock.now()]), 300);
    clock.setTimer(() => fired.push(['early', clock.now()]), 100);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(101);
    expect(fired).toEqual([['early', 1100]]);
    expect(clock.now()).toBe(1200);
    clock.advance(100);
    expect(fired).toEqual([
      ['early', 1100],
      ['late', 1300],
    ]);
  });

  it('fires a timer set by a timer when it falls due within the same advance', () => {
    const clock = manualClock();
    const fired: number[] = [];
    const tick = () => {
      fired.push(clock.now());
      if (fired.length < 3) clock.setTimer(tick, 10);
    };
    clock.setTimer(tick, 10);
    clock.advance(100);
    expect(fired).toEqual([10, 20, 30]);
    expect(clock.now()).toBe(100);
    expect(clock.pending()).toBe(0);
  });

  it('never fires a cancelled timer', () => {
    const clock = manualClock();
    const callback = vi.fn();
    const cancel = clock.setTimer(callback, 5);
    expect(clock.pending()).toBe(1);
    cancel();
    clock.advance(10);
    expect(callback).not.toHaveBeenCalled();
    expect(clock.pending()).toBe(0);
  });

  it('refuses to go back in time or take a negative delay', () => {
    const clock = manualClock();
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.setTimer(() => {}, Number.NaN)).toThrow(/0 ms or more, got NaN/);
  });
});

describe('the system clock', () => {
  it('tells epoch ms and cancels its timers', () => {
    vi.useFakeTimers({ now: 5000 });
    try {
      const callback = vi.fn();
      expect(systemClock.now()).toBe(5000);
      systemClock.setTimer(callback, 10)();
      vi.advanceTimersByTime(20);
      expect(callback).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });
});

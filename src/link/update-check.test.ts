import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startUpdateChecks } from './update-check';

const MINUTE = 60_000;

function page() {
  let visible = true;
  let listener: (() => void) | undefined;
  const update = vi.fn(async () => undefined);
  const stop = startUpdateChecks({
    update,
    now: Date.now,
    isVisible: () => visible,
    onVisibilityChange: (on) => {
      listener = on;
      return () => (listener = undefined);
    },
  });
  const show = (isVisible: boolean) => {
    visible = isVisible;
    listener?.();
  };
  return { update, stop, show, isListening: () => listener !== undefined };
}

beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
afterEach(() => vi.useRealTimers());

describe('checking for a new version', () => {
  it('checks every hour while the tab stays open', () => {
    const { update } = page();
    vi.advanceTimersByTime(59 * MINUTE);
    expect(update).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MINUTE);
    expect(update).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(2 * 60 * MINUTE);
    expect(update).toHaveBeenCalledTimes(3);
  });

  it('checks when the tab becomes visible again, at most once in ten minutes', () => {
    const { update, show } = page();
    vi.advanceTimersByTime(5 * MINUTE);
    show(false);
    show(true);
    expect(update).not.toHaveBeenCalled(); // registration checked five minutes ago
    vi.advanceTimersByTime(6 * MINUTE);
    show(false);
    expect(update).not.toHaveBeenCalled(); // hiding is no reason to check
    show(true);
    expect(update).toHaveBeenCalledTimes(1);
    show(false);
    show(true);
    expect(update).toHaveBeenCalledTimes(1);
  });

  it('counts the hour from the last check, so a focus check postpones the hourly one', () => {
    const { update, show } = page();
    vi.advanceTimersByTime(50 * MINUTE);
    show(true);
    expect(update).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(59 * MINUTE);
    expect(update).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(MINUTE);
    expect(update).toHaveBeenCalledTimes(2);
  });

  it('keeps checking after a failed check', async () => {
    const { update } = page();
    update.mockRejectedValueOnce(new TypeError('offline'));
    await vi.advanceTimersByTimeAsync(60 * MINUTE);
    await vi.advanceTimersByTimeAsync(60 * MINUTE);
    expect(update).toHaveBeenCalledTimes(2);
  });

  it('stops checking when stopped', () => {
    const { update, stop, isListening } = page();
    stop();
    vi.advanceTimersByTime(3 * 60 * MINUTE);
    expect(update).not.toHaveBeenCalled();
    expect(isListening()).toBe(false);
  });
});

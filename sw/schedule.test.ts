import { describe, expect, it } from 'vitest';
import type { PollSchedule, TabState } from '../src/shared/network';
import {
  afterPoll,
  cadenceOf,
  dueAt,
  effectiveInterval,
  firstDueAt,
  freshSchedule,
  isDue,
  scheduleDefaults,
  type PollOutcome,
  type ScheduleOptions,
} from './schedule';

const BASE = 60_000;
const MINUTE = 60_000;
/** random() = 0.5 puts the ±10 % jitter at exactly 1, so intervals are exact. */
const options = (overrides: Partial<ScheduleOptions> = {}): ScheduleOptions => ({
  ...scheduleDefaults,
  baseMs: BASE,
  random: () => 0.5,
  ...overrides,
});
const tab = (tabId: string, visible: boolean, active: boolean, seenAt = 1_000_000): TabState => ({ tabId, visible, active, seenAt });

/** Feeds outcomes in order from one clock time, returning each resulting schedule. */
function run(outcomes: readonly PollOutcome[], opts = options(), start?: PollSchedule): PollSchedule[] {
  const result: PollSchedule[] = [];
  let schedule = start;
  for (const outcome of outcomes) {
    schedule = afterPoll(schedule, outcome, 0, opts);
    result.push(schedule);
  }
  return result;
}

describe('cadenceOf', () => {
  const now = 1_000_000;

  it('is active when any tab is visible and in use', () => {
    expect(cadenceOf([tab('a', false, false), tab('b', true, true)], now)).toBe('active');
  });

  it('is background when every tab is hidden', () => {
    expect(cadenceOf([tab('a', false, true), tab('b', false, false)], now)).toBe('background');
  });

  it('is background when the visible tabs are idle', () => {
    expect(cadenceOf([tab('a', true, false)], now)).toBe('background');
  });

  it('is none when no tab is open', () => {
    expect(cadenceOf([], now)).toBe('none');
  });

  it('ignores tabs not heard from for more than 75 s', () => {
    expect(cadenceOf([tab('a', true, true, now - 75_001)], now)).toBe('none');
    expect(cadenceOf([tab('a', true, true, now - 75_001), tab('b', false, false, now - 75_000)], now)).toBe('background');
  });

  it('uses the given gone-after window', () => {
    expect(cadenceOf([tab('a', true, true, now - 10_001)], now, { goneAfterMs: 10_000 })).toBe('none');
  });
});

describe('afterPoll', () => {
  it('stretches the interval step by step while polls find nothing, up to the maximum stretch', () => {
    const intervals = run(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']).map((s) => s.intervalMs);
    expect(intervals).toEqual([90_000, 135_000, 202_500, 240_000, 240_000, 240_000]);
  });

  it('resets the interval to the base when a poll finds a change', () => {
    const [, , changed] = run(['unchanged', 'unchanged', 'changed']);
    expect(changed).toEqual({ nextDueAt: BASE, intervalMs: BASE, unchangedStreak: 0, errorStreak: 0 });
  });

  it('schedules the next poll one interval from now, not from the old deadline', () => {
    const missed: PollSchedule = { nextDueAt: 1_000, intervalMs: BASE, unchangedStreak: 0, errorStreak: 0 };
    expect(afterPoll(missed, 'changed', 10 * BASE, options()).nextDueAt).toBe(11 * BASE);
  });

  it('keeps each success interval within ±10 % of the stretched interval, and uses the whole range', () => {
    const seen: number[] = [];
    for (let i = 0; i < 1_000; i += 1) {
      const random = () => i / 1_000;
      seen.push(afterPoll(undefined, 'changed', 0, options({ random })).intervalMs / BASE);
      const atCap: PollSchedule = { nextDueAt: 0, intervalMs: 4 * BASE, unchangedStreak: 10, errorStreak: 0 };
      const stretched = afterPoll(atCap, 'unchanged', 0, options({ random })).intervalMs / (4 * BASE);
      expect(stretched).toBeGreaterThanOrEqual(0.9);
      expect(stretched).toBeLessThanOrEqual(1.1);
    }
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(0.9);
    expect(Math.max(...seen)).toBeLessThanOrEqual(1.1);
    expect(Math.min(...seen)).toBeLessThan(0.901);
    expect(Math.max(...seen)).toBeGreaterThan(1.099);
  });

  it('backs off exponentially after errors, each wait uniformly in [cap/2, cap]', () => {
    for (const r of [0, 0.25, 0.999_999]) {
      const schedules = run(['error', 'error', 'error', 'error'], options({ random: () => r }));
      schedules.forEach((schedule, i) => {
        const cap = BASE * 2 ** (i + 1);
        expect(schedule.errorStreak).toBe(i + 1);
        expect(schedule.intervalMs).toBeGreaterThanOrEqual(cap / 2);
        expect(schedule.intervalMs).toBeLessThanOrEqual(cap);
      });
    }
    expect(run(['error', 'error', 'error'], options({ random: () => 0 })).map((s) => s.intervalMs)).toEqual([60_000, 120_000, 240_000]);
  });

  it('never waits more than 30 minutes however many errors in a row', () => {
    const schedules = run(Array<PollOutcome>(60).fill('error'), options({ random: () => 0.999_999 }));
    expect(Math.max(...schedules.map((s) => s.intervalMs))).toBeLessThanOrEqual(30 * MINUTE);
    expect(schedules.at(-1)?.intervalMs).toBeGreaterThan(29.9 * MINUTE);
    expect(schedules.at(-1)?.errorStreak).toBe(60);
  });

  it('backs off from the base interval, not from the interval stretched while nothing changed', () => {
    // Three empty polls stretched the interval to 202.5 s; the first retry still comes within 1–2 base intervals.
    const [, , , failed, again] = run(['unchanged', 'unchanged', 'unchanged', 'error', 'error'], options({ random: () => 0 }));
    expect(failed).toMatchObject({ intervalMs: BASE, unchangedStreak: 3, errorStreak: 1 });
    expect(again).toMatchObject({ intervalMs: 2 * BASE, unchangedStreak: 3, errorStreak: 2 });
  });

  it('backs off from errorBaseMs when given (push’s safety net fails: retried at the poll’s own pace), never from more than the base', () => {
    const [failed, again] = run(['error', 'error'], options({ random: () => 0, errorBaseMs: 5_000 }));
    expect(failed).toMatchObject({ intervalMs: 5_000, errorStreak: 1 });
    expect(again).toMatchObject({ intervalMs: 10_000, errorStreak: 2 });
    expect(run(['error'], options({ random: () => 0, errorBaseMs: 10 * BASE }))[0]).toMatchObject({ intervalMs: BASE });
  });

  it('tries again one base interval on after a poll failed offline, keeping both streaks, however long it stays offline', () => {
    const schedules = run(['unchanged', 'error', ...Array<PollOutcome>(600).fill('offline')]);
    for (const offline of schedules.slice(2)) expect(offline).toEqual({ nextDueAt: BASE, intervalMs: BASE, unchangedStreak: 1, errorStreak: 1 });
    // Back online, a server error backs off from where the streak stood, not from ten minutes of failures.
    const [next] = run(['error'], options({ random: () => 0 }), schedules.at(-1));
    expect(next).toMatchObject({ intervalMs: 2 * BASE, errorStreak: 2 });
  });

  it('resets the error streak and the backoff after a success', () => {
    const [, , recovered] = run(['error', 'error', 'unchanged']);
    expect(recovered).toEqual({ nextDueAt: 90_000, intervalMs: 90_000, unchangedStreak: 1, errorStreak: 0 });
  });

  it('rejects options out of range with a RangeError naming the value', () => {
    expect(() => afterPoll(undefined, 'changed', 0, options({ baseMs: 0 }))).toThrow(new RangeError('schedule: baseMs is out of range: 0'));
    expect(() => afterPoll(undefined, 'changed', 0, options({ unchangedStep: 0.5 }))).toThrow(RangeError);
  });
});

describe('firstDueAt', () => {
  it('spreads first polls over one interval by the browser’s phase', () => {
    expect([0, 0.25, 0.5, 0.999].map((phase) => firstDueAt(1_000, BASE, phase))).toEqual([1_000, 16_000, 31_000, 60_940]);
  });

  it('rejects a phase outside [0, 1)', () => {
    expect(() => firstDueAt(0, BASE, 1)).toThrow(RangeError);
    expect(() => firstDueAt(0, BASE, -0.1)).toThrow(RangeError);
  });
});

describe('cadence and deadlines', () => {
  const polled: PollSchedule = { nextDueAt: 100_000 + BASE, intervalMs: BASE, unchangedStreak: 0, errorStreak: 0 };

  it('is due at the deadline while a tab is active', () => {
    expect(isDue(polled, 100_000 + BASE - 1, 'active', options())).toBe(false);
    expect(isDue(polled, 100_000 + BASE, 'active', options())).toBe(true);
  });

  it('polls five times slower when every tab is hidden or idle', () => {
    expect(effectiveInterval(polled, 'background', options())).toBe(5 * BASE);
    expect(isDue(polled, 100_000 + 5 * BASE - 1, 'background', options())).toBe(false);
    expect(isDue(polled, 100_000 + 5 * BASE, 'background', options())).toBe(true);
  });

  it('never slows a background poll beyond the 30-minute ceiling', () => {
    const stretched: PollSchedule = { nextDueAt: 10 * MINUTE, intervalMs: 10 * MINUTE, unchangedStreak: 4, errorStreak: 0 };
    expect(effectiveInterval(stretched, 'background', options())).toBe(30 * MINUTE);
    const longer: PollSchedule = { ...stretched, intervalMs: 40 * MINUTE };
    expect(effectiveInterval(longer, 'background', options())).toBe(40 * MINUTE);
  });

  it('never polls with no tab open', () => {
    expect(effectiveInterval(polled, 'none', options())).toBe(Number.POSITIVE_INFINITY);
    expect(isDue(polled, Number.MAX_SAFE_INTEGER, 'none', options())).toBe(false);
  });

  it('applies a cadence change to a poll already scheduled, both ways', () => {
    expect(dueAt(polled, 'background', options())).toBe(100_000 + 5 * BASE);
    expect(dueAt(polled, 'active', options())).toBe(polled.nextDueAt);
  });

  it('is due at once when the clock was set back past the last poll', () => {
    expect(isDue(polled, 99_999, 'active', options())).toBe(true);
  });

  it('makes a fresh schedule due at the browser’s phase offset', () => {
    const fresh = freshSchedule(1_000, BASE, 0.5);
    expect(isDue(fresh, 30_999, 'active', options())).toBe(false);
    expect(isDue(fresh, 31_000, 'active', options())).toBe(true);
  });
});

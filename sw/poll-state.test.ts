import { describe, expect, it } from 'vitest';
import type { PollSchedule, TabState } from '../src/shared/network';
import { type Claim, claimed, expedited, isPhase, outcomeOf, prunedTabs, recorded, retriedFailed, withTab } from './poll-state';
import { scheduleDefaults, type ScheduleOptions, TAB_GONE_AFTER_MS } from './schedule';

const T0 = 1_000_000;
/** 0.5 puts the ±10 % jitter at exactly 1 and the backoff in the middle of its range. */
const options = (baseMs: number): ScheduleOptions => ({ ...scheduleDefaults, baseMs, random: () => 0.5 });
const MEMORIES: Claim = { kind: 'memories', options: options(60_000) };
const CHAT: Claim = { kind: 'chat', options: options(5_000) };
const schedule = (nextDueAt: number, intervalMs: number, errorStreak = 0, unchangedStreak = 0): PollSchedule => ({
  nextDueAt,
  intervalMs,
  unchangedStreak,
  errorStreak,
});
const tab = (tabId: string, seenAt: number): TabState => ({ tabId, visible: true, active: true, seenAt });

describe('claiming due polls', () => {
  it('gives a wanted poll without a schedule one placed by the phase, and claims nothing before it is due', () => {
    const step = claimed(undefined, [MEMORIES], T0, 'active', 0.5);
    expect(step).toEqual({ claims: [], schedules: { memories: schedule(T0 + 30_000, 60_000) }, isChanged: true });
  });

  it('claims a due poll by moving its deadline one interval on before it runs', () => {
    const stored = { memories: schedule(T0, 60_000), chat: schedule(T0 + 1_000, 5_000) };
    const step = claimed(stored, [MEMORIES, CHAT], T0, 'active', 0);
    expect(step.claims).toEqual([MEMORIES]);
    expect(step.schedules).toEqual({ memories: schedule(T0 + 60_000, 60_000), chat: stored.chat });
    expect(step.isChanged).toBe(true);
    // The stored value is left as it was: the step returns a new one.
    expect(stored.memories.nextDueAt).toBe(T0);
  });

  it('changes nothing when every wanted poll has a schedule and none is due', () => {
    const stored = { memories: schedule(T0 + 10, 60_000) };
    expect(claimed(stored, [MEMORIES], T0, 'active', 0)).toEqual({ claims: [], schedules: stored, isChanged: false });
  });

  it('keeps the schedules of kinds not wanted now', () => {
    const stored = { chat: schedule(T0, 5_000) };
    const step = claimed(stored, [MEMORIES], T0, 'active', 0);
    expect(step.claims).toEqual([MEMORIES]);
    expect(step.schedules.chat).toEqual(stored.chat);
  });

  it('claims a poll due for an active tab later when every tab is in the background', () => {
    const stored = { chat: schedule(T0, 5_000) };
    expect(claimed(stored, [CHAT], T0, 'background', 0).claims).toEqual([]);
    // Five times the interval from the start of the last one.
    expect(claimed(stored, [CHAT], T0 - 5_000 + 25_000, 'background', 0).claims).toEqual([CHAT]);
  });
});

describe('recording a poll', () => {
  it('moves the schedule on as after its run, keeping the other kinds', () => {
    const stored = { memories: schedule(T0, 60_000), chat: schedule(T0, 5_000) };
    const next = recorded(stored, 'memories', 'unchanged', T0, MEMORIES.options);
    expect(next).toEqual({ memories: schedule(T0 + 90_000, 90_000, 0, 1), chat: stored.chat });
  });

  it('keeps the poll due by the time its run asked for, when that is sooner', () => {
    expect(recorded(undefined, 'chat', 'changed', T0, CHAT.options, T0 + 1_000).chat?.nextDueAt).toBe(T0 + 1_000);
    expect(recorded(undefined, 'chat', 'changed', T0, CHAT.options, T0 + 9_000).chat?.nextDueAt).toBe(T0 + 5_000);
  });

  it('reads what a poll found, with or without a time its next poll is due by', () => {
    expect(outcomeOf('changed')).toEqual({ outcome: 'changed' });
    expect(outcomeOf('error')).toEqual({ outcome: 'error' });
    expect(outcomeOf({ outcome: 'unchanged', dueBy: 7 })).toEqual({ outcome: 'unchanged', dueBy: 7 });
  });
});

describe('bringing polls forward', () => {
  it('makes a poll due by a time at the latest, its interval back at the base', () => {
    const stored = { memories: schedule(T0 + 200_000, 240_000, 0, 4) };
    expect(expedited(stored, 'memories', T0, 60_000)).toEqual({ memories: schedule(T0, 60_000) });
    expect(expedited({ memories: schedule(T0 - 5, 60_000) }, 'memories', T0, 60_000).memories?.nextDueAt).toBe(T0 - 5);
    expect(expedited(undefined, 'chat', T0, 5_000)).toEqual({ chat: schedule(T0, 5_000) });
  });

  it('brings forward only the polls backing off after errors, at their base interval', () => {
    const stored = { memories: schedule(T0 + 120_000, 120_000, 1), chat: schedule(T0 + 5_000, 5_000) };
    const next = retriedFailed(stored, T0, (kind) => (kind === 'chat' ? 5_000 : 60_000));
    expect(next).toEqual({ memories: schedule(T0, 60_000, 1), chat: stored.chat });
  });

  it('changes nothing when no poll is backing off, or the failed one is due already', () => {
    expect(retriedFailed({ chat: schedule(T0 + 5_000, 5_000) }, T0, () => 5_000)).toBeUndefined();
    expect(retriedFailed({ chat: schedule(T0, 10_000, 1) }, T0, () => 5_000)).toBeUndefined();
    expect(retriedFailed(undefined, T0, () => 5_000)).toBeUndefined();
  });
});

describe('the tabs', () => {
  it('stamps a heartbeat with the worker’s clock and prunes the tabs gone meanwhile', () => {
    const stored = { old: tab('old', T0 - TAB_GONE_AFTER_MS - 1), kept: tab('kept', T0 - TAB_GONE_AFTER_MS) };
    expect(withTab(stored, tab('new', 5), T0, TAB_GONE_AFTER_MS)).toEqual({ kept: stored.kept, new: tab('new', T0) });
  });

  it('forgets a tab by its id', () => {
    expect(prunedTabs({ a: tab('a', T0), b: tab('b', T0) }, T0, TAB_GONE_AFTER_MS, 'a')).toEqual({ b: tab('b', T0) });
    expect(prunedTabs(undefined, T0, TAB_GONE_AFTER_MS)).toEqual({});
  });

  it('takes as a phase only a number in [0, 1)', () => {
    expect([0, 0.5, 0.999].every(isPhase)).toBe(true);
    expect([1, -0.1, Number.NaN, '0.5', undefined].some(isPhase)).toBe(false);
  });
});

/**
 * When each poll runs: pure arithmetic on a persisted `PollSchedule`, no I/O and no
 * timers. The worker is stopped when idle, so a schedule is a deadline in IndexedDB
 * that events move forward (see sw/poller.ts), never a `setTimeout`.
 *
 * What is stored is the interval for an active tab (after stretching, backoff and
 * jitter). The tabs' cadence is applied when the deadline is checked, not when it is
 * written, so a tab coming back to the foreground speeds polling up at once and one
 * going to the background slows it down at once, without rewriting the schedule.
 */
import type { PollSchedule, TabState } from '../src/shared/network';
import { exponentialBackoff } from './backoff';

/** How often polls run for the tabs that are open: normal, slowed, or not at all. */
export type Cadence = 'active' | 'background' | 'none';

/** What one poll found; `'offline'`: it failed while the device was offline, which says nothing about the server. */
export type PollOutcome = 'changed' | 'unchanged' | 'error' | 'offline';

/** A tab unheard of for longer than this is gone: hidden tabs heartbeat every 30 s, so two may be missed. */
export const TAB_GONE_AFTER_MS = 75_000;

/** Each success interval is jittered by up to ±10 %, so browsers that started together drift apart. */
export const INTERVAL_JITTER = 0.1;

export interface CadenceOptions {
  /** A tab not seen for longer than this is ignored, ms; default `TAB_GONE_AFTER_MS`. */
  goneAfterMs?: number;
}

/** The tabs heard from within `goneAfterMs` of `now` (a tab seen exactly then still counts). */
export function liveTabs(tabs: readonly TabState[], now: number, options: CadenceOptions = {}): TabState[] {
  const goneAfterMs = options.goneAfterMs ?? TAB_GONE_AFTER_MS;
  return tabs.filter((tab) => now - tab.seenAt <= goneAfterMs);
}

/**
 * The cadence the open tabs call for: `'active'` when any live tab is visible and
 * active (the user did something in it in the last 5 minutes, as the tab reports),
 * `'background'` when live tabs exist but all are hidden or idle, `'none'` when no tab
 * has been heard from within `goneAfterMs`: then nobody is looking, so nothing polls.
 */
export function cadenceOf(tabs: readonly TabState[], now: number, options: CadenceOptions = {}): Cadence {
  const live = liveTabs(tabs, now, options);
  if (live.length === 0) return 'none';
  return live.some((tab) => tab.visible && tab.active) ? 'active' : 'background';
}

/** How one poll kind's schedule moves. Read at every tick, so a change applies from the next poll on. */
export interface ScheduleOptions {
  /** The configured interval, ms (60 s memories, 5 s chat; more in high-load mode). */
  baseMs: number;
  /**
   * Where the backoff after errors starts from, when not `baseMs`: the chat poll while push
   * is up runs every minute as a safety net, but once it fails it is retried at its own
   * cadence's pace, so the banner's failure ends as soon as the server answers again.
   */
  errorBaseMs?: number;
  /** How much slower polls run when every tab is hidden or idle (5). */
  backgroundFactor: number;
  /** Each poll in a row that finds nothing new multiplies the interval by this (1.5). */
  unchangedStep: number;
  /** Stretching stops at this many times `baseMs` (4). */
  maxStretch: number;
  /** The longest any poll waits, ms (30 min): the error backoff's ceiling, and the background cadence's. */
  maxBackoffMs: number;
  /** Uniform in [0, 1); injected so tests can pin the jitter. */
  random: () => number;
}

/** The values DESIGN.md gives, for everything but the interval and the random source. */
export const scheduleDefaults: Readonly<Omit<ScheduleOptions, 'baseMs' | 'random'>> = Object.freeze({
  backgroundFactor: 5,
  unchangedStep: 1.5,
  maxStretch: 4,
  maxBackoffMs: 30 * 60_000,
});

function check(name: string, value: number, valid: boolean): void {
  if (!valid) throw new RangeError(`schedule: ${name} is out of range: ${String(value)}`);
}

function checkOptions(options: ScheduleOptions): void {
  check('baseMs', options.baseMs, Number.isFinite(options.baseMs) && options.baseMs > 0);
  check('backgroundFactor', options.backgroundFactor, Number.isFinite(options.backgroundFactor) && options.backgroundFactor >= 1);
  check('unchangedStep', options.unchangedStep, Number.isFinite(options.unchangedStep) && options.unchangedStep >= 1);
  check('maxStretch', options.maxStretch, Number.isFinite(options.maxStretch) && options.maxStretch >= 1);
  check('maxBackoffMs', options.maxBackoffMs, Number.isFinite(options.maxBackoffMs) && options.maxBackoffMs > 0);
}

/** The interval after `unchangedStreak` empty polls, before jitter: base · step^streak, at most base · maxStretch. */
function stretchedMs(unchangedStreak: number, options: ScheduleOptions): number {
  return Math.min(options.baseMs * options.unchangedStep ** unchangedStreak, options.baseMs * options.maxStretch);
}

/** A random source's value kept in [0, 1], so a faulty one cannot break the documented bounds. */
function unit(random: () => number): number {
  const r = random();
  return Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0.5;
}

/**
 * Where a poll's first deadline lies for a browser with this `phase` (its fixed share
 * of an interval, in [0, 1), drawn once and stored): `now + phase · baseMs`.
 *
 * The offset spans a whole interval, the widest spread there is: when many browsers
 * start together (a link shared with a room, a server coming back) their first polls
 * are spread evenly over one interval instead of landing together. The price is that
 * a browser's very first poll may wait up to one interval; the page's first data should
 * come from a user-initiated read, not from the poller.
 *
 * @throws RangeError when `phase` is not in [0, 1) or `baseMs` is not positive.
 */
export function firstDueAt(now: number, baseMs: number, phase: number): number {
  check('phase', phase, phase >= 0 && phase < 1);
  check('baseMs', baseMs, Number.isFinite(baseMs) && baseMs > 0);
  return now + Math.round(phase * baseMs);
}

/** A schedule never run yet: due at `firstDueAt`, with the base interval. */
export function freshSchedule(now: number, baseMs: number, phase: number): PollSchedule {
  return { nextDueAt: firstDueAt(now, baseMs, phase), intervalMs: Math.round(baseMs), unchangedStreak: 0, errorStreak: 0 };
}

/**
 * The schedule after a poll finished at `now`:
 * - `'unchanged'` stretches the interval by `unchangedStep` per poll in a row, up to
 *   `maxStretch · baseMs`; `'changed'` resets it to `baseMs`. Either clears the error
 *   streak, and either is jittered by ±10 % (after the cap, so browsers at the cap do
 *   not line up on it). The stretch is computed from the streak, not from the stored
 *   interval, so jitter never compounds and a new `baseMs` applies at once.
 * - `'error'` backs off exponentially with equal jitter: uniformly in [cap/2, cap],
 *   cap = min(maxBackoffMs, baseMs · 2^errorStreak). It starts from the base interval,
 *   not from the interval stretched while polls found nothing: a poll stretched to 4×
 *   its base must not make the first retry after a blip wait 4–8× it (issue 10). The
 *   unchanged streak is kept: a failure says nothing about whether the data changes.
 * - `'offline'` (it failed with the device offline) tries again one base interval on and
 *   keeps both streaks: no server was asked, so there is nothing to back off from, and ten
 *   minutes offline must not leave the polls backed off for minutes once the network is
 *   back (a failed request costs nothing while offline: it never leaves the device).
 *
 * The next deadline is `now + interval`, not the old deadline plus the interval: a poll
 * missed while the worker was stopped runs once, and the schedule continues from then.
 *
 * A browser's phase does not enter here: only a poll's first deadline depends on it
 * (`firstDueAt`); later deadlines keep the offset they started with, and the jitter
 * keeps browsers apart from then on.
 *
 * @throws RangeError when an option is out of range.
 */
export function afterPoll(schedule: PollSchedule | undefined, outcome: PollOutcome, now: number, options: ScheduleOptions): PollSchedule {
  checkOptions(options);
  const unchangedStreak = schedule?.unchangedStreak ?? 0;
  const errorStreak = schedule?.errorStreak ?? 0;
  if (outcome === 'offline') {
    const intervalMs = Math.round(options.baseMs);
    return { nextDueAt: now + intervalMs, intervalMs, unchangedStreak, errorStreak };
  }
  if (outcome === 'error') {
    const from = Math.min(options.errorBaseMs ?? options.baseMs, options.baseMs);
    const streak = errorStreak + 1;
    // Attempt n of the backoff has cap min(max, initial · 2ⁿ); starting at 2 · from and
    // attempt streak − 1 gives cap = min(max, from · 2^streak).
    const backoff = exponentialBackoff({
      initialMs: Math.min(2 * from, options.maxBackoffMs),
      maxMs: options.maxBackoffMs,
      random: options.random,
      attempt: streak - 1,
    });
    const intervalMs = Math.round(backoff.delay);
    return { nextDueAt: now + intervalMs, intervalMs, unchangedStreak, errorStreak: streak };
  }
  const streak = outcome === 'changed' ? 0 : unchangedStreak + 1;
  const jitter = 1 - INTERVAL_JITTER + 2 * INTERVAL_JITTER * unit(options.random);
  const intervalMs = Math.round(stretchedMs(streak, options) * jitter);
  return { nextDueAt: now + intervalMs, intervalMs, unchangedStreak: streak, errorStreak: 0 };
}

/**
 * The interval between polls for this cadence, ms: the stored one for an active tab,
 * `backgroundFactor` times it when every tab is hidden or idle (but never beyond
 * `maxBackoffMs`, so a hidden tab's data is never older than the backoff ceiling,
 * unless the interval itself is longer), `Infinity` when no tab is open.
 */
export function effectiveInterval(schedule: PollSchedule, cadence: Cadence, options: ScheduleOptions): number {
  switch (cadence) {
    case 'active':
      return schedule.intervalMs;
    case 'background':
      return Math.max(schedule.intervalMs, Math.min(schedule.intervalMs * options.backgroundFactor, options.maxBackoffMs));
    case 'none':
      return Number.POSITIVE_INFINITY;
    default: {
      const unknown: never = cadence;
      throw new RangeError(`schedule: unknown cadence: ${String(unknown)}`);
    }
  }
}

/**
 * When the poll is due for this cadence, epoch ms. The last run started at
 * `nextDueAt − intervalMs` (every write keeps that true), so the deadline is that plus
 * the cadence's interval; for an active tab it is `nextDueAt` itself.
 */
export function dueAt(schedule: PollSchedule, cadence: Cadence, options: ScheduleOptions): number {
  return schedule.nextDueAt - schedule.intervalMs + effectiveInterval(schedule, cadence, options);
}

/**
 * Whether the poll should run at `now`. Never with no tab open. When the last run
 * appears to lie in the future, the system clock was set back: the poll is due at once
 * rather than waiting, possibly for days, for the clock to catch up.
 */
export function isDue(schedule: PollSchedule, now: number, cadence: Cadence, options: ScheduleOptions): boolean {
  if (cadence === 'none') return false;
  if (now < schedule.nextDueAt - schedule.intervalMs) return true;
  return now >= dueAt(schedule, cadence, options);
}

/**
 * The poller's shared state as data, and pure steps over it: the schedules and tabs kept
 * in IndexedDB's meta store (every worker on the database reads and writes them), and
 * what the poller last saw of them. No I/O, no timers, time passed in as epoch ms;
 * sw/poller.ts opens the transactions, reads the stored values, applies one step and
 * writes back what it returns. The arithmetic of one schedule is sw/schedule.ts.
 */
import type { MetaValues } from '../src/shared/db';
import type { PollKind, PollSchedule, TabState } from '../src/shared/network';
import { afterPoll, type Cadence, freshSchedule, isDue, liveTabs, type PollOutcome, type ScheduleOptions } from './schedule';

/**
 * What one poll found: 'changed' | 'unchanged', or that with `dueBy`, the latest time the
 * next poll of its kind should run (a reply is awaited: look again soon).
 */
export type PollResult = 'changed' | 'unchanged' | { outcome: 'changed' | 'unchanged'; dueBy?: number };

/** Every poll's schedule as stored (meta 'schedules'); undefined before the first is written. */
export type StoredSchedules = MetaValues['schedules'] | undefined;
/** The open tabs as stored (meta 'tabs'). */
export type StoredTabs = MetaValues['tabs'] | undefined;

/**
 * The schedules and tabs as a poller last read or wrote them, and the kinds wanted then:
 * the next deadline is computed from it without reading IndexedDB again (which stays the
 * copy other workers share).
 */
export interface PollerView {
  schedules?: MetaValues['schedules'];
  tabs?: MetaValues['tabs'];
  kinds: readonly PollKind[];
}

/** A poll this worker has claimed and must run, with the options it was claimed under. */
export interface Claim {
  kind: PollKind;
  options: ScheduleOptions;
}

/** What a claim step decided: the polls to run now, and the schedules to store (`isChanged`: they differ from the stored). */
export interface Claimed {
  claims: Claim[];
  schedules: MetaValues['schedules'];
  isChanged: boolean;
}

/** Whether a stored phase is one (uniform in [0, 1)); anything else is drawn again. */
export function isPhase(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value < 1;
}

/** The stored tabs without `removeId` and without those gone for longer than `goneAfterMs`. */
export function prunedTabs(tabs: StoredTabs, now: number, goneAfterMs: number, removeId?: string): MetaValues['tabs'] {
  const kept = liveTabs(Object.values(tabs ?? {}), now, { goneAfterMs }).filter((tab) => tab.tabId !== removeId);
  return Object.fromEntries(kept.map((tab) => [tab.tabId, tab]));
}

/** The tabs once `tab` beat at `at` (the worker's clock stamps it: the clock the tabs are pruned by); the gone are pruned. */
export function withTab(tabs: StoredTabs, tab: TabState, at: number, goneAfterMs: number): MetaValues['tabs'] {
  return { ...prunedTabs(tabs, at, goneAfterMs, tab.tabId), [tab.tabId]: { ...tab, seenAt: at } };
}

/**
 * Claims the due polls among `wanted` at `at`, with the tabs calling for `cadence`: a
 * wanted poll without a schedule gets one placed by `phase`, and each due one has its
 * deadline moved one interval on before its run starts, so every other check sees it as
 * taken (the run's outcome replaces that deadline later: `recorded`).
 */
export function claimed(stored: StoredSchedules, wanted: readonly Claim[], at: number, cadence: Exclude<Cadence, 'none'>, phase: number): Claimed {
  const schedules: MetaValues['schedules'] = { ...stored };
  const claims: Claim[] = [];
  for (const claim of wanted) {
    const schedule = schedules[claim.kind] ?? freshSchedule(at, claim.options.baseMs, phase);
    const isDueNow = isDue(schedule, at, cadence, claim.options);
    if (isDueNow) claims.push(claim);
    schedules[claim.kind] = isDueNow ? { ...schedule, nextDueAt: at + schedule.intervalMs } : schedule;
  }
  const isChanged = claims.length > 0 || wanted.some((claim) => !stored?.[claim.kind]);
  return { claims, schedules, isChanged };
}

/** What a poll's result says: its outcome, and the latest time its next poll should run, when it asked for one. */
export function outcomeOf(result: PollResult | 'error'): { outcome: PollOutcome; dueBy?: number } {
  return typeof result === 'string' ? { outcome: result } : result;
}

/** The schedules once a poll of `kind` ended at `at` with `outcome` (due by `dueBy` at the latest, when given). */
export function recorded(
  stored: StoredSchedules,
  kind: PollKind,
  outcome: PollOutcome,
  at: number,
  options: ScheduleOptions,
  dueBy?: number,
): MetaValues['schedules'] {
  const next = afterPoll(stored?.[kind], outcome, at, options);
  return { ...stored, [kind]: dueBy !== undefined && dueBy < next.nextDueAt ? { ...next, nextDueAt: dueBy } : next };
}

/** The schedules once the poll of `kind` is made due by `at` at the latest, its interval back at `baseMs`. */
export function expedited(stored: StoredSchedules, kind: PollKind, at: number, baseMs: number): MetaValues['schedules'] {
  const current = stored?.[kind];
  const schedule: PollSchedule = current
    ? { ...current, nextDueAt: Math.min(current.nextDueAt, at), intervalMs: baseMs, unchangedStreak: 0 }
    : { nextDueAt: at, intervalMs: baseMs, unchangedStreak: 0, errorStreak: 0 };
  return { ...stored, [kind]: schedule };
}

/** The schedules once every poll backing off after errors is due at `at`, at its base interval; undefined when none is. */
export function retriedFailed(stored: StoredSchedules, at: number, baseMs: (kind: PollKind) => number): MetaValues['schedules'] | undefined {
  const failed = Object.entries(stored ?? {}).filter(([, schedule]) => schedule.errorStreak > 0 && schedule.nextDueAt > at);
  if (failed.length === 0) return undefined;
  const next = { ...stored };
  for (const [kind, schedule] of failed) next[kind as PollKind] = { ...schedule, nextDueAt: at, intervalMs: baseMs(kind as PollKind) };
  return next;
}

/**
 * The poller: runs each wanted poll when its deadline in IndexedDB has passed, checked
 * on events (tab heartbeats, fetches, messages), because the worker is stopped when idle
 * and its timers cannot be trusted (w3c/ServiceWorker#838). Pure TypeScript with the
 * clock, the database and the poll itself injected, so unit tests and the load
 * simulation drive it with fakes.
 *
 * A due poll is claimed (its deadline moved one interval on) in the same readwrite
 * transaction that found it due, so however many heartbeats arrive together, and even
 * with two workers on one database during an update, a poll runs once. A run that
 * never reports back (the worker was stopped mid-poll) leaves the claimed deadline in
 * place, so the poll comes back one interval later, not at once and not never.
 */
import type { MetaValues, PurlDatabase } from '../src/shared/db';
import type { PollKind, TabState } from '../src/shared/network';
import {
  type Claim,
  claimed,
  expedited,
  isPhase,
  outcomeOf,
  type PollerView,
  type PollResult,
  prunedTabs,
  recorded,
  retriedFailed,
  type StoredSchedules,
  type StoredTabs,
  withTab,
} from './poll-state';
import { type Cadence, cadenceOf, dueAt, effectiveInterval, type PollOutcome, type ScheduleOptions, TAB_GONE_AFTER_MS } from './schedule';

export type { PollResult } from './poll-state';

/**
 * `C` is whatever keeps the worker alive while a poll runs (the event in the worker);
 * it is handed to `run` untouched. A tick that merges into a check already under way
 * waits for the polls that check starts, so its event keeps the worker alive too.
 */
export interface PollerOptions<C> {
  getDb: () => Promise<PurlDatabase>;
  now: () => number;
  /** Uniform in [0, 1); draws this browser's phase once. */
  random: () => number;
  /** Per-kind options (read at each tick, so high-load mode and /config.json changes apply live). */
  options: (kind: PollKind) => Promise<ScheduleOptions>;
  /**
   * Runs one poll; resolves with what it found, rejects on failure. A poll whose request
   * answers another kind's too (the chat poll through the sync route brings the memories)
   * says so through `polls.notePolled`.
   */
  run: (kind: PollKind, context: C, polls: Pick<Poller<C>, 'notePolled'>) => Promise<PollResult>;
  /** Which polls are wanted now (e.g. 'chat' only while a chat session is open). */
  kinds: () => Promise<readonly PollKind[]>;
  /**
   * Extra delay imposed from outside (Retry-After, open breaker): epoch ms before which
   * the poll of `kind` may not run (a hold may keep one kind back and not the other).
   */
  notBefore?: (kind: PollKind) => Promise<number>;
  /** A tab not heard from for longer than this is gone, ms; default `TAB_GONE_AFTER_MS` (75 s). */
  goneAfterMs?: number;
  /** False while the device is offline: a poll failing then is `'offline'`, not an error to back off from. */
  isOnline?: () => boolean;
  /** Hears the interval in force for each poll (for the monitor) whenever the next deadline is computed. */
  onInterval?: (kind: PollKind, intervalMs: number) => void;
}

export interface Poller<C> {
  /** A tab's heartbeat: records the tab (meta 'tabs', prunes tabs gone > goneAfterMs), then runs whatever is due. */
  onHeartbeat(tab: TabState, context: C): Promise<void>;
  /** Records a tab's heartbeat (as `onHeartbeat`) without running anything: the caller runs what is due. */
  noteTab(tab: TabState): Promise<void>;
  /** Any other event (fetch, message): runs whatever is due. */
  tick(context: C): Promise<void>;
  /** Removes a tab (page hidden for good / unload). */
  forgetTab(tabId: string): Promise<void>;
  /** Makes the poll of `kind` due by `at`, its interval reset to `baseMs`. */
  expedite(kind: PollKind, at: number, baseMs: number): Promise<void>;
  /**
   * A poll of `kind` was answered another way (inside another poll's request): its schedule
   * moves on as after its own run. Nothing changes while its own run is under way.
   */
  notePolled(kind: PollKind, result: PollResult | 'error'): Promise<void>;
  /** Makes every poll that is backing off after errors due by `at`, its interval reset to its base. */
  retryFailed(at: number, baseMs: (kind: PollKind) => number): Promise<void>;
  /**
   * When the next poll falls due (epoch ms, Infinity when none will), from what this
   * poller last read or wrote, each kind no sooner than its `notBefore`; undefined before
   * its first check. Polls in flight are left out: their end is an event.
   */
  nextDueAt(): Promise<number | undefined>;
  /** How often polls run for the open tabs, as last heard. */
  cadence(): Cadence;
}

/**
 * What a poller holds between events: the check under way (ticks arriving meanwhile merge
 * into one more check), the polls it is running (so a slow one is never started twice),
 * and what it last saw of the shared schedules and tabs.
 */
interface PollerState {
  checking: Promise<void> | null;
  rerunRequested: boolean;
  inFlight: Map<PollKind, Promise<void>>;
  view: PollerView;
}

export function createPoller<C>(options: PollerOptions<C>): Poller<C> {
  const { getDb, now } = options;
  const heldUntil = async (kind: PollKind) => (options.notBefore ? options.notBefore(kind) : Number.NEGATIVE_INFINITY);
  const goneAfterMs = options.goneAfterMs ?? TAB_GONE_AFTER_MS;
  const state: PollerState = { checking: null, rerunRequested: false, inFlight: new Map(), view: { kinds: [] } };
  const { inFlight, view } = state;

  /** Finds the due polls and claims them, in one transaction; returns what to run. */
  async function claimDue(): Promise<Claim[]> {
    const db = await getDb();
    // Everything that is not IndexedDB is read before the transaction opens: awaiting
    // anything else inside it would let it auto-commit half-way.
    view.kinds = await options.kinds();
    const unheld = await Promise.all(view.kinds.map((kind) => heldUntil(kind)));
    const at = now();
    const kinds = view.kinds.filter((kind, index) => !inFlight.has(kind) && at >= unheld[index]!);
    const kindOptions = await Promise.all(kinds.map((kind) => options.options(kind)));
    if (kinds.length === 0) return [];

    const tx = db.transaction('meta', 'readwrite');
    const [storedSchedules, storedTabs, storedPhase] = (await Promise.all([tx.store.get('schedules'), tx.store.get('tabs'), tx.store.get('phase')])) as [
      StoredSchedules,
      StoredTabs,
      unknown,
    ];
    const cadence = cadenceOf(Object.values(storedTabs ?? {}), at, { goneAfterMs });
    view.schedules = storedSchedules;
    view.tabs = storedTabs;
    const claims: Claim[] = [];
    if (cadence !== 'none') {
      const phase = isPhase(storedPhase) ? storedPhase : options.random();
      if (phase !== storedPhase) void tx.store.put(phase, 'phase');
      const wanted = kinds.map((kind, index) => ({ kind, options: kindOptions[index] as ScheduleOptions }));
      const step = claimed(storedSchedules, wanted, at, cadence, phase);
      if (step.isChanged) void tx.store.put(step.schedules, 'schedules');
      view.schedules = step.schedules;
      claims.push(...step.claims);
    }
    await tx.done;
    return claims;
  }

  /** Writes a finished poll's outcome into its schedule (due by `dueBy` at the latest, when given). */
  async function record(kind: PollKind, outcome: PollOutcome, scheduleOptions: ScheduleOptions, dueBy?: number): Promise<void> {
    const db = await getDb();
    const tx = db.transaction('meta', 'readwrite');
    const stored = (await tx.store.get('schedules')) as StoredSchedules;
    const schedules = recorded(stored, kind, outcome === 'error' && options.isOnline?.() === false ? 'offline' : outcome, now(), scheduleOptions, dueBy);
    void tx.store.put(schedules, 'schedules');
    view.schedules = schedules;
    await tx.done;
  }

  /** Runs a claimed poll: what it found, or 'error' when it failed. */
  async function resultOf(claim: Claim, context: C): Promise<PollResult | 'error'> {
    try {
      return await options.run(claim.kind, context, { notePolled });
    } catch {
      // The run reports its own failure (status, metrics, breaker); here a failure
      // only decides the backoff.
      return 'error';
    }
  }

  async function runClaimed(claim: Claim, context: C): Promise<void> {
    const { outcome, dueBy } = outcomeOf(await resultOf(claim, context));
    await record(claim.kind, outcome, claim.options, dueBy);
  }

  function start(claim: Claim, context: C): Promise<void> {
    const running = runClaimed(claim, context).finally(() => inFlight.delete(claim.kind));
    inFlight.set(claim.kind, running);
    return running;
  }

  /**
   * Checks until no tick arrived during the last check, starting each claimed poll
   * without waiting for it, so a slow memories poll does not hold up the chat poll.
   */
  async function checkLoop(context: C): Promise<void> {
    const started: Promise<void>[] = [];
    try {
      do {
        state.rerunRequested = false;
        for (const claim of await claimDue()) started.push(start(claim, context));
      } while (state.rerunRequested);
    } catch (error) {
      state.checking = null;
      // The polls already started still run; wait for them so none fails unobserved.
      await Promise.allSettled(started);
      throw error;
    }
    // Cleared here, in the same step as the last rerun check, so no tick can slip in
    // between and be merged into a check that has already ended.
    state.checking = null;
  }

  async function tick(context: C): Promise<void> {
    // checkLoop awaits before it can clear `checking`, so the check awaited is the one set here.
    if (state.checking) state.rerunRequested = true;
    else state.checking = checkLoop(context);
    await state.checking;
    // Every event waits for the polls in flight, not only those it started: the worker
    // then stays alive for them as long as any event is pending.
    await Promise.all(inFlight.values());
  }

  async function writeTabs(update: (tabs: StoredTabs, at: number) => MetaValues['tabs']): Promise<void> {
    const db = await getDb();
    const tx = db.transaction('meta', 'readwrite');
    const stored = (await tx.store.get('tabs')) as StoredTabs;
    view.tabs = update(stored, now());
    void tx.store.put(view.tabs, 'tabs');
    await tx.done;
  }

  function noteTab(tab: TabState): Promise<void> {
    return writeTabs((tabs, at) => withTab(tabs, tab, at, goneAfterMs));
  }

  async function onHeartbeat(tab: TabState, context: C): Promise<void> {
    await noteTab(tab);
    await tick(context);
  }

  function forgetTab(tabId: string): Promise<void> {
    return writeTabs((tabs, at) => prunedTabs(tabs, at, goneAfterMs, tabId));
  }

  /** Applies `change` to the stored schedules in one transaction; nothing is written when it returns undefined. */
  async function updateSchedules(change: (stored: StoredSchedules) => MetaValues['schedules'] | undefined): Promise<void> {
    const db = await getDb();
    const tx = db.transaction('meta', 'readwrite');
    const stored = (await tx.store.get('schedules')) as StoredSchedules;
    const next = change(stored);
    if (next) {
      void tx.store.put(next, 'schedules');
      view.schedules = next;
    }
    await tx.done;
  }

  /**
   * Something happened that makes news likely (the user just sent a message): the poll
   * of `kind` is due at `at` at the latest, with its interval back at the base.
   */
  function expedite(kind: PollKind, at: number, baseMs: number): Promise<void> {
    return updateSchedules((stored) => expedited(stored, kind, at, baseMs));
  }

  function retryFailed(at: number, baseMs: (kind: PollKind) => number): Promise<void> {
    return updateSchedules((stored) => retriedFailed(stored, at, baseMs));
  }

  function cadence(): Cadence {
    return cadenceOf(Object.values(view.tabs ?? {}), now(), { goneAfterMs });
  }

  async function nextDueAt(): Promise<number | undefined> {
    if (!view.schedules && view.kinds.length === 0) return undefined;
    const current = cadence();
    const dues: number[] = [];
    for (const kind of view.kinds) {
      const schedule = view.schedules?.[kind];
      const kindOptions = await options.options(kind);
      // A wanted poll without a schedule gets one at the next check.
      if (!schedule) {
        if (current !== 'none') dues.push(now());
        continue;
      }
      options.onInterval?.(kind, effectiveInterval(schedule, current, kindOptions));
      if (!inFlight.has(kind)) dues.push(Math.max(dueAt(schedule, current, kindOptions), await heldUntil(kind)));
    }
    // Infinity when none is due.
    return Math.min(...dues);
  }

  async function notePolled(kind: PollKind, result: PollResult | 'error'): Promise<void> {
    // Its own run is under way (it shared this answer, or will bring its own): that run records it.
    if (inFlight.has(kind)) return;
    const { outcome, dueBy } = outcomeOf(result);
    await record(kind, outcome, await options.options(kind), dueBy);
  }

  return { onHeartbeat, noteTab, tick, forgetTab, expedite, notePolled, retryFailed, nextDueAt, cadence };
}

import { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getMeta, openPurlDB, type PurlDatabase } from '../src/shared/db';
import type { PollKind, PollSchedule, TabState } from '../src/shared/network';
import { createPoller, type Poller, type PollResult } from './poller';
import { scheduleDefaults, type ScheduleOptions } from './schedule';

const T0 = 1_000_000;
const MEMORIES_MS = 60_000;
const CHAT_MS = 5_000;

type Result = PollResult;

interface Harness {
  db: PurlDatabase;
  clock: { now: number };
  /** Every poll run, in start order. */
  runs: { kind: PollKind; at: number }[];
  /** What a poll of each kind does; default: resolves 'changed'. */
  behaviour: Map<PollKind, () => Promise<Result>>;
  wanted: PollKind[];
  /** The hold on every poll, and on one kind only. */
  notBefore: { at: number; byKind: Partial<Record<PollKind, number>> };
  phaseDraws: { count: number };
  poller: Poller<null>;
  /** A new poller on the same database, as after a worker restart. */
  restart(): Poller<null>;
  /** Moves the clock and sends a heartbeat from one tab. */
  heartbeat(at: number, tab?: Partial<TabState>, poller?: Poller<null>): Promise<void>;
  schedule(kind: PollKind): Promise<PollSchedule | undefined>;
}

interface HarnessOptions {
  /** The browser's phase, as drawn by `random` on the first poll. */
  phase?: number;
}

async function harness({ phase = 0 }: HarnessOptions = {}): Promise<Harness> {
  const db = await openPurlDB();
  const clock = { now: T0 };
  const runs: Harness['runs'] = [];
  const behaviour = new Map<PollKind, () => Promise<Result>>();
  const wanted: PollKind[] = ['memories'];
  const notBefore: Harness['notBefore'] = { at: 0, byKind: {} };
  const phaseDraws = { count: 0 };
  const scheduleOptions = (kind: PollKind): ScheduleOptions => ({
    ...scheduleDefaults,
    baseMs: kind === 'chat' ? CHAT_MS : MEMORIES_MS,
    // 0.5 puts the ±10 % jitter at exactly 1 and the backoff in the middle of its range.
    random: () => 0.5,
  });
  const make = (): Poller<null> =>
    createPoller<null>({
      getDb: async () => db,
      now: () => clock.now,
      random: () => {
        phaseDraws.count += 1;
        return phase;
      },
      options: async (kind) => scheduleOptions(kind),
      run: async (kind) => {
        runs.push({ kind, at: clock.now });
        return (behaviour.get(kind) ?? (async () => 'changed' as const))();
      },
      kinds: async () => wanted,
      notBefore: async (kind) => Math.max(notBefore.at, notBefore.byKind[kind] ?? 0),
    });
  const poller = make();
  return {
    db,
    clock,
    runs,
    behaviour,
    wanted,
    notBefore,
    phaseDraws,
    poller,
    restart: make,
    heartbeat: async (at, tab = {}, target = poller) => {
      clock.now = at;
      await target.onHeartbeat({ tabId: 'tab-1', visible: true, active: true, seenAt: at, ...tab }, null);
    },
    schedule: async (kind) => (await getMeta(db, 'schedules'))?.[kind],
  };
}

/** A promise the test resolves when it chooses. */
function gate<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * The poller reads the time from the harness's clock and sets no timer; what it waits for is
 * IndexedDB, which fake-indexeddb runs as real setImmediate tasks. Those are counted, and a
 * test waits until none is left (`settle`) instead of sleeping; vitest's timers are fake, so
 * nothing here can wait for real time.
 */
type Immediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
/** Node's setImmediate (this file compiles with the worker's lib, which has none). */
const scope = globalThis as unknown as { setImmediate: Immediate };
const realSetImmediate = scope.setImmediate;
let tasks = 0;

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  scope.setImmediate = (callback, ...args) => {
    tasks += 1;
    return realSetImmediate(() => {
      tasks -= 1;
      callback(...args);
    });
  };
});
afterEach(() => {
  vi.useRealTimers();
  scope.setImmediate = realSetImmediate;
});

describe('poller', () => {
  it('polls at each deadline while a tab is visible and in use', async () => {
    const h = await harness();
    await h.heartbeat(T0);
    await h.heartbeat(T0 + MEMORIES_MS - 1);
    expect(h.runs.map((r) => r.at)).toEqual([T0]);
    await h.heartbeat(T0 + MEMORIES_MS);
    expect(h.runs.map((r) => r.at)).toEqual([T0, T0 + MEMORIES_MS]);
  });

  it('moves a poll’s schedule on when it was answered inside another poll, so it does not run again at once', async () => {
    const h = await harness();
    h.wanted.push('chat');
    await h.heartbeat(T0);
    expect(h.runs.map((r) => r.kind).sort()).toEqual(['chat', 'memories']);
    h.clock.now = T0 + CHAT_MS - 100;
    await h.poller.notePolled('chat', 'changed');
    expect((await h.schedule('chat'))?.nextDueAt).toBe(T0 + 2 * CHAT_MS - 100);
    await h.heartbeat(T0 + CHAT_MS);
    expect(h.runs.filter((r) => r.kind === 'chat')).toHaveLength(1);
    await h.heartbeat(T0 + 2 * CHAT_MS - 100);
    expect(h.runs.filter((r) => r.kind === 'chat')).toHaveLength(2);
    // A reply awaited: the answer's own due time holds, as after the poll's own run.
    await h.poller.notePolled('chat', { outcome: 'unchanged', dueBy: h.clock.now + 1_000 });
    expect((await h.schedule('chat'))?.nextDueAt).toBe(h.clock.now + 1_000);
  });

  it('stretches the interval after empty polls and returns to the base after a change', async () => {
    const h = await harness();
    h.behaviour.set('memories', async () => 'unchanged');
    await h.heartbeat(T0);
    expect(await h.schedule('memories')).toEqual({ nextDueAt: T0 + 90_000, intervalMs: 90_000, unchangedStreak: 1, errorStreak: 0 });
    h.behaviour.set('memories', async () => 'changed');
    await h.heartbeat(T0 + 90_000);
    expect(await h.schedule('memories')).toEqual({ nextDueAt: T0 + 150_000, intervalMs: MEMORIES_MS, unchangedStreak: 0, errorStreak: 0 });
  });

  it('polls five times slower when every tab is hidden', async () => {
    const h = await harness();
    await h.heartbeat(T0);
    for (let at = T0 + 30_000; at < T0 + 5 * MEMORIES_MS; at += 30_000) await h.heartbeat(at, { visible: false });
    await h.heartbeat(T0 + 5 * MEMORIES_MS - 1, { visible: false });
    expect(h.runs).toHaveLength(1);
    await h.heartbeat(T0 + 5 * MEMORIES_MS, { visible: false });
    expect(h.runs.map((r) => r.at)).toEqual([T0, T0 + 5 * MEMORIES_MS]);
  });

  it('polls slower when the visible tabs have been idle for five minutes', async () => {
    const h = await harness();
    await h.heartbeat(T0);
    await h.heartbeat(T0 + 2 * MEMORIES_MS, { active: false });
    expect(h.runs).toHaveLength(1);
    await h.heartbeat(T0 + 5 * MEMORIES_MS, { active: false });
    expect(h.runs).toHaveLength(2);
  });

  it('speeds up at once when a hidden tab comes back', async () => {
    const h = await harness();
    await h.heartbeat(T0);
    await h.heartbeat(T0 + 2 * MEMORIES_MS, { visible: false });
    expect(h.runs).toHaveLength(1);
    await h.heartbeat(T0 + 2 * MEMORIES_MS + 1, { visible: true });
    expect(h.runs).toHaveLength(2);
  });

  it('does not poll when no tab is open', async () => {
    const h = await harness();
    await h.poller.tick(null);
    expect(h.runs).toEqual([]);
    expect(await getMeta(h.db, 'schedules')).toBeUndefined();
  });

  it('stops polling once the last tab has not been heard from for 75 s', async () => {
    const h = await harness();
    await h.heartbeat(T0);
    h.clock.now = T0 + 75_001;
    await h.poller.tick(null);
    expect(h.runs).toHaveLength(1);
  });

  it('prunes tabs not heard from for more than 75 s when another tab beats', async () => {
    const h = await harness();
    await h.heartbeat(T0, { tabId: 'old' });
    await h.heartbeat(T0 + 30_000, { tabId: 'kept' });
    await h.heartbeat(T0 + 75_001, { tabId: 'new' });
    expect(Object.keys((await getMeta(h.db, 'tabs')) ?? {}).sort()).toEqual(['kept', 'new']);
  });

  it('forgets a closed tab, so polling stops with it', async () => {
    const h = await harness();
    await h.heartbeat(T0, { tabId: 'closing' });
    await h.poller.forgetTab('closing');
    expect(await getMeta(h.db, 'tabs')).toEqual({});
    h.clock.now = T0 + MEMORIES_MS;
    await h.poller.tick(null);
    expect(h.runs).toHaveLength(1);
  });

  it('spreads the first polls of browsers over one interval by their phase', async () => {
    const browsers: Harness[] = [];
    for (const phase of [0.1, 0.5, 0.9]) {
      globalThis.indexedDB = new IDBFactory();
      browsers.push(await harness({ phase }));
    }
    for (let at = T0; at < T0 + MEMORIES_MS; at += 1_000) {
      for (const browser of browsers) await browser.heartbeat(at);
    }
    expect(browsers.map((b) => b.runs[0]?.at)).toEqual([T0 + 6_000, T0 + 30_000, T0 + 54_000]);
  });

  it('draws the browser’s phase once and keeps it across restarts', async () => {
    const h = await harness({ phase: 0.25 });
    await h.heartbeat(T0);
    await h.heartbeat(T0 + 20_000);
    await h.heartbeat(T0 + 40_000, {}, h.restart());
    expect(h.phaseDraws.count).toBe(1);
    expect(await getMeta(h.db, 'phase')).toBe(0.25);
  });

  it('runs a due poll once for three simultaneous heartbeats', async () => {
    const h = await harness();
    await Promise.all(['a', 'b', 'c'].map((tabId) => h.poller.onHeartbeat({ tabId, visible: true, active: true, seenAt: T0 }, null)));
    expect(h.runs).toHaveLength(1);
    expect(Object.keys((await getMeta(h.db, 'tabs')) ?? {}).sort()).toEqual(['a', 'b', 'c']);
  });

  it('runs a due poll once when two workers check the same database together', async () => {
    const h = await harness();
    const other = h.restart();
    await h.heartbeat(T0);
    h.clock.now = T0 + MEMORIES_MS;
    await Promise.all([h.poller.tick(null), other.tick(null), h.poller.tick(null), other.tick(null)]);
    expect(h.runs).toHaveLength(2);
  });

  it('starts no second run for ticks that arrive while a poll runs, and each waits for it', { timeout: 20_000 }, async () => {
    const h = await harness();
    const slow = gate<Result>();
    h.behaviour.set('memories', () => slow.promise);
    const first = h.heartbeat(T0);
    await until(() => h.runs.length === 1);
    let settled = 0;
    const later = [h.poller.tick(null), h.poller.tick(null)].map((p) => p.then(() => (settled += 1)));
    // Everything that does not wait for the slow poll has run: the ticks still wait.
    await settle();
    expect(settled).toBe(0);
    slow.open('changed');
    await Promise.all([first, ...later]);
    expect(h.runs).toHaveLength(1);
    expect((await h.schedule('memories'))?.nextDueAt).toBe(T0 + MEMORIES_MS);
  });

  it('does not hold up the chat poll behind a slow memories poll', { timeout: 30_000 }, async () => {
    const h = await harness();
    h.wanted.push('chat');
    const slow = gate<Result>();
    h.behaviour.set('memories', () => slow.promise);
    const first = h.heartbeat(T0);
    await until(() => h.runs.length === 2);
    const second = h.heartbeat(T0 + CHAT_MS);
    await until(() => h.runs.length === 3);
    expect(h.runs.map((r) => r.kind)).toEqual(['memories', 'chat', 'chat']);
    slow.open('unchanged');
    await Promise.all([first, second]);
  });

  it('polls only the kinds wanted now', async () => {
    const h = await harness();
    h.wanted.splice(0, h.wanted.length, 'chat');
    await h.heartbeat(T0);
    expect(h.runs.map((r) => r.kind)).toEqual(['chat']);
    expect(await h.schedule('memories')).toBeUndefined();
  });

  it('runs a poll missed while the worker was stopped exactly once, then continues from now', async () => {
    const h = await harness();
    await h.heartbeat(T0);
    const restarted = h.restart();
    const late = T0 + 10 * MEMORIES_MS;
    await h.heartbeat(late, {}, restarted);
    await h.heartbeat(late, { tabId: 'tab-2' }, restarted);
    expect(h.runs.map((r) => r.at)).toEqual([T0, late]);
    expect((await h.schedule('memories'))?.nextDueAt).toBe(late + MEMORIES_MS);
    await h.heartbeat(late + MEMORIES_MS - 1, {}, restarted);
    expect(h.runs).toHaveLength(2);
    await h.heartbeat(late + MEMORIES_MS, {}, restarted);
    expect(h.runs).toHaveLength(3);
  });

  it('runs nothing before the time imposed from outside', async () => {
    const h = await harness();
    h.notBefore.at = T0 + 10_000;
    await h.heartbeat(T0);
    await h.heartbeat(T0 + 9_999);
    expect(h.runs).toEqual([]);
    await h.heartbeat(T0 + 10_000);
    expect(h.runs.map((r) => r.at)).toEqual([T0 + 10_000]);
  });

  it('holds one kind back without the other, and makes the held one due when its hold ends', async () => {
    const h = await harness();
    h.wanted.push('chat');
    await h.heartbeat(T0);
    expect(h.runs.map((r) => r.kind).sort()).toEqual(['chat', 'memories']);
    h.notBefore.byKind.chat = T0 + MEMORIES_MS;
    await h.heartbeat(T0 + CHAT_MS);
    await h.heartbeat(T0 + 2 * CHAT_MS);
    expect(h.runs).toHaveLength(2);
    expect(await h.poller.nextDueAt()).toBe(T0 + MEMORIES_MS);
    await h.heartbeat(T0 + MEMORIES_MS);
    expect(
      h.runs
        .slice(2)
        .map((r) => r.kind)
        .sort(),
    ).toEqual(['chat', 'memories']);
  });

  it('records a rejected poll as an error and backs off before the next', async () => {
    const h = await harness();
    h.behaviour.set('memories', async () => {
      throw new Error('offline');
    });
    await h.heartbeat(T0);
    // random() = 0.5: the first backoff waits 1.5 base intervals (cap 2 · base, equal jitter).
    expect(await h.schedule('memories')).toEqual({ nextDueAt: T0 + 90_000, intervalMs: 90_000, unchangedStreak: 0, errorStreak: 1 });
    await h.heartbeat(T0 + MEMORIES_MS);
    expect(h.runs).toHaveLength(1);
    await h.heartbeat(T0 + 90_000);
    expect(h.runs).toHaveLength(2);
    expect((await h.schedule('memories'))?.errorStreak).toBe(2);
  });

  it('knows when the next poll falls due without reading storage, for the cadence of the tabs', async () => {
    const h = await harness();
    h.wanted.push('chat');
    await h.heartbeat(T0);
    expect(await h.poller.nextDueAt()).toBe(T0 + CHAT_MS);
    await h.poller.noteTab({ tabId: 'tab-1', visible: false, active: true, seenAt: T0 });
    expect(h.poller.cadence()).toBe('background');
    expect(await h.poller.nextDueAt()).toBe(T0 + 5 * CHAT_MS);
    await h.poller.forgetTab('tab-1');
    expect(await h.poller.nextDueAt()).toBe(Infinity);
  });

  it('brings only the polls backing off after errors forward, at their base interval', async () => {
    const h = await harness();
    h.wanted.push('chat');
    h.behaviour.set('memories', async () => Promise.reject(new Error('down')));
    await h.heartbeat(T0);
    const failed = await h.schedule('memories');
    expect(failed?.errorStreak).toBe(1);
    expect(failed!.nextDueAt).toBeGreaterThan(T0 + MEMORIES_MS);
    const chat = await h.schedule('chat');
    await h.poller.retryFailed(T0 + 10, (kind) => (kind === 'chat' ? CHAT_MS : MEMORIES_MS));
    expect(await h.schedule('memories')).toMatchObject({ nextDueAt: T0 + 10, intervalMs: MEMORIES_MS, errorStreak: 1 });
    expect(await h.schedule('chat')).toEqual(chat);
    expect(await h.poller.nextDueAt()).toBe(T0 + 10);
  });

  it('keeps a poll due by the time its run asked for (a reply is awaited)', async () => {
    const h = await harness();
    h.behaviour.set('memories', async () => ({ outcome: 'unchanged' as const, dueBy: T0 + 1_000 }));
    await h.heartbeat(T0);
    expect(await h.schedule('memories')).toMatchObject({ nextDueAt: T0 + 1_000, unchangedStreak: 1 });
    await h.heartbeat(T0 + 1_000);
    expect(h.runs.map((r) => r.at)).toEqual([T0, T0 + 1_000]);
  });
});

/** Lets everything that does not wait for a gate finish (IndexedDB, promises): three looks in a row with no task left. */
async function settle(): Promise<void> {
  for (let quiet = 0; quiet < 3; ) {
    await new Promise<void>((resolve) => realSetImmediate(() => resolve()));
    quiet = tasks === 0 ? quiet + 1 : 0;
  }
}

/** Waits until what is under way has settled, then `condition` must hold. */
async function until(condition: () => boolean): Promise<void> {
  await settle();
  expect(condition()).toBe(true);
}

import { describe, expect, it } from 'vitest';
import type { SharedAnswer, SharedEdge } from '../redis/shared-edge';
import { etagOf } from './kept-answers';
import { LEASE_POLL_MS, othersCopy, readForOthers } from './others-copy';

/** A fake clock whose timers run when the test moves time on. */
function fakeClock() {
  let at = 10_000;
  const timers: { dueAt: number; callback: () => void }[] = [];
  return {
    now: () => at,
    setTimer: (callback: () => void, ms: number) => {
      const timer = { dueAt: at + ms, callback };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
    /** Moves time to the next timer and runs it. */
    async tick() {
      await new Promise((resolve) => setImmediate(resolve));
      timers.sort((a, b) => a.dueAt - b.dueAt);
      const next = timers.shift();
      if (!next) return false;
      at = next.dueAt;
      next.callback();
      return true;
    },
  };
}

function fakeShared(leases: boolean[]) {
  const stored = new Map<string, SharedAnswer>();
  const calls: string[] = [];
  const shared: SharedEdge = {
    get: async (key) => {
      calls.push('get');
      return stored.get(key);
    },
    put: async (key, answer) => {
      calls.push('put');
      stored.set(key, answer);
    },
    lease: async () => {
      calls.push('lease');
      return leases.shift() ?? false;
    },
    release: async () => {
      calls.push('release');
    },
  };
  return { shared, stored, calls };
}

const answerAt = (storedAt: number): SharedAnswer => {
  const body = Buffer.from('{"data":1}');
  return { body, etag: etagOf(body), headers: [], storedAt };
};
const anything = () => undefined;

describe('another instance’s copy, or the lease', () => {
  it('takes a fresh copy another instance stored, without asking for the lease', async () => {
    const clock = fakeClock();
    const { shared, stored, calls } = fakeShared([]);
    stored.set('k', answerAt(clock.now() - 100));
    const copy = await othersCopy({ shared, waitMs: 5_000, maxBytes: 1_000, ...clock }, 'k', anything, 1_000, new AbortController().signal);
    expect(copy?.storedAt).toBe(clock.now() - 100);
    expect(calls).toEqual(['get']);
  });

  it('reads itself when it gets the lease', async () => {
    const clock = fakeClock();
    const { shared } = fakeShared([true]);
    expect(await othersCopy({ shared, waitMs: 5_000, maxBytes: 1_000, ...clock }, 'k', anything, 1_000, new AbortController().signal)).toBeUndefined();
  });

  it('waits for the copy the lease holder stores, looking again every 50 ms', async () => {
    const clock = fakeClock();
    const { shared, stored } = fakeShared([false, false]);
    const copy = othersCopy({ shared, waitMs: 5_000, maxBytes: 1_000, ...clock }, 'k', anything, 1_000, new AbortController().signal);
    // The holder stores its copy 50 ms from now (a copy from the future is none yet).
    const storedAt = clock.now() + LEASE_POLL_MS;
    stored.set('k', answerAt(storedAt));
    expect(await clock.tick()).toBe(true);
    expect(await clock.tick()).toBe(false);
    expect((await copy)?.storedAt).toBe(storedAt);
  });

  it('reads itself once it waited in vain for the whole wait', async () => {
    const clock = fakeClock();
    const { shared } = fakeShared([]);
    const copy = othersCopy({ shared, waitMs: 200, maxBytes: 1_000, ...clock }, 'k', anything, 1_000, new AbortController().signal);
    while (await clock.tick());
    expect(await copy).toBeUndefined();
    expect(clock.now()).toBe(10_200);
  });

  it('stops waiting when the asker left', async () => {
    const clock = fakeClock();
    const { shared, calls } = fakeShared([]);
    const left = new AbortController();
    left.abort();
    expect(await othersCopy({ shared, waitMs: 5_000, maxBytes: 1_000, ...clock }, 'k', anything, 1_000, left.signal)).toBeUndefined();
    expect(calls).toEqual(['get']);
  });

  it('stores a kept answer for the others and gives the lease back, also when the read throws', async () => {
    const { shared, stored, calls } = fakeShared([]);
    const entry = answerAt(1);
    expect(await readForOthers(shared, 'k', 1_000, async () => ({ kind: 'kept', entry }))).toEqual({ kind: 'kept', entry });
    expect(stored.get('k')).toBe(entry);
    expect(calls).toEqual(['put', 'release']);
    await expect(readForOthers(shared, 'k', 1_000, () => Promise.reject(new Error('bug')))).rejects.toThrow('bug');
    expect(calls).toEqual(['put', 'release', 'release']);
    await readForOthers(shared, 'j', 1_000, async () => ({ kind: 'failed' }));
    expect(stored.has('j')).toBe(false);
  });
});

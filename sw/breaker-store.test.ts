import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { getMeta, openPurlDB, type MetaValues } from '../src/shared/db';
import { CircuitBreaker } from './breaker';
import { loadBreaker, persistTransitions, saveBreaker } from './breaker-store';
import { setMeta } from './store';

const T0 = Date.UTC(2026, 0, 15, 12);
const TIMEOUT = 300_000;
const options = { threshold: 5, timeoutMs: TIMEOUT };

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('the breaker’s repository', () => {
  it('loads a closed breaker when nothing was saved', async () => {
    const db = await openPurlDB();
    const breaker = await loadBreaker(db, options);
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
    db.close();
  });

  it('restores an open breaker in a new worker, still open, and probes at once after the timeout', async () => {
    const db = await openPurlDB();
    const first = new CircuitBreaker(options);
    const writes: Promise<void>[] = [];
    persistTransitions(first, db, { track: (write) => writes.push(write) });
    for (let i = 0; i < 5; i += 1) first.onFailure(T0);
    expect(first.request(T0 + TIMEOUT)).toEqual({ allowed: true, probe: true }); // lost with the worker
    await Promise.all(writes);
    db.close();

    // A new worker: a new connection and a breaker built from what is on disk.
    const reopened = await openPurlDB();
    const restored = await loadBreaker(reopened, options);
    expect(restored.toJSON()).toEqual({ state: 'open', openedAt: T0 });
    expect(restored.request(T0 + 1_000)).toEqual({ allowed: false, retryAt: T0 + TIMEOUT });
    expect(restored.request(T0 + TIMEOUT + 1)).toEqual({ allowed: true, probe: true });
    expect(restored.request(T0 + TIMEOUT + 1).allowed).toBe(false);
    reopened.close();
  });

  it('saves every transition, so the last snapshot on disk is the last state', async () => {
    const db = await openPurlDB();
    const breaker = new CircuitBreaker({ threshold: 2, timeoutMs: TIMEOUT });
    const writes: Promise<void>[] = [];
    persistTransitions(breaker, db, { track: (write) => writes.push(write) });
    breaker.onFailure(T0);
    breaker.onFailure(T0 + 1);
    breaker.request(T0 + 1 + TIMEOUT);
    breaker.onSuccess(T0 + 2 + TIMEOUT);
    await Promise.all(writes);
    expect(writes).toHaveLength(3);
    expect(await getMeta(db, 'breaker')).toEqual({ state: 'closed', failures: 0 });
    db.close();
  });

  it('keeps consecutive failures across a restart', async () => {
    const db = await openPurlDB();
    const first = new CircuitBreaker(options);
    const writes: Promise<void>[] = [];
    persistTransitions(first, db, { track: (write) => writes.push(write) });
    for (let i = 0; i < 4; i += 1) first.onFailure(T0);
    await Promise.all(writes);

    const restored = await loadBreaker(db, options);
    restored.onFailure(T0 + 1);
    expect(restored.toJSON()).toEqual({ state: 'open', openedAt: T0 + 1 });
    db.close();
  });

  it('stops saving once the disposer is called', async () => {
    const db = await openPurlDB();
    const breaker = new CircuitBreaker({ threshold: 1, timeoutMs: TIMEOUT });
    const stop = persistTransitions(breaker, db);
    stop();
    breaker.onFailure(T0);
    expect(await getMeta(db, 'breaker')).toBeUndefined();
    db.close();
  });

  it('ignores a corrupt snapshot with a warning and starts closed', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const db = await openPurlDB();
    const corrupt = [{ state: 'half-open' }, { state: 'open', openedAt: 'yesterday' }, { state: 'closed', failures: -3 }, 'open', null];
    for (const value of corrupt) {
      await setMeta(db, 'breaker', value as unknown as MetaValues['breaker']);
      const breaker = await loadBreaker(db, options);
      expect(breaker.toJSON(), JSON.stringify(value)).toEqual({ state: 'closed', failures: 0 });
    }
    expect(warn).toHaveBeenCalledTimes(corrupt.length);
    db.close();
  });

  it('starts closed with a warning when the read fails', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const db = await openPurlDB();
    db.close(); // reading through a closed connection throws InvalidStateError
    const breaker = await loadBreaker(db, options);
    expect(breaker.toJSON()).toEqual({ state: 'closed', failures: 0 });
    expect(warn).toHaveBeenCalledOnce();
  });

  it('warns instead of rejecting when a save fails, and the breaker stays right in memory', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const db = await openPurlDB();
    db.close();
    const breaker = new CircuitBreaker({ threshold: 1, timeoutMs: TIMEOUT });
    const writes: Promise<void>[] = [];
    persistTransitions(breaker, db, { track: (write) => writes.push(write) });
    breaker.onFailure(T0);
    await expect(Promise.all(writes)).resolves.toBeDefined();
    expect(warn).toHaveBeenCalledOnce();
    expect(breaker.toJSON()).toEqual({ state: 'open', openedAt: T0 });
  });

  it('saves and reads back a snapshot as plain data', async () => {
    const db = await openPurlDB();
    await saveBreaker(db, { state: 'open', openedAt: T0 });
    expect(await getMeta(db, 'breaker')).toEqual({ state: 'open', openedAt: T0 });
    db.close();
  });
});

import { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openVersion1Database } from '../shared/db-v1.fixture';
import { CHANNEL_NAME, type PurlEvent } from '../shared/messages';
import { databaseWait, getDb, storageFull } from './sources';

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('what the page hears about its own storage', () => {
  const worker = new BroadcastChannel(CHANNEL_NAME);
  afterEach(() => worker.close());
  const say = (event: PurlEvent) => worker.postMessage(event);

  it('says storage is full while the worker says so, and no longer once it saves again', async () => {
    const seen: boolean[] = [];
    const unsubscribe = storageFull.subscribe((full) => seen.push(full));
    say({ type: 'storage-full' });
    await vi.waitFor(() => expect(seen).toEqual([true]));
    say({ type: 'data-changed', stores: ['outbox'] });
    await vi.waitFor(() => expect(seen).toEqual([true, false]));
    unsubscribe();
  });

  it('says it is waiting while an old tab holds the database at an older version, until it lets go', async () => {
    const old = await openVersion1Database();
    const seen: boolean[] = [];
    const unsubscribe = databaseWait.subscribe((waiting) => seen.push(waiting));
    const opening = getDb();
    await vi.waitFor(() => expect(seen).toEqual([false, true]));
    old.close();
    await opening;
    expect(seen).toEqual([false, true, false]);
    unsubscribe();
  });
});

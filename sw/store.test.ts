import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Agent, Memory } from '../src/shared/api';
import { listAgents, listMemories, openPurlDB } from '../src/shared/db';
import { isSameMemory, reconcileMemories, saveAgents } from './store';

const memory = (id: string, createdAt: number, agentId = 'a1'): Memory => ({
  id,
  agentId,
  roomId: 'r',
  entityId: 'u',
  createdAt,
  text: id,
  isAgent: false,
});
const agent = (id: string, name = id): Agent => ({ id, name, bio: '', status: 'active' });

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('the worker’s writes', () => {
  it('reconciles memories with the server’s full list: adds new, drops deleted, reports counts', async () => {
    const db = await openPurlDB();
    expect(await reconcileMemories(db, 'a1', [memory('m1', 1), memory('m2', 2)])).toEqual({ added: 2, removed: 0, updated: 0 });
    expect(await reconcileMemories(db, 'a1', [memory('m2', 2), memory('m3', 3)])).toEqual({ added: 1, removed: 1, updated: 0 });
    expect((await listMemories(db, 'a1')).map((m) => m.id)).toEqual(['m3', 'm2']);
    db.close();
  });

  it('saves a big answer in several short transactions, with the same result', async () => {
    const db = await openPurlDB();
    const writes: number[] = [];
    const transaction = db.transaction.bind(db);
    db.transaction = ((stores: never, mode?: IDBTransactionMode) => {
      if (mode === 'readwrite') writes.push(Date.now());
      return transaction(stores, mode);
    }) as typeof db.transaction;
    const first = Array.from({ length: 5 }, (_, i) => memory(`m${i}`, i));
    expect(await reconcileMemories(db, 'a1', first, { batchSize: 2 })).toEqual({ added: 5, removed: 0, updated: 0 });
    expect(writes).toHaveLength(3);
    expect(await reconcileMemories(db, 'a1', [memory('m4', 4), memory('m5', 5)], { batchSize: 2 })).toEqual({ added: 1, removed: 4, updated: 0 });
    expect(writes).toHaveLength(6);
    expect((await listMemories(db, 'a1')).map((m) => m.id)).toEqual(['m5', 'm4']);
    db.close();
  });

  it('says the new memories are stored before it removes the old ones, and only when both happen', async () => {
    const db = await openPurlDB();
    const seen: string[][] = [];
    const written = async () => seen.push((await listMemories(db, 'a1')).map((m) => m.id));
    await reconcileMemories(db, 'a1', [memory('m1', 1), memory('m2', 2)], { written: () => void written() });
    expect(seen).toEqual([]);
    await reconcileMemories(db, 'a1', [memory('m3', 3)], { batchSize: 1, written: () => void written() });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen).toHaveLength(1);
    // A read begun when told (IndexedDB runs it before the later removals): the new memory, the old ones still there.
    expect(seen[0]).toEqual(['m3', 'm2', 'm1']);
    expect((await listMemories(db, 'a1')).map((m) => m.id)).toEqual(['m3']);
    await reconcileMemories(db, 'a1', [], { written: () => void written() });
    expect(seen).toHaveLength(1);
    db.close();
  });

  it('reports no change when the same list arrives again', async () => {
    const db = await openPurlDB();
    await reconcileMemories(db, 'a1', [memory('m1', 1)]);
    expect(await reconcileMemories(db, 'a1', [memory('m1', 1)])).toEqual({ added: 0, removed: 0, updated: 0 });
    db.close();
  });

  it('rewrites a memory edited on the server (same id, new text or thought), and only that one', async () => {
    const db = await openPurlDB();
    await reconcileMemories(db, 'a1', [memory('m1', 1), memory('m2', 2), { ...memory('m3', 3), thought: 'first thought' }]);
    const edited = [{ ...memory('m1', 1), text: 'edited on the server' }, memory('m2', 2), { ...memory('m3', 3), thought: 'second thought' }];
    expect(await reconcileMemories(db, 'a1', edited)).toEqual({ added: 0, removed: 0, updated: 2 });
    expect((await listMemories(db, 'a1')).map((m) => [m.id, m.text, m.thought])).toEqual([
      ['m3', 'm3', 'second thought'],
      ['m2', 'm2', undefined],
      ['m1', 'edited on the server', undefined],
    ]);
    expect(await reconcileMemories(db, 'a1', edited)).toEqual({ added: 0, removed: 0, updated: 0 });
    db.close();
  });

  it('counts the same memory stored with its keys in another order as unchanged', () => {
    const { text, ...rest } = memory('m1', 1);
    expect(isSameMemory(memory('m1', 1), { text, ...rest })).toBe(true);
    expect(isSameMemory({ ...memory('m1', 1), actions: ['REPLY'] }, { ...memory('m1', 1), actions: ['REPLY', 'IGNORE'] })).toBe(false);
  });

  it('leaves other agents’ memories alone', async () => {
    const db = await openPurlDB();
    await reconcileMemories(db, 'a2', [memory('x', 1, 'a2')]);
    await reconcileMemories(db, 'a1', []);
    expect((await listMemories(db, 'a2')).map((m) => m.id)).toEqual(['x']);
    db.close();
  });

  it('saves agents and says whether anything changed', async () => {
    const db = await openPurlDB();
    expect(await saveAgents(db, [agent('a1'), agent('a2')])).toBe(true);
    expect(await saveAgents(db, [agent('a1'), agent('a2')])).toBe(false);
    expect(await saveAgents(db, [agent('a1', 'Renamed')])).toBe(true);
    expect(await listAgents(db)).toEqual([agent('a1', 'Renamed')]);
    db.close();
  });
});

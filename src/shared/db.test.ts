import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Memory } from './api';
import { DB_NAME, DB_VERSION, countMemories, getMeta, listChat, listMemories, listOutbox, openPurlDB } from './db';
import { openVersion1Database } from './db-v1.fixture';

const agentId = 'agent-1';

function memory(id: string, createdAt: number, overrides: Partial<Memory> = {}): Memory {
  return { id, agentId, roomId: 'room-1', entityId: 'user-1', createdAt, text: `text ${id}`, isAgent: false, ...overrides };
}

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('the IndexedDB schema', () => {
  it('creates every store and index on a new database', async () => {
    const db = await openPurlDB();
    expect(db.version).toBe(DB_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(['agents', 'chat', 'memories', 'meta', 'outbox']);
    expect([...db.transaction('chat').store.indexNames].sort()).toEqual(['by-agent', 'by-client']);
    expect([...db.transaction('outbox').store.indexNames]).toEqual(['by-order']);
    expect([...db.transaction('memories').store.indexNames].sort()).toEqual(['by-agent', 'by-room']);
    db.close();
  });

  it('lists one agent’s memories newest first, up to a limit, and counts them', async () => {
    const db = await openPurlDB();
    await db.put('memories', memory('old', 1));
    await db.put('memories', memory('new', 3));
    await db.put('memories', memory('mid', 2));
    await db.put('memories', memory('other', 9, { agentId: 'agent-2' }));
    expect((await listMemories(db, agentId)).map((m) => m.id)).toEqual(['new', 'mid', 'old']);
    expect((await listMemories(db, agentId, 2)).map((m) => m.id)).toEqual(['new', 'mid']);
    expect(await countMemories(db, agentId)).toBe(3);
    db.close();
  });

  it('lists chat messages oldest first, the newest ones up to a limit, and the outbox in the order typed', async () => {
    const db = await openPurlDB();
    for (const [id, at] of [
      ['c', 3],
      ['a', 1],
      ['b', 2],
    ] as const) {
      await db.put('chat', { id, agentId, channelId: 'ch', authorId: 'u', isAgent: false, text: id, createdAt: at });
    }
    expect((await listChat(db, agentId)).map((m) => m.id)).toEqual(['a', 'b', 'c']);
    expect((await listChat(db, agentId, 2)).map((m) => m.id)).toEqual(['b', 'c']);
    await db.put('outbox', { clientId: 'later', agentId, text: '2', createdAt: 20, state: 'queued', attempts: 0 });
    await db.put('outbox', { clientId: 'first', agentId, text: '1', createdAt: 10, state: 'queued', attempts: 0 });
    expect((await listOutbox(db)).map((item) => item.clientId)).toEqual(['first', 'later']);
    db.close();
  });

  it('round-trips typed meta values', async () => {
    const db = await openPurlDB();
    await db.put('meta', { attemptedAt: 5, succeededAt: 5 }, 'sync');
    expect(await getMeta(db, 'sync')).toEqual({ attemptedAt: 5, succeededAt: 5 });
    expect(await getMeta(db, 'selectedAgentId')).toBeUndefined();
    db.close();
  });

  it('migrates a version 1 database to the current version and keeps its data', async () => {
    // Version 1 as it shipped: no by-room index.
    const v1 = await openVersion1Database();
    await v1.put('memories', memory('kept', 1, { roomId: 'room-7' }));
    await v1.put('meta', agentId, 'selectedAgentId');
    v1.close();

    const db = await openPurlDB();
    expect(db.version).toBe(DB_VERSION);
    expect(await getMeta(db, 'selectedAgentId')).toBe(agentId);
    const inRoom = await db.getAllFromIndex('memories', 'by-room', IDBKeyRange.bound([agentId, 'room-7', 0], [agentId, 'room-7', Infinity]));
    expect(inRoom.map((m) => m.id)).toEqual(['kept']);
    // Version 3's stores exist and work.
    await db.put('outbox', { clientId: 'c1', agentId, text: 'hi', createdAt: 1, state: 'queued', attempts: 0 });
    expect(await listOutbox(db)).toHaveLength(1);
    db.close();
  });

  it('says when an old connection that ignores versionchange holds up the upgrade, and opens once it closes', async () => {
    // An old Purl tab: the version 1 schema, and no versionchange handler.
    const old = await openVersion1Database();
    let isBlocked = false;
    const opening = openPurlDB({ onBlocked: () => (isBlocked = true) });
    await expect.poll(() => isBlocked).toBe(true);
    old.close();
    const db = await opening;
    expect(db.version).toBe(DB_VERSION);
    db.close();
  });

  it('closes an open connection when a newer version is requested, so the upgrade is not blocked', async () => {
    let told = false;
    const db = await openPurlDB({ onBlocking: () => (told = true) });
    const newer = await openDB(DB_NAME, DB_VERSION + 1);
    expect(told).toBe(true);
    expect(newer.version).toBe(DB_VERSION + 1);
    newer.close();
    expect(() => db.transaction('memories')).toThrowError();
  });
});

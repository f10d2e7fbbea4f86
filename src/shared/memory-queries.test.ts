import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Memory } from './api';
import { openPurlDB, type PurlDatabase } from './db';
import { foldForSearch, listConversation, listConversations, searchMemories, trimPreview } from './memory-queries';

const agentId = 'agent-1';

function memory(id: string, createdAt: number, overrides: Partial<Memory> = {}): Memory {
  return { id, agentId, roomId: 'room-1', entityId: 'user-1', createdAt, text: `text ${id}`, isAgent: false, ...overrides };
}

function agentSays(id: string, createdAt: number, overrides: Partial<Memory> = {}): Memory {
  return memory(id, createdAt, { entityId: agentId, isAgent: true, ...overrides });
}

async function seed(db: PurlDatabase, memories: readonly Memory[]): Promise<void> {
  const tx = db.transaction('memories', 'readwrite');
  for (const item of memories) void tx.store.put(item);
  await tx.done;
}

let db: PurlDatabase;

beforeEach(async () => {
  globalThis.indexedDB = new IDBFactory();
  db = await openPurlDB();
  return () => db.close();
});

describe('listConversations', () => {
  it('groups memories by room, the most recently active room first, with times, counts and participants', async () => {
    await seed(db, [
      memory('a1', 10, { roomId: 'a' }),
      agentSays('a2', 20, { roomId: 'a' }),
      memory('b1', 5, { roomId: 'b' }),
      agentSays('b2', 30, { roomId: 'b' }),
      memory('b3', 31, { roomId: 'b', entityId: 'user-2' }),
      memory('c1', 25, { roomId: 'c' }),
      memory('x1', 99, { roomId: 'a', agentId: 'agent-2' }),
    ]);
    const conversations = await listConversations(db, agentId);
    expect(conversations.map((c) => c.roomId)).toEqual(['b', 'c', 'a']);
    expect(conversations[0]).toMatchObject({ roomId: 'b', firstAt: 5, lastAt: 31, count: 3, participants: ['user-1', agentId, 'user-2'] });
    expect(conversations[2]).toMatchObject({ roomId: 'a', firstAt: 10, lastAt: 20, count: 2 });
  });

  it('previews the first user message, or the first message when no user spoke', async () => {
    await seed(db, [
      agentSays('a1', 1, { roomId: 'a', text: 'Hello, I am the agent.' }),
      memory('a2', 2, { roomId: 'a', text: '  What   can\nyou do?  ' }),
      memory('a3', 3, { roomId: 'a', text: 'A later question' }),
      agentSays('b1', 4, { roomId: 'b', text: 'Only the agent here.' }),
      agentSays('b2', 5, { roomId: 'b', text: 'Still only the agent.' }),
      memory('c1', 6, { roomId: 'c', text: '' }),
      memory('c2', 7, { roomId: 'c', text: 'The first words' }),
    ]);
    const previews = Object.fromEntries((await listConversations(db, agentId)).map((c) => [c.roomId, c.preview]));
    expect(previews).toEqual({ a: 'What can you do?', b: 'Only the agent here.', c: 'The first words' });
  });

  it('cuts long previews to about 120 characters at a word boundary', () => {
    const long = 'word '.repeat(60);
    const preview = trimPreview(long);
    expect(preview.endsWith('…')).toBe(true);
    expect(preview.length).toBeLessThanOrEqual(121);
    expect(preview.length).toBeGreaterThan(100);
    expect(preview).not.toMatch(/wor…$/);
    expect(trimPreview('short')).toBe('short');
  });

  it('returns no conversations for an agent with no memories', async () => {
    await seed(db, [memory('x', 1, { agentId: 'agent-2' })]);
    expect(await listConversations(db, agentId)).toEqual([]);
  });

  it('groups 10,000 memories in 40 rooms correctly in one pass', async () => {
    const rooms = 40;
    const all: Memory[] = [];
    for (let i = 0; i < 10_000; i += 1) {
      const roomId = `room-${i % rooms}`;
      all.push(i % 3 === 0 ? agentSays(`m${i}`, 1_000 + i, { roomId }) : memory(`m${i}`, 1_000 + i, { roomId }));
    }
    await seed(db, all);
    const conversations = await listConversations(db, agentId);
    expect(conversations).toHaveLength(rooms);
    expect(conversations.reduce((sum, c) => sum + c.count, 0)).toBe(10_000);
    // The last memory (i = 9999) is in room 39, the one before in room 38, …
    expect(conversations[0]).toMatchObject({ roomId: 'room-39', firstAt: 1_039, lastAt: 10_999, count: 250 });
    expect(conversations[1]!.roomId).toBe('room-38');
    expect(conversations.at(-1)).toMatchObject({ roomId: 'room-0', firstAt: 1_000, preview: 'text m40' });
    // Every third memory is the agent's; a room that starts with it previews its first user message.
    expect(conversations[0]!.preview).toBe('text m79');
  });
});

describe('listConversation', () => {
  const room = Array.from({ length: 7 }, (_, i) => memory(`r${i}`, 100 + i * 10));

  it('returns the newest page of a room oldest first, and says older memories exist', async () => {
    await seed(db, [...room, memory('other-room', 200, { roomId: 'room-2' }), memory('other-agent', 200, { agentId: 'agent-2' })]);
    const page = await listConversation(db, agentId, 'room-1', { limit: 3 });
    expect(page.memories.map((m) => m.id)).toEqual(['r4', 'r5', 'r6']);
    expect(page.hasMore).toBe(true);
  });

  it('pages backwards from a before cursor until the start of the room', async () => {
    await seed(db, room);
    const newest = await listConversation(db, agentId, 'room-1', { limit: 3 });
    const middle = await listConversation(db, agentId, 'room-1', { limit: 3, before: newest.memories[0]! });
    expect(middle.memories.map((m) => m.id)).toEqual(['r1', 'r2', 'r3']);
    expect(middle.hasMore).toBe(true);
    const oldest = await listConversation(db, agentId, 'room-1', { limit: 3, before: middle.memories[0]! });
    expect(oldest.memories.map((m) => m.id)).toEqual(['r0']);
    expect(oldest.hasMore).toBe(false);
  });

  it('neither skips nor repeats memories saved at the same millisecond across a page boundary', async () => {
    await seed(db, [memory('a', 5), memory('b', 5), memory('c', 5), memory('d', 5), memory('e', 6)]);
    const first = await listConversation(db, agentId, 'room-1', { limit: 2 });
    expect(first.memories.map((m) => m.id)).toEqual(['d', 'e']);
    const second = await listConversation(db, agentId, 'room-1', { limit: 2, before: first.memories[0]! });
    expect(second.memories.map((m) => m.id)).toEqual(['b', 'c']);
    const third = await listConversation(db, agentId, 'room-1', { limit: 2, before: second.memories[0]! });
    expect(third).toEqual({ memories: [expect.objectContaining({ id: 'a' })], hasMore: false });
  });

  it('says a whole room fits when it has exactly `limit` memories', async () => {
    await seed(db, room.slice(0, 3));
    expect((await listConversation(db, agentId, 'room-1', { limit: 3 })).hasMore).toBe(false);
  });

  it('returns an empty page for an unknown room', async () => {
    await seed(db, room);
    expect(await listConversation(db, agentId, 'nope', { limit: 3 })).toEqual({ memories: [], hasMore: false });
  });

  it('rejects a limit that is not a positive integer', async () => {
    await expect(listConversation(db, agentId, 'room-1', { limit: 0 })).rejects.toThrow(RangeError);
  });
});

describe('searchMemories', () => {
  beforeEach(async () => {
    await seed(db, [
      memory('u1', 1, { text: 'I love the Café on Main street' }),
      agentSays('a1', 2, { text: 'The café opens at nine.', thought: 'User asks about COFFEE' }),
      memory('u2', 3, { roomId: 'room-2', text: 'Any coffee\n\nnearby?' }),
      agentSays('a2', 4, { roomId: 'room-2', text: 'Try the bakery.', actions: ['REPLY'] }),
      memory('x1', 5, { agentId: 'agent-2', text: 'café of another agent' }),
    ]);
  });

  it('finds text case- and accent-insensitively, newest first, with the total', async () => {
    const page = await searchMemories(db, agentId, { text: 'CAFE' }, { limit: 10 });
    expect(page.results.map((m) => m.id)).toEqual(['a1', 'u1']);
    expect(page.total).toBe(2);
  });

  it('matches the agent’s thought as well as the text, and folds whitespace in both', async () => {
    expect((await searchMemories(db, agentId, { text: 'coffee' }, { limit: 10 })).results.map((m) => m.id)).toEqual(['u2', 'a1']);
    expect((await searchMemories(db, agentId, { text: ' coffee   nearby ' }, { limit: 10 })).results.map((m) => m.id)).toEqual(['u2']);
  });

  it('finds nothing for text no memory contains', async () => {
    expect(await searchMemories(db, agentId, { text: 'zebra' }, { limit: 10 })).toEqual({ results: [], total: 0 });
  });

  it('filters by author, with or without text', async () => {
    expect((await searchMemories(db, agentId, { text: 'café', author: 'user' }, { limit: 10 })).results.map((m) => m.id)).toEqual(['u1']);
    expect((await searchMemories(db, agentId, { text: 'café', author: 'agent' }, { limit: 10 })).results.map((m) => m.id)).toEqual(['a1']);
    const agentOnly = await searchMemories(db, agentId, { author: 'agent' }, { limit: 10 });
    expect(agentOnly).toEqual({ results: [expect.objectContaining({ id: 'a2' }), expect.objectContaining({ id: 'a1' })], total: 2 });
    expect((await searchMemories(db, agentId, { text: '  ' }, { limit: 10 })).total).toBe(4);
  });

  it('returns one page at an offset while counting every match', async () => {
    const page = await searchMemories(db, agentId, {}, { limit: 2, offset: 1 });
    expect(page.results.map((m) => m.id)).toEqual(['u2', 'a1']);
    expect(page.total).toBe(4);
    expect(await searchMemories(db, agentId, {}, { limit: 2, offset: 10 })).toEqual({ results: [], total: 4 });
  });

  it('searches 10,000 memories, counting every match and returning only the page asked for', async () => {
    await seed(
      db,
      Array.from({ length: 10_000 }, (_, i) => memory(`n${i}`, 1_000 + i, { text: i % 10 === 0 ? `Needle ${i}` : `hay ${i}` })),
    );
    const page = await searchMemories(db, agentId, { text: 'needle' }, { limit: 20, offset: 40 });
    expect(page.total).toBe(1_000);
    expect(page.results).toHaveLength(20);
    // Newest first: the 41st newest needle is i = 9990 - 40 * 10.
    expect(page.results[0]!.text).toBe('Needle 9590');
  });

  it('rejects a negative offset', async () => {
    await expect(searchMemories(db, agentId, {}, { limit: 2, offset: -1 })).rejects.toThrow(RangeError);
  });
});

describe('foldForSearch', () => {
  it('drops accents, folds compatibility forms and case, and collapses whitespace', () => {
    expect(foldForSearch('  Crème\tBRÛLÉE ﬁne  ')).toBe('creme brulee fine');
  });
});

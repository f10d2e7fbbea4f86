/**
 * Read-only queries behind the memories browser: conversations (memories grouped by
 * room), one room's transcript in pages, and search. The worker is the only writer
 * (sw/store.ts); nothing here opens a readwrite transaction.
 *
 * Every function reads only this agent's key range, and each is one pass over it, so
 * they stay linear in the number of cached memories (10,000 is the design point).
 */
import type { Memory } from './api';
import type { PurlDatabase } from './db';

/** One conversation (ElizaOS room) of an agent, as the list shows it. */
export interface ConversationSummary {
  roomId: string;
  /** Epoch ms of the first and the last memory in the room. */
  firstAt: number;
  lastAt: number;
  /** How many memories are saved for the room. */
  count: number;
  /**
   * The first user message's text, whitespace collapsed and cut to about
   * PREVIEW_LENGTH characters; the first message's text when no user spoke; '' when
   * no memory has text.
   */
  preview: string;
  /** Distinct entity ids that wrote in the room (the agent included), in order of first message. */
  participants: string[];
}

/** Where a page of a transcript ends: the memory just after it (exclusive). */
export type MemoryPosition = Pick<Memory, 'createdAt' | 'id'>;

export interface ConversationPageOptions {
  /** At most this many memories (a positive integer). */
  limit: number;
  /** Only memories strictly older than this one; the newest page when absent. */
  before?: MemoryPosition;
}

export interface ConversationPage {
  /** Oldest first. */
  memories: Memory[];
  /** True when older memories than the first one returned exist. */
  hasMore: boolean;
}

/** Whose memories a search returns. */
export type AuthorFilter = 'user' | 'agent' | 'all';

export interface MemorySearchQuery {
  /** Searched case-, accent- and whitespace-insensitively in text and thought; blank matches all. */
  text?: string;
  author?: AuthorFilter;
}

export interface SearchPageOptions {
  /** At most this many results (a positive integer). */
  limit: number;
  /** How many matches to skip, newest first (default 0). */
  offset?: number;
}

export interface SearchPage {
  /** Newest first. */
  results: Memory[];
  /** All matches, not just this page. */
  total: number;
}

/** Roughly how long a conversation preview may be, in characters. */
export const PREVIEW_LENGTH = 120;

function agentRange(agentId: string): IDBKeyRange {
  return IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]);
}

function requireLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
}

function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Cuts `text` to about `max` characters, at a word boundary when one is near, and
 * marks the cut with an ellipsis. Counts code points so an emoji is never split.
 */
export function trimPreview(text: string, max = PREVIEW_LENGTH): string {
  const collapsed = collapseWhitespace(text);
  if (collapsed.length <= max) return collapsed;
  const points = Array.from(collapsed);
  if (points.length <= max) return collapsed;
  const cut = points.slice(0, max).join('');
  const space = cut.lastIndexOf(' ');
  // Prefer a word boundary, unless it would throw away most of the preview.
  const kept = space > max * 0.6 ? cut.slice(0, space) : cut;
  return `${kept.trimEnd()}…`;
}

/**
 * Folds text for matching: compatibility decomposition (NFKD) with combining marks
 * removed ("Café" → "cafe", "ﬁ" → "fi", full-width letters → ASCII), lower case, and
 * runs of whitespace as one space.
 */
export function foldForSearch(text: string): string {
  return collapseWhitespace(text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase());
}

interface RoomAccumulator {
  summary: ConversationSummary;
  firstText: string | undefined;
  firstUserText: string | undefined;
  seen: Set<string>;
}

/**
 * The agent's conversations, the most recently active first (ties by room id). One
 * getAll over the agent's 'by-agent' range, which is in time order, then one pass.
 */
export async function listConversations(db: PurlDatabase, agentId: string): Promise<ConversationSummary[]> {
  const memories = await db.getAllFromIndex('memories', 'by-agent', agentRange(agentId));
  const rooms = new Map<string, RoomAccumulator>();
  for (const memory of memories) {
    let room = rooms.get(memory.roomId);
    if (!room) {
      const summary: ConversationSummary = {
        roomId: memory.roomId,
        firstAt: memory.createdAt,
        lastAt: memory.createdAt,
        count: 0,
        preview: '',
        participants: [],
      };
      room = { summary, firstText: undefined, firstUserText: undefined, seen: new Set() };
      rooms.set(memory.roomId, room);
    }
    const { summary } = room;
    summary.count += 1;
    summary.lastAt = memory.createdAt;
    if (!room.seen.has(memory.entityId)) {
      room.seen.add(memory.entityId);
      summary.participants.push(memory.entityId);
    }
    // A message with no text (an attachment, an action only) says nothing as a preview.
    if (memory.text.trim() !== '') {
      room.firstText ??= memory.text;
      if (!memory.isAgent) room.firstUserText ??= memory.text;
    }
  }
  const summaries: ConversationSummary[] = [];
  for (const room of rooms.values()) {
    room.summary.preview = trimPreview(room.firstUserText ?? room.firstText ?? '');
    summaries.push(room.summary);
  }
  return summaries.sort((a, b) => b.lastAt - a.lastAt || (a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0));
}

/**
 * A page of one room's transcript, read backwards from `before` (or from the newest
 * memory) through the 'by-room' index and returned oldest first. Memories at the same
 * millisecond are told apart by id, which is how the index orders them too.
 */
export async function listConversation(db: PurlDatabase, agentId: string, roomId: string, options: ConversationPageOptions): Promise<ConversationPage> {
  const { limit, before } = options;
  requireLimit(limit);
  const upper = before ? before.createdAt : Infinity;
  const range = IDBKeyRange.bound([agentId, roomId, -Infinity], [agentId, roomId, upper]);
  const newestFirst: Memory[] = [];
  // One more than asked for says whether older memories exist.
  let cursor = await db.transaction('memories').store.index('by-room').openCursor(range, 'prev');
  while (cursor && newestFirst.length <= limit) {
    const memory = cursor.value;
    const atOrAfterBefore = before !== undefined && memory.createdAt === before.createdAt && memory.id >= before.id;
    if (!atOrAfterBefore) newestFirst.push(memory);
    cursor = await cursor.continue();
  }
  const hasMore = newestFirst.length > limit;
  return { memories: newestFirst.slice(0, limit).reverse(), hasMore };
}

function authorMatches(memory: Memory, author: AuthorFilter): boolean {
  return author === 'all' || memory.isAgent === (author === 'agent');
}

/**
 * The agent's memories whose text or thought contains `query.text` (folded by
 * foldForSearch on both sides), by `query.author`, newest first, one page of them and
 * the total. A blank text filters by author only.
 */
export async function searchMemories(db: PurlDatabase, agentId: string, query: MemorySearchQuery, options: SearchPageOptions): Promise<SearchPage> {
  const { limit, offset = 0 } = options;
  requireLimit(limit);
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  const needle = foldForSearch(query.text ?? '');
  const author = query.author ?? 'all';
  const memories = await db.getAllFromIndex('memories', 'by-agent', agentRange(agentId));
  const results: Memory[] = [];
  let total = 0;
  for (let index = memories.length - 1; index >= 0; index -= 1) {
    const memory = memories[index]!;
    if (!authorMatches(memory, author)) continue;
    if (needle !== '' && !foldForSearch(memory.text).includes(needle) && !foldForSearch(memory.thought ?? '').includes(needle)) continue;
    if (total >= offset && results.length < limit) results.push(memory);
    total += 1;
  }
  return { results, total };
}

/**
 * The IndexedDB schema, declared once. The service worker is the only writer
 * (sw/store.ts); pages import the read functions below.
 */
import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import type { Agent, ChatMessage, ChatSession, Memory } from './api';
import type { BreakerSnapshot, MetricsSnapshot, PollKind, PollSchedule, RateLimitInfo, TabState } from './network';

export const DB_NAME = 'purl';
export const DB_VERSION = 3;

/** What the worker last learnt from the agent's server; shown by the UI. */
export interface SyncStatus {
  /** Epoch ms of the last attempt. */
  attemptedAt: number;
  /** Epoch ms of the last success, if any. */
  succeededAt?: number;
  /** A sentence for people when the last attempt failed. */
  error?: string;
}

/** Where a message typed by the user is on its way to the server. */
export type OutboxState =
  /** Waiting its turn (pacing, order, or the connection). */
  | 'queued'
  /** On the wire now. */
  | 'sending'
  /** The last attempt failed; the next is at `nextAttemptAt`. */
  | 'retrying'
  /** The server refused it for good (e.g. too long); kept so nothing typed is lost. */
  | 'rejected';

/** A message the user typed that the server does not have yet. */
export interface OutboxItem {
  /** The client message id: the key here, and sent as metadata so a retry is recognisable. */
  clientId: string;
  agentId: string;
  text: string;
  /** Epoch ms when typed (the order of sending). */
  createdAt: number;
  state: OutboxState;
  attempts: number;
  /** Epoch ms of the next attempt, when retrying. */
  nextAttemptAt?: number;
  /** A sentence about the last failure. */
  error?: string;
}

/**
 * What the worker keeps of an API answer whose data it stored (sw/fresh-cache.ts): not
 * the body (the data lives in the stores above), only what the freshness window and a
 * conditional request need.
 */
export interface AnswerStamp {
  /** Epoch ms when the answer arrived, or when a 304 last confirmed it. */
  fetchedAt: number;
  etag?: string;
  lastModified?: string;
}

/** Values kept in the `meta` store, by key. */
export interface MetaValues {
  selectedAgentId: string;
  /** True when the user picked `selectedAgentId` (kept even if it stops); absent when Purl chose it. */
  agentChosenByUser: boolean;
  sync: SyncStatus;
  /** The chat poll's last outcome; its error, while it fails, says why replies are not arriving. */
  chatPoll: SyncStatus;
  /** The circuit breaker, restored at worker start. */
  breaker: BreakerSnapshot;
  /** Each poll's schedule. */
  schedules: Partial<Record<PollKind, PollSchedule>>;
  /** Open tabs by id, from their heartbeats. */
  tabs: Record<string, TabState>;
  /** The last rate-limit headers the server sent. */
  rateLimit: RateLimitInfo;
  /** This browser's high-load mode, applied to every tab. */
  highLoad: boolean;
  /** The open chat session (lost when the server restarts; then a new one is made). */
  chatSession: ChatSession;
  /** This browser's user id towards the agent (a UUID, made once). */
  userId: string;
  /** Epoch ms when the outbox last sent a message (for the minimum interval). */
  lastMessageSentAt: number;
  /** The monitor's figures, as last published. */
  metrics: MetricsSnapshot;
  /** Epoch ms before which nothing may be sent (the server's Retry-After). */
  retryAt: number;
  /** This browser's fixed offset into each poll interval, 0..1, so browsers do not poll in lockstep. */
  phase: number;
  /** The stamps of the API answers whose data is stored, by URL. */
  answers: Record<string, AnswerStamp>;
  /** Where the stored memories of `agentId` stand in the gateway's sync (its last answer's cursor). */
  syncCursor: { agentId: string; cursor: string };
  /** The last push event's id, for replay after the stream comes back (docs/push.md). */
  pushLastEventId: string;
}
export type MetaKey = keyof MetaValues;

export interface PurlDB extends DBSchema {
  agents: { key: string; value: Agent };
  memories: {
    key: string;
    value: Memory;
    indexes: {
      /** Newest first per agent: [agentId, createdAt]. */
      'by-agent': [string, number];
      /** One conversation in order: [agentId, roomId, createdAt]. Added in version 2. */
      'by-room': [string, string, number];
    };
  };
  meta: { key: MetaKey; value: MetaValues[MetaKey] };
  /** Chat messages from the server, every session of this browser. Added in version 3. */
  chat: { key: string; value: ChatMessage; indexes: { 'by-agent': [string, number]; 'by-client': string } };
  /** Messages typed but not yet on the server, in the order typed. Added in version 3. */
  outbox: { key: string; value: OutboxItem; indexes: { 'by-order': [number, string] } };
}

export type PurlDatabase = IDBPDatabase<PurlDB>;

/**
 * Brings a database of any older version up to DB_VERSION, one step per version in
 * order, so a new (version 0) database runs every step.
 */
function upgrade(db: IDBPDatabase<PurlDB>, oldVersion: number, tx: IDBPTransaction<PurlDB, StoreNames<PurlDB>[], 'versionchange'>): void {
  if (oldVersion < 1) {
    db.createObjectStore('agents', { keyPath: 'id' });
    const memories = db.createObjectStore('memories', { keyPath: 'id' });
    memories.createIndex('by-agent', ['agentId', 'createdAt']);
    db.createObjectStore('meta');
  }
  if (oldVersion < 2) {
    tx.objectStore('memories').createIndex('by-room', ['agentId', 'roomId', 'createdAt']);
  }
  if (oldVersion < 3) {
    const chat = db.createObjectStore('chat', { keyPath: 'id' });
    chat.createIndex('by-agent', ['agentId', 'createdAt']);
    // Only the user's own messages carry a clientId; others are simply not in this index.
    chat.createIndex('by-client', 'clientId');
    db.createObjectStore('outbox', { keyPath: 'clientId' }).createIndex('by-order', ['createdAt', 'clientId']);
  }
}

export interface OpenOptions {
  /** Called when another context wants a newer version; the connection is already closed. */
  onBlocking?: () => void;
  /**
   * Called when this open has to upgrade the database but another context (an old tab
   * that ignores `versionchange`) keeps an older version open: the open waits until it
   * closes.
   */
  onBlocked?: () => void;
  /** Another database name: the Node simulation gives each simulated browser its own. */
  name?: string;
}

/**
 * Opens (and migrates) Purl's database. A newer version opened elsewhere (a new worker,
 * another tab) closes this connection at once, so an upgrade never stalls on old tabs.
 */
export async function openPurlDB(options: OpenOptions = {}): Promise<PurlDatabase> {
  const db = await openDB<PurlDB>(options.name ?? DB_NAME, DB_VERSION, {
    upgrade: (database, oldVersion, _newVersion, tx) => upgrade(database, oldVersion, tx),
    blocking: () => {
      db.close();
      options.onBlocking?.();
    },
    blocked: () => options.onBlocked?.(),
  });
  return db;
}

export async function getMeta<K extends MetaKey>(db: PurlDatabase, key: K): Promise<MetaValues[K] | undefined> {
  return (await db.get('meta', key)) as MetaValues[K] | undefined;
}

export function listAgents(db: PurlDatabase): Promise<Agent[]> {
  return db.getAll('agents');
}

/** The agent's memories, newest first, at most `limit`. */
export async function listMemories(db: PurlDatabase, agentId: string, limit = 500): Promise<Memory[]> {
  const range = IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]);
  const result: Memory[] = [];
  let cursor = await db.transaction('memories').store.index('by-agent').openCursor(range, 'prev');
  while (cursor && result.length < limit) {
    result.push(cursor.value);
    cursor = await cursor.continue();
  }
  return result;
}

export function countMemories(db: PurlDatabase, agentId: string): Promise<number> {
  return db.countFromIndex('memories', 'by-agent', IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]));
}

/** One agent's chat messages, oldest first, the newest `limit`. */
export async function listChat(db: PurlDatabase, agentId: string, limit = 200): Promise<ChatMessage[]> {
  const range = IDBKeyRange.bound([agentId, -Infinity], [agentId, Infinity]);
  const result: ChatMessage[] = [];
  let cursor = await db.transaction('chat').store.index('by-agent').openCursor(range, 'prev');
  while (cursor && result.length < limit) {
    result.push(cursor.value);
    cursor = await cursor.continue();
  }
  return result.reverse();
}

/** Everything in the outbox, in the order it will be sent. */
export function listOutbox(db: PurlDatabase): Promise<OutboxItem[]> {
  return db.getAllFromIndex('outbox', 'by-order');
}

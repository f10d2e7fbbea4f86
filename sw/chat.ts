/**
 * The chat: one session with the agent, its poll, and the outbox that never loses a
 * message. A typed message is written to the outbox first (by clientId, so repeating
 * the command is harmless), then sent in the order typed, no sooner than the minimum
 * interval after the previous one, retrying with backoff through outages, rate limits
 * and worker restarts. Before any retry the server is asked whether an earlier attempt
 * arrived after all (the clientId travels in the message's metadata), so each message
 * is stored once.
 */
import {
  apiPaths,
  CHAT_POLL_LIMIT,
  MAX_MESSAGE_LENGTH,
  parsePostedMessage,
  parseSession,
  parseSessionMessages,
  type ChatMessage,
  type ChatSession,
  type SyncChatPart,
} from '../src/shared/api';
import { getMeta, type OutboxItem, type PurlDatabase } from '../src/shared/db';
import { PurlError } from '../src/shared/errors';
import type { PurlEvent, StoreName } from '../src/shared/messages';
import type { Priority } from '../src/shared/network';
import { exponentialBackoff } from './backoff';
import { setMeta } from './store';
import { describeFailure } from './sync';

export interface ChatOptions {
  getDb: () => Promise<PurlDatabase>;
  /** Sends through the request queue. */
  send: (request: Request, priority: Priority) => Promise<Response>;
  origin: string;
  broadcast: (event: PurlEvent) => void;
  now: () => number;
  random: () => number;
  randomUUID: () => string;
  minIntervalMs: () => number;
  /** Epoch ms before which nothing can be sent anyway (Retry-After, open breaker). */
  notBefore: () => number;
  /** Waits `ms` (Background Sync's drain waits out the pacing between messages); setTimeout when absent. */
  sleep?: (ms: number) => Promise<void>;
}

export interface NewMessage {
  clientId: string;
  agentId: string;
  text: string;
  createdAt: number;
}

export interface Chat {
  /** Puts a typed message in the outbox (once per clientId). */
  enqueue(message: NewMessage): Promise<void>;
  /** Drops a message the server refused for good. */
  discard(clientId: string): Promise<void>;
  /** Makes sure a session with the agent exists. */
  openSession(agentId: string, priority: Priority): Promise<void>;
  hasSession(): Promise<boolean>;
  /** Brings new messages of the session into IndexedDB; rejects when the server could not be read. */
  poll(): Promise<'changed' | 'unchanged'>;
  /** The session the chat poll reads, if there is one (the sync route may bring its messages instead). */
  session(): Promise<ChatSession | undefined>;
  /** Takes a chat poll's answer that came another way (the sync route's chat part) as {@link poll} takes its own. */
  deliver(session: ChatSession, part: SyncChatPart): Promise<'changed' | 'unchanged'>;
  /** Stores messages that came by push (sw/push.ts) as a poll stores what it reads. */
  receive(messages: readonly ChatMessage[]): Promise<'changed' | 'unchanged'>;
  /** Sends what may be sent now; resolves with when there is more to do (epoch ms), or undefined. */
  drain(): Promise<number | undefined>;
  /** The server answers again after an outage: messages waiting out their backoff are tried at once. */
  retryNow(): Promise<void>;
  /** True while the newest message of the session is the user's, sent in the last `windowMs`. */
  awaitingReply(windowMs: number): Promise<boolean>;
  /**
   * Background Sync's entry point: the browser thinks it is online and wakes the worker,
   * perhaps with no tab open. Messages waiting out a backoff are tried now, and the
   * outbox is drained, waiting out the pacing between messages (up to `maxWaitMs` at a
   * time). Rejects while messages still wait, so the browser fires the event again later.
   */
  drainForSync(maxWaitMs: number): Promise<void>;
  /**
   * Hears each message that reached the server (the agent's reply is likely soon), awaited
   * before the next is sent; returns its remover. One listener: a second replaces the first.
   */
  onSent(listener: () => Promise<void>): () => void;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retries of one message: 2 s, 4 s, 8 s … up to 5 minutes, jittered. */
const RETRY = { initialMs: 2_000, maxMs: 5 * 60_000 };
const SESSION_GONE = new Set([404, 410]);

function isPermanentRefusal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429 && !SESSION_GONE.has(status);
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    throw new PurlError('bad-response', 'the body is not JSON');
  }
}

export function createChat(options: ChatOptions): Chat {
  const { getDb, now, broadcast } = options;
  const url = (path: string) => new URL(path, options.origin).href;
  const changed = (...stores: StoreName[]) => broadcast({ type: 'data-changed', stores });
  let draining: Promise<number | undefined> | null = null;
  let sentListener: () => Promise<void> = async () => undefined;

  /**
   * This browser's own userId, sent with each new session. Purl's gateway ignores it: it makes
   * the session for the person its identity cookie names (server/gateway/people/). An older
   * gateway takes it as it is.
   */
  async function userId(db: PurlDatabase): Promise<string> {
    const existing = await getMeta(db, 'userId');
    if (existing) return existing;
    const made = options.randomUUID();
    await setMeta(db, 'userId', made);
    return made;
  }

  /** Sessions being created, by agent: the poll and the outbox that find a session gone together make one, not two. */
  const creating = new Map<string, Promise<ChatSession>>();

  function createSession(agentId: string, priority: Priority): Promise<ChatSession> {
    let made = creating.get(agentId);
    if (!made) {
      made = makeSession(agentId, priority).finally(() => creating.delete(agentId));
      creating.set(agentId, made);
    }
    return made;
  }

  async function makeSession(agentId: string, priority: Priority): Promise<ChatSession> {
    const db = await getDb();
    const request = new Request(url(apiPaths.sessions), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ agentId, userId: await userId(db) }),
    });
    const response = await options.send(request, priority);
    if (!response.ok) throw new PurlError('http-error', `HTTP ${response.status}`);
    const session = parseSession(await readJson(response));
    await setMeta(db, 'chatSession', session);
    changed('meta');
    return session;
  }

  async function session(agentId: string, priority: Priority): Promise<ChatSession> {
    const current = await getMeta(await getDb(), 'chatSession');
    return current?.agentId === agentId ? current : createSession(agentId, priority);
  }

  async function forgetSession(lost: ChatSession): Promise<void> {
    const db = await getDb();
    const current = await getMeta(db, 'chatSession');
    if (current?.sessionId === lost.sessionId) await db.delete('meta', 'chatSession');
  }

  /** Stores messages from the server; drops outbox items they prove delivered. */
  async function store(messages: readonly ChatMessage[]): Promise<boolean> {
    const db = await getDb();
    const tx = db.transaction(['chat', 'outbox'], 'readwrite');
    let added = false;
    for (const message of messages) {
      if (!(await tx.objectStore('chat').getKey(message.id))) {
        added = true;
        await tx.objectStore('chat').put(message);
      }
      if (message.clientId && (await tx.objectStore('outbox').getKey(message.clientId))) {
        added = true;
        await tx.objectStore('outbox').delete(message.clientId);
      }
    }
    await tx.done;
    if (added) changed('chat', 'outbox');
    return added;
  }

  async function fetchMessages(current: ChatSession, priority: Priority): Promise<ChatMessage[] | 'session-gone'> {
    const response = await options.send(new Request(`${url(apiPaths.sessionMessages(current.sessionId))}?limit=${CHAT_POLL_LIMIT}`), priority);
    if (SESSION_GONE.has(response.status)) return 'session-gone';
    if (!response.ok) throw new PurlError('http-error', `HTTP ${response.status}`);
    return parseSessionMessages(await readJson(response), current);
  }

  async function poll(): Promise<'changed' | 'unchanged'> {
    const current = await getMeta(await getDb(), 'chatSession');
    if (!current) return 'unchanged';
    return settle(current, await fetchMessages(current, 'chat'));
  }

  async function deliver(current: ChatSession, part: SyncChatPart): Promise<'changed' | 'unchanged'> {
    if ('failed' in part) {
      // The gateway's word for the read it made for this poll: the same error the poll's own request would have given.
      const { status, code } = part.failed;
      throw code === 'UPSTREAM_BAD_ANSWER'
        ? new PurlError('bad-response', 'the gateway refused the server’s answer')
        : new PurlError('http-error', `HTTP ${status}`);
    }
    return settle(current, 'gone' in part ? 'session-gone' : parseSessionMessages(part.body, current));
  }

  /** What one read of the session's messages found, stored. */
  async function settle(current: ChatSession, messages: ChatMessage[] | 'session-gone'): Promise<'changed' | 'unchanged'> {
    if (messages === 'session-gone') {
      // Sessions live only in the server's memory: after a restart, start a new one
      // quietly; the history stays in IndexedDB.
      await forgetSession(current);
      await createSession(current.agentId, 'chat');
      return 'unchanged';
    }
    return (await store(messages)) ? 'changed' : 'unchanged';
  }

  async function update(item: OutboxItem): Promise<void> {
    const db = await getDb();
    // Only while it is still in the outbox: a poll may have proved it delivered meanwhile.
    const tx = db.transaction('outbox', 'readwrite');
    if (await tx.store.getKey(item.clientId)) await tx.store.put(item);
    await tx.done;
    changed('outbox');
  }

  async function retryLater(item: OutboxItem, error: unknown): Promise<number> {
    const backoff = exponentialBackoff({ ...RETRY, attempt: Math.max(0, item.attempts - 1), random: options.random });
    const nextAttemptAt = Math.max(now() + backoff.delay, options.notBefore());
    await update({ ...item, state: 'retrying', nextAttemptAt, error: describeFailure(error).replace('memories', 'messages') });
    return nextAttemptAt;
  }

  /** One attempt at the head of the outbox. Returns when to try again, or 'next' to go on. */
  async function attempt(item: OutboxItem): Promise<number | 'next'> {
    const sending: OutboxItem = { ...item, state: 'sending', attempts: item.attempts + 1 };
    delete sending.error;
    await update(sending);
    try {
      for (let sessionsTried = 0; sessionsTried < 2; sessionsTried += 1) {
        const current = await session(item.agentId, 'user');
        if (item.attempts > 0) {
          // An earlier attempt may have reached the server before the answer was lost.
          const known = await fetchMessages(current, 'user');
          if (known !== 'session-gone' && known.some((message) => message.clientId === item.clientId)) {
            await store(known);
            return 'next';
          }
        }
        const response = await options.send(
          new Request(url(apiPaths.sessionMessages(current.sessionId)), {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ content: item.text, metadata: { clientMessageId: item.clientId } }),
          }),
          'user',
        );
        if (SESSION_GONE.has(response.status)) {
          await forgetSession(current);
          continue;
        }
        if (response.ok) {
          await store([parsePostedMessage(await readJson(response), current)]);
          await setMeta(await getDb(), 'lastMessageSentAt', now());
          await sentListener();
          return 'next';
        }
        if (isPermanentRefusal(response.status)) {
          await update({
            ...sending,
            state: 'rejected',
            error: `The agent's server refused this message (HTTP ${response.status}). It is kept here; you can copy it or discard it.`,
          });
          return 'next';
        }
        return await retryLater(sending, new PurlError('http-error', `HTTP ${response.status}`));
      }
      return await retryLater(sending, new PurlError('http-error', 'the session could not be renewed'));
    } catch (error) {
      return retryLater(sending, error);
    }
  }

  async function drainOnce(): Promise<number | undefined> {
    for (;;) {
      const db = await getDb();
      const head = (await db.getAllFromIndex('outbox', 'by-order')).find((item) => item.state !== 'rejected');
      if (!head) return undefined;
      const at = now();
      if (head.state === 'retrying' && (head.nextAttemptAt ?? 0) > at) return head.nextAttemptAt;
      const gapUntil = ((await getMeta(db, 'lastMessageSentAt')) ?? 0) + options.minIntervalMs();
      const readyAt = Math.max(gapUntil, options.notBefore());
      if (readyAt > at) return readyAt;
      const outcome = await attempt(head);
      if (outcome !== 'next') return outcome;
    }
  }

  return {
    onSent(listener) {
      sentListener = listener;
      return () => {
        if (sentListener === listener) sentListener = async () => undefined;
      };
    },
    receive: async (messages) => ((await store(messages)) ? 'changed' : 'unchanged'),
    async enqueue(message) {
      const text = message.text.trim();
      if (!text) return;
      const db = await getDb();
      const tx = db.transaction(['outbox', 'chat'], 'readwrite');
      const known = (await tx.objectStore('outbox').getKey(message.clientId)) ?? (await tx.objectStore('chat').index('by-client').getKey(message.clientId));
      if (!known) {
        await tx.objectStore('outbox').put({
          clientId: message.clientId,
          agentId: message.agentId,
          text: text.slice(0, MAX_MESSAGE_LENGTH),
          createdAt: message.createdAt,
          state: 'queued',
          attempts: 0,
        });
      }
      await tx.done;
      if (!known) changed('outbox');
    },
    async discard(clientId) {
      const db = await getDb();
      const item = await db.get('outbox', clientId);
      if (item?.state !== 'rejected') return;
      await db.delete('outbox', clientId);
      changed('outbox');
    },
    async openSession(agentId, priority) {
      await session(agentId, priority);
    },
    async hasSession() {
      return (await getMeta(await getDb(), 'chatSession')) !== undefined;
    },
    poll,
    async session() {
      return getMeta(await getDb(), 'chatSession');
    },
    deliver,
    async retryNow() {
      const db = await getDb();
      const tx = db.transaction('outbox', 'readwrite');
      const at = now();
      let isMoved = false;
      for (const item of await tx.store.getAll()) {
        if (item.state !== 'retrying' || (item.nextAttemptAt ?? 0) <= at) continue;
        isMoved = true;
        await tx.store.put({ ...item, nextAttemptAt: at });
      }
      await tx.done;
      if (isMoved) changed('outbox');
    },
    async awaitingReply(windowMs) {
      const db = await getDb();
      const current = await getMeta(db, 'chatSession');
      if (!current) return false;
      const cursor = await db
        .transaction('chat')
        .store.index('by-agent')
        .openCursor(IDBKeyRange.bound([current.agentId, -Infinity], [current.agentId, Infinity]), 'prev');
      const newest = cursor?.value;
      return newest !== undefined && !newest.isAgent && now() - newest.createdAt < windowMs;
    },
    drain() {
      draining ??= drainOnce().finally(() => {
        draining = null;
      });
      return draining;
    },
    async drainForSync(maxWaitMs) {
      await this.retryNow();
      for (;;) {
        const nextAt = await this.drain();
        if (nextAt === undefined) return;
        const gap = nextAt - now();
        if (gap > maxWaitMs) throw new PurlError('not-sent', `the next attempt is in ${Math.round(gap / 1000)} s`);
        await (options.sleep ?? wait)(Math.max(0, gap));
      }
    },
  };
}

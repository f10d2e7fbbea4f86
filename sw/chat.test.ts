import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { getMeta, listChat, listOutbox, openPurlDB, type PurlDatabase } from '../src/shared/db';
import { createChat, type Chat } from './chat';

const AGENT = '40608b6b-63b6-0e2c-b819-9d9850d060ec';

/** A stand-in for ElizaOS's sessions API: enough to test the outbox against. */
class FakeServer {
  sessions = new Map<string, string>(); // sessionId → channelId
  messages: { id: string; channelId: string; content: string; clientId?: string; createdAt: number; isAgent: boolean }[] = [];
  /** Next answers to give instead of handling, consumed in order: a status, or 'throw' for a network failure. */
  faults: (number | 'throw' | 'store-then-throw')[] = [];
  posts = 0;
  #seq = 0;

  handle = async (request: Request): Promise<Response> => {
    const fault = this.faults.shift();
    if (fault === 'throw') throw new TypeError('Failed to fetch');
    const url = new URL(request.url);
    const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (typeof fault === 'number') return json({ error: { code: 'INJECTED' } }, fault);
    if (url.pathname === '/api/messaging/sessions' && request.method === 'POST') {
      const sessionId = `s${++this.#seq}`;
      const channelId = `c${this.#seq}`;
      this.sessions.set(sessionId, channelId);
      return json({ sessionId, channelId, agentId: AGENT, userId: 'u1' }, 201);
    }
    const match = /^\/api\/messaging\/sessions\/([^/]+)\/messages$/.exec(url.pathname);
    const channelId = match && this.sessions.get(match[1]!);
    if (!channelId) return json({ error: { code: 'SESSION_NOT_FOUND' } }, 404);
    if (request.method === 'POST') {
      this.posts += 1;
      const body = (await request.json()) as { content: string; metadata: { clientMessageId: string } };
      const message = {
        id: `m${++this.#seq}`,
        channelId,
        content: body.content,
        clientId: body.metadata.clientMessageId,
        createdAt: 1_000 + this.#seq,
        isAgent: false,
      };
      this.messages.push(message);
      if (fault === 'store-then-throw') throw new TypeError('the answer was lost');
      return json(
        {
          success: true,
          userMessage: {
            id: message.id,
            channel_id: channelId,
            author_id: 'u1',
            content: message.content,
            created_at: message.createdAt,
            metadata: { clientMessageId: message.clientId },
          },
        },
        201,
      );
    }
    return json({
      messages: this.messages
        .filter((m) => m.channelId === channelId)
        .reverse()
        .map((m) => ({
          id: m.id,
          content: m.content,
          authorId: m.isAgent ? AGENT : 'u1',
          isAgent: m.isAgent,
          createdAt: new Date(m.createdAt).toISOString(),
          metadata: m.clientId ? { clientMessageId: m.clientId } : {},
        })),
    });
  };
}

interface Harness {
  db: PurlDatabase;
  server: FakeServer;
  chat: Chat;
  clock: { now: number };
  minInterval: { ms: number };
  /** What the outbox waited for (Background Sync's drain), each wait moving the clock on. */
  slept: number[];
}

async function harness(): Promise<Harness> {
  const db = await openPurlDB();
  const server = new FakeServer();
  const clock = { now: 100_000 };
  const minInterval = { ms: 2_000 };
  let uuid = 0;
  const slept: number[] = [];
  const chat = createChat({
    getDb: async () => db,
    send: (request) => server.handle(request),
    origin: 'http://purl.test',
    broadcast: () => undefined,
    now: () => clock.now,
    random: () => 1,
    randomUUID: () => `uuid-${++uuid}`,
    minIntervalMs: () => minInterval.ms,
    notBefore: () => 0,
    sleep: async (ms) => {
      slept.push(ms);
      clock.now += ms;
    },
  });
  return { db, server, chat, clock, minInterval, slept };
}

const typed = (clientId: string, text = clientId, createdAt = 1) => ({ clientId, agentId: AGENT, text, createdAt });

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('the outbox', () => {
  it('sends messages in the order typed, no closer together than the minimum interval', async () => {
    const h = await harness();
    await h.chat.enqueue(typed('b', 'second', 2));
    await h.chat.enqueue(typed('a', 'first', 1));
    expect(await h.chat.drain()).toBe(h.clock.now + 2_000);
    expect(h.server.messages.map((m) => m.content)).toEqual(['first']);
    h.clock.now += 1_999;
    expect(await h.chat.drain()).toBe(h.clock.now + 1);
    h.clock.now += 1;
    expect(await h.chat.drain()).toBeUndefined();
    expect(h.server.messages.map((m) => m.content)).toEqual(['first', 'second']);
    expect(await listOutbox(h.db)).toEqual([]);
    expect((await listChat(h.db, AGENT)).map((m) => [m.text, m.clientId])).toEqual([
      ['first', 'a'],
      ['second', 'b'],
    ]);
  });

  it('tries a message waiting out its backoff at once when told the server is back, and only those', async () => {
    const h = await harness();
    h.server.faults = [503];
    await h.chat.enqueue(typed('a', 'waiting'));
    const retryAt = await h.chat.drain();
    expect(retryAt).toBeGreaterThan(h.clock.now);
    expect((await listOutbox(h.db))[0]).toMatchObject({ state: 'retrying', nextAttemptAt: retryAt });
    await h.chat.retryNow();
    expect((await listOutbox(h.db))[0]).toMatchObject({ state: 'retrying', nextAttemptAt: h.clock.now });
    expect(await h.chat.drain()).toBeUndefined();
    expect(h.server.messages.map((m) => m.content)).toEqual(['waiting']);
  });

  it('sends everything on a Background Sync event: a message waiting out its backoff at once, the next after the minimum interval', async () => {
    const h = await harness();
    h.server.faults = [503];
    await h.chat.enqueue(typed('a', 'first', 1));
    expect(await h.chat.drain()).toBeGreaterThan(h.clock.now);
    await h.chat.enqueue(typed('b', 'second', 2));
    await h.chat.drainForSync(10_000);
    expect(h.server.messages.map((m) => m.content)).toEqual(['first', 'second']);
    expect(h.slept).toEqual([2_000]);
    expect(await listOutbox(h.db)).toEqual([]);
  });

  it('rejects a Background Sync event while messages still wait, so the browser fires it again later', async () => {
    const h = await harness();
    h.server.faults = [503, 503, 503, 503, 503, 503];
    await h.chat.enqueue(typed('a', 'not yet'));
    await expect(h.chat.drainForSync(5_000)).rejects.toMatchObject({ code: 'not-sent' });
    // It tried, waited out the short backoffs, and gave up at the first long one.
    expect(h.slept.every((ms) => ms <= 5_000)).toBe(true);
    expect(await listOutbox(h.db)).toMatchObject([{ clientId: 'a', state: 'retrying' }]);
  });

  it('tells its listener of each message that reached the server, once the message is stored, and no one once removed', async () => {
    const h = await harness();
    const heard: string[] = [];
    const remove = h.chat.onSent(async () => {
      heard.push((await listChat(h.db, AGENT)).map((m) => m.text).join(','));
    });
    await h.chat.enqueue(typed('a', 'first', 1));
    await h.chat.drain();
    expect(heard).toEqual(['first']);
    remove();
    h.clock.now += 2_000;
    await h.chat.enqueue(typed('b', 'second', 2));
    await h.chat.drain();
    expect(heard).toEqual(['first']);
    expect(h.server.messages.map((m) => m.content)).toEqual(['first', 'second']);
  });

  it('ignores a repeated command for the same message, before and after it was sent', async () => {
    const h = await harness();
    await h.chat.enqueue(typed('a'));
    await h.chat.enqueue(typed('a'));
    expect(await listOutbox(h.db)).toHaveLength(1);
    await h.chat.drain();
    await h.chat.enqueue(typed('a'));
    expect(await listOutbox(h.db)).toEqual([]);
    expect(h.server.posts).toBe(1);
  });

  it('keeps a message through failures, retrying with growing delays, and sends it once', async () => {
    const h = await harness();
    h.server.faults = [503, 'throw'];
    await h.chat.enqueue(typed('a', 'hello'));
    const firstRetry = await h.chat.drain(); // session made, POST answered 503
    const [waiting] = await listOutbox(h.db);
    expect(waiting).toMatchObject({ state: 'retrying', attempts: 1, nextAttemptAt: firstRetry });
    expect(waiting!.error).toMatch(/answered with an error/);
    h.clock.now = firstRetry!;
    const secondRetry = await h.chat.drain(); // the network fails
    expect(secondRetry! - h.clock.now).toBeGreaterThan(firstRetry! - 100_000);
    h.clock.now = secondRetry!;
    expect(await h.chat.drain()).toBeUndefined();
    expect(h.server.messages.map((m) => m.content)).toEqual(['hello']);
  });

  it('does not send twice when an earlier attempt reached the server but its answer was lost', async () => {
    const h = await harness();
    h.server.faults = [undefined as unknown as number, 'store-then-throw'];
    await h.chat.enqueue(typed('a', 'only once'));
    const retryAt = await h.chat.drain();
    expect(h.server.messages).toHaveLength(1);
    h.clock.now = retryAt!;
    await h.chat.drain();
    expect(h.server.posts).toBe(1);
    expect(h.server.messages.map((m) => m.content)).toEqual(['only once']);
    expect(await listOutbox(h.db)).toEqual([]);
    expect((await listChat(h.db, AGENT)).map((m) => m.text)).toEqual(['only once']);
  });

  it('replaces a session the server forgot (404) quietly and sends the message there', async () => {
    const h = await harness();
    await h.chat.openSession(AGENT, 'user');
    h.server.sessions.clear(); // the server restarted
    await h.chat.enqueue(typed('a', 'after restart'));
    expect(await h.chat.drain()).toBeUndefined();
    expect(h.server.messages.map((m) => [m.content, m.channelId])).toEqual([['after restart', 'c2']]);
    expect((await getMeta(h.db, 'chatSession'))?.sessionId).toBe('s2');
  });

  it('makes one new session when the poll and the outbox find the old one gone at the same time', async () => {
    const h = await harness();
    await h.chat.openSession(AGENT, 'user');
    h.server.sessions.clear(); // the server restarted
    await h.chat.enqueue(typed('a', 'after restart'));
    await Promise.all([h.chat.poll(), h.chat.drain()]);
    expect([...h.server.sessions.keys()]).toEqual(['s2']);
    expect((await getMeta(h.db, 'chatSession'))?.sessionId).toBe('s2');
    expect(h.server.messages.map((m) => [m.content, m.channelId])).toEqual([['after restart', 'c2']]);
  });

  it('keeps a message the server refuses for good, lets later ones pass, and discards it on request', async () => {
    const h = await harness();
    h.minInterval.ms = 0;
    await h.chat.openSession(AGENT, 'user');
    h.server.faults = [400];
    await h.chat.enqueue(typed('a', 'refused', 1));
    await h.chat.enqueue(typed('b', 'fine', 2));
    await h.chat.drain();
    expect(await listOutbox(h.db)).toEqual([
      expect.objectContaining({ clientId: 'a', state: 'rejected', error: expect.stringMatching(/refused this message \(HTTP 400\)/) }),
    ]);
    expect(h.server.messages.map((m) => m.content)).toEqual(['fine']);
    await h.chat.discard('a');
    expect(await listOutbox(h.db)).toEqual([]);
  });
});

describe('the chat poll', () => {
  it('brings new messages into IndexedDB and says whether anything changed', async () => {
    const h = await harness();
    expect(await h.chat.poll()).toBe('unchanged'); // no session, no request
    await h.chat.openSession(AGENT, 'user');
    h.server.messages.push({ id: 'r1', channelId: 'c1', content: 'a reply', createdAt: 5_000, isAgent: true });
    expect(await h.chat.poll()).toBe('changed');
    expect(await h.chat.poll()).toBe('unchanged');
    expect((await listChat(h.db, AGENT)).map((m) => [m.text, m.isAgent])).toEqual([['a reply', true]]);
  });

  it('starts a new session when the server lost the old one, keeping the history', async () => {
    const h = await harness();
    await h.chat.openSession(AGENT, 'user');
    h.server.messages.push({ id: 'r1', channelId: 'c1', content: 'before the restart', createdAt: 5_000, isAgent: true });
    await h.chat.poll();
    h.server.sessions.clear();
    expect(await h.chat.poll()).toBe('unchanged');
    expect((await getMeta(h.db, 'chatSession'))?.sessionId).toBe('s2');
    expect((await listChat(h.db, AGENT)).map((m) => m.text)).toEqual(['before the restart']);
  });

  it('rejects on a server error so the poller backs off', async () => {
    const h = await harness();
    await h.chat.openSession(AGENT, 'user');
    h.server.faults = [502];
    await expect(h.chat.poll()).rejects.toThrow(/HTTP 502/);
  });

  it('takes the answer a sync brought exactly as its own: messages stored, a lost session replaced, a failure thrown', async () => {
    const h = await harness();
    await h.chat.openSession(AGENT, 'user');
    const session = (await h.chat.session())!;
    const reply = { id: 'r9', authorId: 'agent', isAgent: true, content: 'from the sync', createdAt: 6_000 };
    expect(await h.chat.deliver(session, { body: { messages: [reply] } })).toBe('changed');
    expect(await h.chat.deliver(session, { body: { messages: [reply] } })).toBe('unchanged');
    expect((await listChat(h.db, AGENT)).map((m) => m.text)).toEqual(['from the sync']);
    await expect(h.chat.deliver(session, { failed: { status: 502, code: 'UPSTREAM_BAD_ANSWER' } })).rejects.toMatchObject({ code: 'bad-response' });
    await expect(h.chat.deliver(session, { failed: { status: 429, code: 'UPSTREAM_RATE_LIMITED' } })).rejects.toThrow(/HTTP 429/);
    expect(await h.chat.deliver(session, { gone: true })).toBe('unchanged');
    expect((await getMeta(h.db, 'chatSession'))?.sessionId).not.toBe(session.sessionId);
  });
});

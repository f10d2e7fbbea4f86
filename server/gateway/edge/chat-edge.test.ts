import type http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSessionMessages, parseSyncAnswer } from '../../../src/shared/api';
import { manualClock } from '../../../src/shared/clock';
import type { Gateway, GatewayParts } from '../app';
import { PUSH_PATH } from '../push/push';
import { HORIZON_MS } from './chat-edge';
import { mintPushToken } from '../push/push-token';
import {
  ask,
  FakeSocket,
  gatewayWithFakeSocket,
  jsonAnswer,
  makeDist,
  openEventStream,
  type EventStream,
  type StandIn,
  startStandIn,
  TEST_PERSON_HEADER,
} from '../test-kit';

const AGENT_ID = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';
const ALICE = {
  sessionId: 'b3c2a1d0-0000-4000-8000-00000000000a',
  channelId: 'c0c0c0c0-0000-4000-8000-00000000000a',
  userId: 'aaaaaaaa-0000-4000-8000-00000000000a',
};
const BOB = {
  sessionId: 'b3c2a1d0-0000-4000-8000-00000000000b',
  channelId: 'c0c0c0c0-0000-4000-8000-00000000000b',
  userId: 'bbbbbbbb-0000-4000-8000-00000000000b',
};
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const uuid = (n: number) => `dddddddd-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A row as ElizaOS's sessions GET lists it (createdAt as the Date it serialises). */
interface Row {
  id: string;
  content: string;
  authorId: string;
  isAgent: boolean;
  createdAt: string;
  metadata: Record<string, unknown>;
}

type Session = typeof ALICE;

/**
 * A stand-in ElizaOS with a chat per session: makes sessions, stores REST messages (its
 * 201 as ElizaOS's), lists them as its sessions GET does, and counts those GETs.
 */
function chatStandIn(upstream: StandIn, sessions: Session[]) {
  const rows = new Map<string, Row[]>(sessions.map((session) => [session.sessionId, []]));
  let nextRow = 1;
  const listOf = (sessionId: string, limit: number) => {
    const listed = [...rows.get(sessionId)!].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).slice(0, limit);
    return {
      messages: listed,
      hasMore: listed.length === limit,
      ...(listed.length > 0 ? { cursors: { before: Date.parse(listed.at(-1)!.createdAt), after: Date.parse(listed[0]!.createdAt) } } : {}),
    };
  };
  /** How a REST message is answered from now on: stored (201), or the request dropped. */
  const state = { posts: 'store' as 'store' | 'drop' };
  upstream.answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const session = sessions.find((one) => url.pathname.includes(one.sessionId));
    if (url.pathname === '/api/agents') return jsonAnswer(200, { success: true, data: { agents: [] } })(req, res);
    if (req.method === 'POST' && url.pathname === '/api/messaging/sessions') {
      const asked = sessions.find((one) => upstream.seen.at(-1)!.body.includes(one.userId))!;
      return jsonAnswer(201, { ...asked, agentId: AGENT_ID, createdAt: '2026-11-30T00:00:00.000Z', metadata: {} })(req, res);
    }
    if (!session) return jsonAnswer(404, { success: false, error: { code: 'SESSION_NOT_FOUND' } })(req, res);
    if (req.method === 'GET') return jsonAnswer(200, listOf(session.sessionId, Number(url.searchParams.get('limit'))))(req, res);
    if (state.posts === 'drop') {
      res.destroy();
      return;
    }
    const body = JSON.parse(upstream.seen.at(-1)!.body) as { content: string; metadata?: Record<string, unknown> };
    const id = uuid(nextRow++);
    const createdAt = 1_700_000_800_000 + nextRow;
    // The row's metadata: the channel's, the session id, the body's (ElizaOS's mergedMetadata).
    const metadata = { agentId: AGENT_ID, userId: session.userId, sessionId: session.sessionId, ...body.metadata };
    rows
      .get(session.sessionId)!
      .push({ id, content: body.content, authorId: session.userId, isAgent: false, createdAt: new Date(createdAt).toISOString(), metadata });
    return jsonAnswer(201, {
      success: true,
      userMessage: {
        id,
        channel_id: session.channelId,
        message_server_id: '00000000-0000-0000-0000-000000000000',
        author_id: session.userId,
        content: body.content,
        created_at: createdAt,
        source_type: 'user',
        raw_message: { content: body.content },
        metadata,
      },
      sessionStatus: { expiresAt: '2026-11-30T01:00:00.000Z', renewalCount: 0, wasRenewed: false, isNearExpiration: false },
    })(req, res);
  };
  return {
    state,
    /** Stores a row as ElizaOS would, without telling the gateway (the stand-in's side of a broadcast). */
    store(session: Session, row: Omit<Row, 'createdAt'> & { createdAt: number }) {
      rows.get(session.sessionId)!.push({ ...row, createdAt: new Date(row.createdAt).toISOString() });
    },
    listOf,
    reads: (session: Session) =>
      upstream.apiSeen().filter((seen) => seen.method === 'GET' && seen.url.startsWith(`/api/messaging/sessions/${session.sessionId}/messages`)).length,
  };
}

describe('the chat edge: a chat read answered from what the gateway heard', () => {
  let upstream: StandIn;
  let dist: string;
  let socket: FakeSocket;
  let eliza: ReturnType<typeof chatStandIn>;
  const gateways: Gateway[] = [];
  const streams: EventStream[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    dist = makeDist();
    socket = new FakeSocket();
    eliza = chatStandIn(upstream, [ALICE, BOB]);
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const gateway of gateways.splice(0)) await gateway.close();
    await upstream.close();
  });

  const health = async (gateway: Gateway) => (await ask(gateway.url, '/health')).json().push;
  /** A gateway, with `sessions` made through it (as the worker does) and listened to, so their channels are joined. */
  const open = async (sessions: Session[], env: Record<string, string> = {}, parts: GatewayParts = {}) => {
    const gateway = await gatewayWithFakeSocket(upstream, dist, socket, env, parts);
    gateways.push(gateway);
    for (const session of sessions) {
      const made = await ask(gateway.url, '/api/messaging/sessions', {
        method: 'POST',
        headers: { ...json, [TEST_PERSON_HEADER]: session.userId },
        body: JSON.stringify({ agentId: AGENT_ID, userId: session.userId }),
      });
      expect(made.status).toBe(201);
      const token = mintPushToken(Buffer.alloc(32, 7), session.sessionId, session.channelId);
      streams.push(await openEventStream(gateway.url, `${PUSH_PATH}?session=${session.sessionId}.${session.channelId}.${token}`));
    }
    for (let tries = 0; tries < 100 && (await health(gateway)).channels < sessions.length; tries++) await sleep(5);
    return gateway;
  };
  const read = (gateway: Gateway, session: Session, limit = 50) => ask(gateway.url, `/api/messaging/sessions/${session.sessionId}/messages?limit=${limit}`);
  const post = (gateway: Gateway, session: Session, content: string, clientMessageId: string) =>
    ask(gateway.url, `/api/messaging/sessions/${session.sessionId}/messages`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content, metadata: { clientMessageId } }),
    });
  /** The agent's reply: stored upstream, and broadcast on the channel as ElizaOS does. */
  const reply = (session: Session, id: string, text: string, createdAt: number) => {
    eliza.store(session, { id, content: text, authorId: AGENT_ID, isAgent: true, createdAt, metadata: { thought: 'thinking', actions: ['REPLY'] } });
    broadcast(session, id, text, createdAt);
  };
  const broadcast = (session: Session, id: string, text: string, createdAt: number) =>
    socket.deliver('messageBroadcast', {
      id,
      senderId: AGENT_ID,
      senderName: 'Agent',
      text,
      roomId: session.channelId,
      createdAt,
      source: 'agent_response',
      thought: 'thinking',
      actions: ['REPLY'],
    });
  /** Three messages stored before the gateway's first read. */
  const history = (session: Session) => {
    for (let i = 0; i < 3; i++) {
      eliza.store(session, {
        id: uuid(900 + i),
        content: `earlier ${i}`,
        authorId: i % 2 ? AGENT_ID : session.userId,
        isAgent: i % 2 === 1,
        createdAt: 1_700_000_000_000 + i * 1000,
        metadata: {},
      });
    }
  };
  const chatOf = (session: Session) => ({ ...session, agentId: AGENT_ID });

  it('after one upstream read while joined, answers the next from the snapshot plus what it heard, newest first, once each, as ElizaOS lists it', async () => {
    history(ALICE);
    const gateway = await open([ALICE]);
    expect((await read(gateway, ALICE)).status).toBe(200);
    expect(eliza.reads(ALICE)).toBe(1);

    // A message sent over the socket (its echo), the agent's reply by push, a REST-posted one, and a broadcast heard twice.
    const sent = await post(gateway, ALICE, 'over the socket', '11111111-0000-4000-8000-000000000001');
    expect(sent.status).toBe(201);
    const socketRow = sent.json().userMessage;
    eliza.store(ALICE, {
      id: socketRow.id,
      content: 'over the socket',
      authorId: ALICE.userId,
      isAgent: false,
      createdAt: socketRow.created_at,
      metadata: { clientMessageId: '11111111-0000-4000-8000-000000000001', socket_id: 'x', user_display_name: 'User-aaaaaaaa' },
    });
    reply(ALICE, uuid(500), 'the reply', 1_700_000_600_000);
    broadcast(ALICE, uuid(500), 'the reply', 1_700_000_600_000);
    // Socket sending off for this one: a message with other metadata goes over REST.
    const rest = await ask(gateway.url, `/api/messaging/sessions/${ALICE.sessionId}/messages`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content: 'over REST', metadata: { clientMessageId: '22222222-0000-4000-8000-000000000002', channelType: 'DM' } }),
    });
    expect(rest.status).toBe(201);

    const fromEdge = await read(gateway, ALICE);
    expect(fromEdge.status).toBe(200);
    expect(fromEdge.headers['x-purl-edge']).toBe('chat');
    expect(eliza.reads(ALICE)).toBe(1);
    const body = fromEdge.json();
    const truth = eliza.listOf(ALICE.sessionId, 50);
    expect(body.messages.map((row: Row) => [row.id, row.content])).toEqual([
      [rest.json().userMessage.id, 'over REST'],
      [uuid(500), 'the reply'],
      [socketRow.id, 'over the socket'],
      [uuid(902), 'earlier 2'],
      [uuid(901), 'earlier 1'],
      [uuid(900), 'earlier 0'],
    ]);
    expect({ ...body, messages: undefined }).toEqual({ ...truth, messages: undefined });
    expect(body.messages.map((row: Row) => [row.id, row.authorId, row.isAgent, row.createdAt])).toEqual(
      truth.messages.map((row) => [row.id, row.authorId, row.isAgent, row.createdAt]),
    );
    // The worker reads the same chat from either.
    expect(parseSessionMessages(body, chatOf(ALICE))).toEqual(parseSessionMessages(truth as never, chatOf(ALICE)));

    // The sync route's chat part too, in front of a stock server (GATEWAY_CACHE_TTL on by default).
    const synced = await ask(gateway.url, `/api/purl/sync?session=${ALICE.sessionId}&limit=4`);
    expect(synced.status).toBe(200);
    expect(eliza.reads(ALICE)).toBe(1);
    expect(synced.headers['x-purl-edge']).toBe('sync');
    const chat = parseSyncAnswer(synced.json(), undefined).chat as { body: never };
    expect(parseSessionMessages(chat.body, chatOf(ALICE))).toEqual(parseSessionMessages(eliza.listOf(ALICE.sessionId, 4) as never, chatOf(ALICE)));
    expect(chat.body).toMatchObject({ hasMore: true });
    expect(await health(gateway)).toMatchObject({ chatReadsFromEdge: 2, chatReadsUpstream: 1 });
  });

  it('reads upstream after the socket dropped and joined again, and answers from that new snapshot', async () => {
    history(ALICE);
    const gateway = await open([ALICE]);
    await read(gateway, ALICE);
    await read(gateway, ALICE);
    expect(eliza.reads(ALICE)).toBe(1);
    socket.deliver('disconnect', 'transport close');
    // Said while the gateway was away: only ElizaOS knows.
    eliza.store(ALICE, { id: uuid(700), content: 'unheard', authorId: AGENT_ID, isAgent: true, createdAt: 1_700_000_700_000, metadata: {} });
    expect((await read(gateway, ALICE)).json().messages[0].id).toBe(uuid(700));
    expect(eliza.reads(ALICE)).toBe(2);
    socket.deliver('connect');
    for (let tries = 0; tries < 100 && (await health(gateway)).channels < 1; tries++) await sleep(5);
    // Joined again: the first read goes upstream (it is the new snapshot), the next does not.
    expect((await read(gateway, ALICE)).json().messages[0].id).toBe(uuid(700));
    expect(eliza.reads(ALICE)).toBe(3);
    const again = await read(gateway, ALICE);
    expect(again.json().messages.map((row: Row) => row.id)).toEqual(eliza.listOf(ALICE.sessionId, 50).messages.map((row) => row.id));
    expect(eliza.reads(ALICE)).toBe(3);
  });

  it('reads upstream once the snapshot is past the horizon, after a REST message whose answer it did not see, and after ElizaOS deleted a message', async () => {
    history(ALICE);
    const clock = manualClock(Date.now());
    const gateway = await open([ALICE], {}, { clock });
    await read(gateway, ALICE);
    clock.advance(HORIZON_MS - 1);
    await read(gateway, ALICE);
    expect(eliza.reads(ALICE)).toBe(1);
    clock.advance(1);
    await read(gateway, ALICE);
    expect(eliza.reads(ALICE)).toBe(2);

    // ElizaOS may have stored a message whose answer never came: only a read can tell.
    eliza.state.posts = 'drop';
    const dropped = await ask(gateway.url, `/api/messaging/sessions/${ALICE.sessionId}/messages`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content: 'lost', metadata: { clientMessageId: '33333333-0000-4000-8000-000000000003', channelType: 'DM' } }),
    });
    expect(dropped.status).toBe(502);
    await read(gateway, ALICE);
    expect(eliza.reads(ALICE)).toBe(3);
    await read(gateway, ALICE);
    expect(eliza.reads(ALICE)).toBe(3);

    socket.deliver('messageDeleted', { messageId: uuid(901), channelId: ALICE.channelId });
    await read(gateway, ALICE);
    expect(eliza.reads(ALICE)).toBe(4);
  });

  it('reads upstream when the log cannot cover the limit asked, and answers a whole short chat with hasMore false', async () => {
    history(ALICE);
    for (let i = 3; i < 6; i++)
      eliza.store(ALICE, {
        id: uuid(900 + i),
        content: `earlier ${i}`,
        authorId: ALICE.userId,
        isAgent: false,
        createdAt: 1_700_000_000_000 + i * 1000,
        metadata: {},
      });
    const gateway = await open([ALICE]);
    // Three of six: the log holds three, and ElizaOS said there are more.
    expect((await read(gateway, ALICE, 3)).json().hasMore).toBe(true);
    expect((await read(gateway, ALICE, 3)).json().messages.map((row: Row) => row.id)).toEqual([uuid(905), uuid(904), uuid(903)]);
    expect(eliza.reads(ALICE)).toBe(1);
    await read(gateway, ALICE, 4);
    expect(eliza.reads(ALICE)).toBe(2);
    expect((await read(gateway, ALICE, 10)).json().hasMore).toBe(false);
    expect(eliza.reads(ALICE)).toBe(3);
    // That read listed all six (hasMore false): any limit is covered now.
    const whole = await read(gateway, ALICE, 100);
    expect(eliza.reads(ALICE)).toBe(3);
    expect(whole.json()).toEqual(eliza.listOf(ALICE.sessionId, 100));
    expect(whole.json().hasMore).toBe(false);
  });

  it("never answers one session's read with another channel's messages, nor a session it does not know", async () => {
    history(ALICE);
    const gateway = await open([ALICE, BOB]);
    await read(gateway, ALICE);
    await read(gateway, BOB);
    reply(ALICE, uuid(501), 'for alice', 1_700_000_600_000);
    const bobs = await read(gateway, BOB);
    expect(bobs.json()).toEqual({ messages: [], hasMore: false });
    expect(eliza.reads(BOB)).toBe(1);
    expect((await read(gateway, ALICE)).json().messages[0].id).toBe(uuid(501));
    expect(eliza.reads(ALICE)).toBe(1);
    // A session the gateway neither made nor learnt: ElizaOS answers (here: it does not know it either).
    const stranger = await ask(gateway.url, '/api/messaging/sessions/b3c2a1d0-0000-4000-8000-0000000000ff/messages?limit=50');
    expect(stranger.status).toBe(404);
    expect(await health(gateway)).toMatchObject({ chatReadsFromEdge: 2, chatReadsUpstream: 3 });
  });

  it('with PURL_CHAT_EDGE=off reads every chat upstream', async () => {
    history(ALICE);
    const gateway = await open([ALICE], { PURL_CHAT_EDGE: 'off' });
    for (let i = 0; i < 3; i++) expect((await read(gateway, ALICE)).status).toBe(200);
    expect(eliza.reads(ALICE)).toBe(3);
    expect(await health(gateway)).toMatchObject({ chatReadsFromEdge: 0, chatReadsUpstream: 3 });
  });
});

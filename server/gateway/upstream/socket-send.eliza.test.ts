/**
 * Messages over the upstream socket against the real ElizaOS 1.7.2: the embedded server,
 * and a stock one (no Purl middleware, as most people run it), one start each. A session
 * made through the gateway, a message posted through the gateway: it goes over the socket
 * (no HTTP POST reaches ElizaOS, counted by a relay that reads the requests passing it),
 * the sessions GET lists it once as the user's, and the agent's reply comes by push. A
 * second gateway with PURL_SOCKET_SEND=off sends the same over REST, for the comparison.
 * Either way, the chat read after the talk is answered from what the gateway heard (the
 * chat edge): no sessions GET reaches ElizaOS, and it lists what ElizaOS's own lists.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedEliza, startEmbeddedEliza } from '../../eliza-process';
import { type Gateway, startGateway } from '../app';
import { readGatewayOptions } from '../options';
import { PUSH_PATH } from '../push/push';
import { ask, type EventStream, makeDist, openEventStream, type Reply, TEST_PEOPLE, TEST_PUSH_KEY, USER_ID } from '../test-kit';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SEND = /POST \/api\/messaging\/sessions\/[0-9a-f-]{36}\/messages /g;
const CHAT_READ = /GET \/api\/messaging\/sessions\/[0-9a-f-]{36}\/messages\?/g;

/** Relays TCP to `target`, counting the message POSTs and chat reads in what passes upstream (plain HTTP/1.1). */
async function startCountingRelay(target: URL): Promise<{ url: string; posts(): number; chatReads(): number; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  let posts = 0;
  let chatReads = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    // As ws does on its own sockets: without it, Nagle holds the ack (a small frame after the echo) for a delayed TCP ACK, ~40 ms.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      posts += text.match(SEND)?.length ?? 0;
      chatReads += text.match(CHAT_READ)?.length ?? 0;
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    posts: () => posts,
    chatReads: () => chatReads,
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** What ElizaOS's budget says is left, as the gateway restates it (the member "eliza"). */
const elizaRemaining = (reply: Reply): number | undefined => {
  const match = /"eliza"; r=(\d+)/.exec(String(reply.headers['ratelimit'] ?? ''));
  return match ? Number(match[1]) : undefined;
};

describe.each([
  { mode: 'embedded', stock: false },
  { mode: 'stock', stock: true },
])('messages over the socket against the $mode ElizaOS', ({ mode, stock }) => {
  let eliza: EmbeddedEliza;
  let relay: Awaited<ReturnType<typeof startCountingRelay>>;
  let viaSocket: Gateway;
  let viaRest: Gateway;
  let dataDir: string;
  let dist: string;
  const streams: EventStream[] = [];
  // Each gateway's user leaves from an address of its own: in front of the embedded server that is a budget of its own.
  const from = { socket: '127.0.0.2', rest: '127.0.0.3' };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `purl-send-${mode}-`));
    dist = makeDist();
    eliza = await startEmbeddedEliza({ root, dataDir, stock });
    relay = await startCountingRelay(eliza.url);
    const env = { ELIZA_SERVER_URL: relay.url, PORT: '0', PURL_DIST_DIR: dist, ...(stock ? {} : { PURL_GATEWAY_SECRET: eliza.gatewaySecret }) };
    viaSocket = await startGateway(readGatewayOptions(env, undefined, { pushKey: TEST_PUSH_KEY }).options, { people: TEST_PEOPLE });
    viaRest = await startGateway(readGatewayOptions({ ...env, PURL_SOCKET_SEND: 'off' }, undefined, { pushKey: TEST_PUSH_KEY }).options, {
      people: TEST_PEOPLE,
    });
  }, 120_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await viaSocket?.close();
    await viaRest?.close();
    await relay?.close();
    await eliza?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(dist, { recursive: true, force: true });
  }, 30_000);

  const json = { 'Content-Type': 'application/json' };

  /** A session made through `gateway` and listened to (the upstream socket up, its channel joined), as the browser does. */
  async function listenedSession(gateway: Gateway, address: string) {
    const created = await ask(gateway.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: json,
      from: address,
      // The gateway makes it for the person asking, whatever userId the body names.
      body: JSON.stringify({ agentId: eliza.agentId, userId: randomUUID() }),
    });
    expect(created.status).toBe(201);
    const { sessionId, channelId, pushToken, userId } = created.json() as { sessionId: string; channelId: string; pushToken: string; userId: string };
    expect(userId).toBe(USER_ID);
    const stream = await openEventStream(gateway.url, `${PUSH_PATH}?session=${sessionId}.${channelId}.${pushToken}`, { from: address });
    streams.push(stream);
    await stream.next((event) => event.event === 'hello');
    for (let tries = 0; tries < 500 && (await ask(gateway.url, '/health')).json().push.channels < 1; tries++) await sleep(20);
    return { userId, sessionId, channelId, stream };
  }

  /**
   * Posts `count` messages through `gateway`, each answered by the agent before the next;
   * returns the 201 latencies, the reply latencies (start of the POST → the reply's push
   * event), what ElizaOS's budget lost across them (a sessions GET through the gateway
   * before, one asked of ElizaOS directly as this user after), and the chat read through
   * the gateway after the talk (the plain route and the sync route's chat part) with the
   * chat reads that reached ElizaOS for them.
   */
  async function talk(gateway: Gateway, address: string, count: number) {
    const session = await listenedSession(gateway, address);
    const path = `/api/messaging/sessions/${session.sessionId}/messages?limit=50`;
    const before = elizaRemaining(await ask(gateway.url, path, { from: address }));
    const acks: number[] = [];
    const replies: number[] = [];
    const sent: { id: string; clientMessageId: string; text: string }[] = [];
    for (let i = 0; i < count; i++) {
      const text = `over the wire ${i} ${randomUUID().slice(0, 8)}`;
      const clientMessageId = randomUUID();
      const mark = session.stream.events.length;
      const at = Date.now();
      const posted = await ask(gateway.url, `/api/messaging/sessions/${session.sessionId}/messages`, {
        method: 'POST',
        headers: json,
        from: address,
        body: JSON.stringify({ content: text, metadata: { clientMessageId } }),
      });
      acks.push(Date.now() - at);
      expect(posted.status).toBe(201);
      const { userMessage } = posted.json();
      expect(userMessage).toMatchObject({ author_id: session.userId, content: text, metadata: { clientMessageId } });
      sent.push({ id: userMessage.id, clientMessageId, text });
      const reply = await session.stream.next(
        (event) => event.event === 'message' && event.json().message.isAgent && event.json().message.content.includes(text),
        10_000,
        mark,
      );
      replies.push(reply.at - at);
    }
    // The agent's own calls to its server go straight to it (not through the relay), and are done by now.
    const readsBefore = relay.chatReads();
    const viaGateway = await ask(gateway.url, path, { from: address });
    // ElizaOS's own answer, asked as this user would be (in front of the embedded server: the gateway's proof and the user's address).
    const direct = await ask(eliza.url.href, path, {
      headers: stock ? {} : { 'x-purl-gateway': eliza.gatewaySecret, 'x-forwarded-for': address },
    });
    expect(direct.status).toBe(200);
    // ElizaOS states its budget in draft-6 headers (the gateway restates it as the member "eliza").
    const after = direct.headers['ratelimit-remaining'] === undefined ? undefined : Number(direct.headers['ratelimit-remaining']);
    // The sync route's chat part (its agent list is read upstream in front of the embedded server: after the budget's figure).
    const viaSync = await ask(gateway.url, `/api/purl/sync?session=${session.sessionId}&limit=50`, { from: address });
    const chatReadsUpstream = relay.chatReads() - readsBefore;
    return {
      session,
      acks,
      replies,
      sent,
      listed: direct.json().messages as Record<string, unknown>[],
      viaGateway: viaGateway.json() as { messages: Record<string, unknown>[] },
      viaSync: viaSync.json().chat as { messages: Record<string, unknown>[] },
      chatReadsUpstream,
      spent: before !== undefined && after !== undefined ? before - after : undefined,
    };
  }

  /** What the worker reads of each message, in order. */
  const asWorkerReads = (messages: Record<string, unknown>[]) =>
    messages.map((row) => [row['id'], row['content'], row['authorId'], row['isAgent'], (row['metadata'] as Record<string, unknown>)['clientMessageId']]);

  /** The chat after the talk, through the gateway: no read upstream, and what ElizaOS itself lists. */
  function expectChatFromEdge(talked: Awaited<ReturnType<typeof talk>>, count: number) {
    expect(talked.chatReadsUpstream).toBe(0);
    // The user's messages and the agent's replies, newest first, the messages listed before the talk included.
    expect(talked.listed.length).toBeGreaterThanOrEqual(2 * count);
    expect(asWorkerReads(talked.viaGateway.messages)).toEqual(asWorkerReads(talked.listed));
    expect(asWorkerReads(talked.viaSync.messages)).toEqual(asWorkerReads(talked.listed));
    expect(talked.viaGateway.messages.map((row) => row['createdAt'])).toEqual(talked.listed.map((row) => row['createdAt']));
  }

  it('sends over the socket: no HTTP POST upstream, listed once as the user’s with its clientMessageId, answered by the agent by push', async () => {
    const postsBefore = relay.posts();
    const talked = await talk(viaSocket, from.socket, 5);
    const { session, acks, replies, sent, listed, spent } = talked;
    expect(relay.posts() - postsBefore).toBe(0);
    expectChatFromEdge(talked, 5);
    const health = (await ask(viaSocket.url, '/health')).json().push;
    expect(health).toMatchObject({ sentOverSocket: 5, sentOverRest: 0, ackTimeouts: 0, socketFailures: 0, chatReadsFromEdge: 2, chatReadsUpstream: 1 });
    for (const message of sent) {
      const rows = listed.filter((row) => row['id'] === message.id);
      expect(rows).toEqual([
        expect.objectContaining({
          content: message.text,
          authorId: session.userId,
          isAgent: false,
          metadata: expect.objectContaining({ clientMessageId: message.clientMessageId }),
        }),
      ]);
      expect(listed.filter((row) => (row['metadata'] as Record<string, unknown>)['clientMessageId'] === message.clientMessageId)).toHaveLength(1);
    }
    // The user's own message is pushed too (ElizaOS echoes it to its sender), as the sessions GET lists it.
    const echo = session.stream.events.find((event) => event.event === 'message' && event.json().message.id === sent[0]!.id);
    expect(echo?.json().message).toMatchObject({ authorId: session.userId, isAgent: false, metadata: { clientMessageId: sent[0]!.clientMessageId } });
    console.log(
      `${mode}, over the socket: 201 after ${acks.join(', ')} ms; reply pushed after ${replies.join(', ')} ms; ElizaOS budget spent across 5 messages and 2 GETs: ${spent}; the chat read after the talk (plain route and sync): ${talked.chatReadsUpstream} reads upstream`,
    );
    // In front of the embedded server this user has a budget of their own: only the second GET spent from it.
    if (!stock) expect(spent).toBe(1);
    for (const latency of replies) expect(latency).toBeLessThan(2_000);
  }, 90_000);

  it('with PURL_SOCKET_SEND=off sends over REST, one HTTP POST upstream a message, as before', async () => {
    const postsBefore = relay.posts();
    const talked = await talk(viaRest, from.rest, 5);
    const { acks, replies, spent } = talked;
    expect(relay.posts() - postsBefore).toBe(5);
    expectChatFromEdge(talked, 5);
    expect((await ask(viaRest.url, '/health')).json().push).toMatchObject({ sentOverSocket: 0, sentOverRest: 5, chatReadsFromEdge: 2, chatReadsUpstream: 1 });
    console.log(
      `${mode}, over REST: 201 after ${acks.join(', ')} ms; reply pushed after ${replies.join(', ')} ms; ElizaOS budget spent across 5 messages and 2 GETs: ${spent}; the chat read after the talk (plain route and sync): ${talked.chatReadsUpstream} reads upstream`,
    );
    if (!stock) expect(spent).toBe(6);
  }, 90_000);
});

/**
 * Research probe: what does a real ElizaOS 1.7.2 do with messages sent over its
 * Socket.IO connection on the channel of a session made through its REST sessions API?
 *
 *   node --import tsx scripts/probe-eliza-socket.ts           # Purl's embedded ElizaOS
 *   node --import tsx scripts/probe-eliza-socket.ts --stock   # without Purl's client-ip middleware
 *
 * It starts the embedded ElizaOS (server/eliza, the local deterministic model, a temporary
 * data dir, 127.0.0.1 only), talks to it directly (no gateway), runs one step per
 * question of docs/eliza-socket.md, prints what it measured, and stops what it started.
 * Times are ms from the emit (or the POST) to the event arriving at this process.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { GATEWAY_SECRET_HEADER } from '../server/eliza/client-ip';
import { startEmbeddedEliza, type EmbeddedEliza } from '../server/eliza-process';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MESSAGE_SERVER_ID = '00000000-0000-0000-0000-000000000000';
/** The address this probe's REST calls are rate-limited under (Purl mode only): a documentation address. */
const PROBE_CLIENT_IP = '198.51.100.7';
const REPLY_TIMEOUT_MS = 20_000;
const stock = process.argv.includes('--stock');

// ---------------------------------------------------------------------------------------
// REST

interface Session {
  sessionId: string;
  channelId: string;
  userId: string;
}

interface SessionMessage {
  id: string;
  content: string;
  authorId: string;
  isAgent: boolean;
  createdAt: string;
  metadata: Record<string, unknown>;
}

interface Memory {
  id: string;
  entityId: string;
  roomId: string;
  createdAt: number;
  content: { text?: string; source?: string; inReplyTo?: string };
  metadata?: Record<string, unknown>;
}

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

let eliza: EmbeddedEliza;

/**
 * A REST call to ElizaOS. In Purl mode it proves to come from the gateway and names a
 * client address of its own, so its RateLimit-Remaining is a bucket nobody else spends
 * (the agent's own calls go to internal keys). With --stock every loopback caller, the
 * agent included, shares one bucket.
 */
async function api(pathname: string, init: { method?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (!stock) {
    headers[GATEWAY_SECRET_HEADER] = eliza.gatewaySecret;
    headers['x-forwarded-for'] = PROBE_CLIENT_IP;
  }
  const response = await fetch(new URL(pathname, eliza.url), {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: response.status, headers: response.headers, body };
}

async function createSession(userId: string): Promise<Session> {
  const reply = await api('/api/messaging/sessions', { method: 'POST', body: { agentId: eliza.agentId, userId } });
  if (reply.status !== 201) throw new Error(`POST /api/messaging/sessions answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const body = reply.body as { sessionId: string; channelId: string };
  return { sessionId: body.sessionId, channelId: body.channelId, userId };
}

async function postToSession(session: Session, content: string, clientMessageId: string): Promise<Reply> {
  return api(`/api/messaging/sessions/${session.sessionId}/messages`, { method: 'POST', body: { content, metadata: { clientMessageId } } });
}

async function listSession(session: Session): Promise<SessionMessage[]> {
  const reply = await api(`/api/messaging/sessions/${session.sessionId}/messages?limit=50`);
  return (reply.body as { messages: SessionMessage[] }).messages;
}

async function agentMemories(): Promise<Memory[]> {
  const reply = await api(`/api/agents/${eliza.agentId}/memories?tableName=messages&includeEmbedding=false`);
  return (reply.body as { data: { memories: Memory[] } }).data.memories;
}

function remaining(reply: Reply): number {
  return Number(reply.headers.get('ratelimit-remaining'));
}

// ---------------------------------------------------------------------------------------
// Socket.IO

interface Seen {
  event: string;
  /** performance.now() when it arrived. */
  at: number;
  data: Record<string, unknown>;
}

/** One socket.io-client connection that records every event it receives. */
class Client {
  readonly seen: Seen[] = [];
  readonly socket: Socket;

  constructor(
    readonly name: string,
    readonly entityId: string,
  ) {
    this.socket = io(eliza.url.origin, { auth: { entityId }, transports: ['websocket'], reconnection: false });
    this.socket.onAny((event: string, data: unknown) => {
      this.seen.push({ event, at: performance.now(), data: (data ?? {}) as Record<string, unknown> });
    });
  }

  async connected(): Promise<void> {
    if (this.socket.connected) return;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', (error) => reject(error));
    });
  }

  async join(channelId: string): Promise<void> {
    this.socket.emit('1', { channelId, agentId: eliza.agentId, entityId: this.entityId, messageServerId: MESSAGE_SERVER_ID });
    const joined = await this.waitFor((seen) => seen.event === 'channel_joined' && seen.data['channelId'] === channelId, 5_000);
    if (!joined) throw new Error(`${this.name} could not join ${channelId}: ${JSON.stringify(this.errors())}`);
  }

  /**
   * Emits SEND_MESSAGE with the payload of the brief; returns performance.now() at the emit.
   * `messageId`, if given, is also sent at the top level: ElizaOS keeps it as the row's
   * source id and echoes it to the sender as `clientMessageId`.
   */
  send(channelId: string, senderId: string, message: string, clientMessageId: string, messageId?: string, source = 'purl'): number {
    const at = performance.now();
    this.socket.emit('2', {
      channelId,
      messageServerId: MESSAGE_SERVER_ID,
      senderId,
      senderName: 'User',
      message,
      source,
      metadata: { clientMessageId },
      attachments: [],
      ...(messageId === undefined ? {} : { messageId }),
    });
    return at;
  }

  /** The first event so far, or within `timeoutMs`, that matches. */
  async waitFor(match: (seen: Seen) => boolean, timeoutMs = REPLY_TIMEOUT_MS): Promise<Seen | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.seen.find(match);
      if (found || performance.now() > deadline) return found;
      await sleep(10);
    }
  }

  broadcasts(match: (data: Record<string, unknown>) => boolean): Seen[] {
    return this.seen.filter((seen) => seen.event === 'messageBroadcast' && match(seen.data));
  }

  errors(): unknown[] {
    return this.seen.filter((seen) => seen.event === 'messageError').map((seen) => seen.data);
  }

  close(): void {
    this.socket.disconnect();
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A text the local model quotes back verbatim, so a reply can be matched to its message. */
function tagged(label: string): string {
  return `${label} ${randomUUID().slice(0, 8)}`;
}

const isAgentBroadcast = (data: Record<string, unknown>): boolean => data['senderId'] === eliza.agentId;
const textIs = (text: string) => (data: Record<string, unknown>) => data['text'] === text;
const replyTo = (text: string) => (data: Record<string, unknown>) => isAgentBroadcast(data) && String(data['text']).includes(text);
const ms = (from: number, seen: Seen | undefined): string => (seen ? `${Math.round(seen.at - from)} ms` : 'never (timeout)');

function say(line: string): void {
  console.log(line);
}

function heading(title: string): void {
  console.log(`\n## ${title}`);
}

/** The stored row and the agent memory of a message, as one line each. */
async function describeStored(session: Session, text: string): Promise<void> {
  const rows = (await listSession(session)).filter((row) => row.content === text);
  say(`  sessions GET rows with this text: ${rows.length}`);
  for (const row of rows) {
    const author = row.authorId === session.userId ? 'the session user' : row.authorId === eliza.agentId ? 'the agent' : row.authorId;
    say(`    authorId=${author} isAgent=${row.isAgent} metadata.clientMessageId=${String(row.metadata['clientMessageId'])}`);
    say(`    metadata keys: ${Object.keys(row.metadata).sort().join(', ')}`);
  }
  const memories = (await agentMemories()).filter((memory) => memory.content.text === text);
  say(`  agent memories with this text: ${memories.length}`);
  for (const memory of memories) {
    const entity = memory.entityId === session.userId ? 'the session user' : memory.entityId;
    say(`    entityId=${entity} content.source=${memory.content.source} metadata.clientMessageId=${String(memory.metadata?.['clientMessageId'])}`);
  }
}

// ---------------------------------------------------------------------------------------
// The questions

async function question1and2(alice: Session, aliceSocket: Client): Promise<void> {
  heading('Q1+Q2: a message sent over the socket by the session user (auth entityId = userId)');
  const text = tagged('Q1 socket message');
  const clientMessageId = randomUUID();
  const sent = aliceSocket.send(alice.channelId, alice.userId, text, clientMessageId);
  const echo = await aliceSocket.waitFor((seen) => seen.event === 'messageBroadcast' && seen.data['text'] === text, 5_000);
  const ack = await aliceSocket.waitFor((seen) => seen.event === 'messageAck' && seen.at >= sent, 5_000);
  const reply = await aliceSocket.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(text)(seen.data));
  say(`  own message echoed as messageBroadcast after ${ms(sent, echo)}; its fields: ${echo ? Object.keys(echo.data).sort().join(', ') : '-'}`);
  say(`  echo.clientMessageId=${String(echo?.data['clientMessageId'])} echo.source=${String(echo?.data['source'])}`);
  say(`  messageAck after ${ms(sent, ack)}: ${JSON.stringify(ack?.data)}`);
  say(`  errors: ${JSON.stringify(aliceSocket.errors())}`);
  await sleep(500);
  say('  the user message:');
  await describeStored(alice, text);
  say(`  Q2 agent reply broadcast after ${ms(sent, reply)}`);
  if (reply) {
    const rows = (await listSession(alice)).filter((row) => row.content === reply.data['text']);
    say(
      `  the reply in the sessions GET: ${rows.length} row(s), isAgent=${rows.map((row) => row.isAgent).join(',')}, authorIsAgent=${rows.every((row) => row.authorId === eliza.agentId)}`,
    );
  }
}

async function question3(alice: Session, aliceSocket: Client): Promise<void> {
  heading('Q3: a message posted through the REST sessions API, seen by a socket in the channel');
  const text = tagged('Q3 REST message');
  const clientMessageId = randomUUID();
  const posted = performance.now();
  const reply = await postToSession(alice, text, clientMessageId);
  const answered = performance.now();
  say(`  POST answered ${reply.status} after ${Math.round(answered - posted)} ms`);
  const agentReply = await aliceSocket.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(text)(seen.data));
  await sleep(1_000);
  const pushedUser = aliceSocket.broadcasts(textIs(text));
  say(`  the REST-posted user message pushed to the socket: ${pushedUser.length === 0 ? 'no' : `yes, after ${ms(posted, pushedUser[0])}`}`);
  say(`  the agent's reply pushed to the socket after ${ms(posted, agentReply)} (from the start of the POST)`);
  say('  the REST-posted message, for comparison with Q1:');
  await describeStored(alice, text);
}

async function question4(alice: Session, bob: Session, aliceSocket: Client): Promise<void> {
  heading('Q4: one socket, several channels; a socket whose entityId is not the session user');
  const gateway = new Client('gateway', randomUUID());
  try {
    await gateway.connected();
    await gateway.join(alice.channelId);
    await gateway.join(bob.channelId);
    say(`  a socket with a fresh entityId (no session user) joined both channels: yes (ENABLE_DATA_ISOLATION unset)`);

    const toAlice = tagged('Q4 REST to alice');
    const toBob = tagged('Q4 REST to bob');
    const posted = performance.now();
    await Promise.all([postToSession(alice, toAlice, randomUUID()), postToSession(bob, toBob, randomUUID())]);
    const aliceReply = await gateway.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(toAlice)(seen.data));
    const bobReply = await gateway.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(toBob)(seen.data));
    say(
      `  the gateway socket got alice's reply after ${ms(posted, aliceReply)} (roomId is alice's channel: ${aliceReply?.data['roomId'] === alice.channelId})`,
    );
    say(`  the gateway socket got bob's reply after ${ms(posted, bobReply)} (roomId is bob's channel: ${bobReply?.data['roomId'] === bob.channelId})`);
    await sleep(500);
    say(`  alice's socket (joined only alice's channel) got bob's reply: ${aliceSocket.broadcasts(replyTo(toBob)).length > 0 ? 'yes' : 'no'}`);

    // The gateway sends on bob's behalf: senderId is bob's userId, the socket's entityId is not.
    const onBehalf = tagged('Q4 gateway socket sends as bob');
    const sent = gateway.send(bob.channelId, bob.userId, onBehalf, randomUUID());
    const reply = await gateway.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(onBehalf)(seen.data));
    say(`  the gateway socket sent as bob (senderId=bob, entityId=gateway): reply after ${ms(sent, reply)}, errors ${JSON.stringify(gateway.errors())}`);
    await sleep(500);
    await describeStored(bob, onBehalf);

    // Another socket in the channel: is a socket-sent user message pushed to it?
    const asAlice = tagged('Q4 gateway socket sends as alice');
    const sentAsAlice = gateway.send(alice.channelId, alice.userId, asAlice, randomUUID());
    const pushed = await aliceSocket.waitFor((seen) => seen.event === 'messageBroadcast' && seen.data['text'] === asAlice, 5_000);
    say(`  a socket-sent user message pushed to the other socket in the channel (alice's): ${pushed ? `yes, after ${ms(sentAsAlice, pushed)}` : 'no'}`);
    await aliceSocket.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(asAlice)(seen.data));

    // `source` becomes the row's sourceType, and the sessions GET computes isAgent from it.
    const forged = tagged('Q4 user message with source agent_response');
    gateway.send(alice.channelId, alice.userId, forged, randomUUID(), undefined, 'agent_response');
    const forgedReply = await gateway.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(forged)(seen.data), 5_000);
    await sleep(500);
    const forgedRows = (await listSession(alice)).filter((row) => row.content === forged);
    say(
      `  a socket message with source "agent_response" is listed with isAgent=${forgedRows.map((row) => row.isAgent).join(',')}; agent replied: ${forgedReply ? 'yes' : 'no'}`,
    );
  } finally {
    gateway.close();
  }
}

async function question5(session: Session, socket: Client): Promise<void> {
  heading('Q5: does the HTTP rate limiter count socket traffic?');
  say(
    `  mode: ${stock ? 'stock (this probe shares the loopback bucket with the agent)' : `Purl (this probe is client ${PROBE_CLIENT_IP}, a bucket of its own)`}`,
  );
  const before = await api('/api/server/ping');
  const texts: string[] = [];
  const started = performance.now();
  for (let i = 0; i < 20; i += 1) {
    const text = tagged(`Q5 socket message ${i + 1}`);
    texts.push(text);
    socket.send(session.channelId, session.userId, text, randomUUID());
    await sleep(50);
  }
  const deadline = performance.now() + 60_000;
  let replies = 0;
  while (performance.now() < deadline) {
    replies = texts.filter((text) => socket.broadcasts(replyTo(text)).length > 0).length;
    if (replies === texts.length) break;
    await sleep(100);
  }
  const repliesAfter = Math.round(performance.now() - started);
  const after = await api('/api/server/ping');
  say(`  RateLimit-Remaining before: ${remaining(before)}, after 20 socket messages and ${replies} replies (${repliesAfter} ms): ${remaining(after)}`);
  say(`  spent: ${remaining(before) - remaining(after)} (the second ping itself costs 1)`);
  say(`  RateLimit-Policy: ${after.headers.get('ratelimit-policy')}`);
}

async function sendTwice(session: Session, socket: Client, withMessageId: boolean): Promise<void> {
  const text = tagged(withMessageId ? 'Q6 sent twice with messageId' : 'Q6 sent twice');
  const clientMessageId = randomUUID();
  const messageId = withMessageId ? clientMessageId : undefined;
  say(withMessageId ? '  with metadata.clientMessageId and the same uuid as top-level messageId:' : '  with metadata.clientMessageId only:');
  const first = socket.send(session.channelId, session.userId, text, clientMessageId, messageId);
  await socket.waitFor((seen) => seen.event === 'messageBroadcast' && replyTo(text)(seen.data));
  socket.send(session.channelId, session.userId, text, clientMessageId, messageId);
  const deadline = performance.now() + REPLY_TIMEOUT_MS;
  while (socket.broadcasts(replyTo(text)).length < 2 && performance.now() < deadline) await sleep(50);
  await sleep(1_000);
  const replies = socket.broadcasts(replyTo(text));
  say(`    agent replies broadcast: ${replies.length} (at ${replies.map((seen) => Math.round(seen.at - first)).join(', ')} ms from the first emit)`);
  const echoes = socket.broadcasts(textIs(text));
  say(`    echoes to the sender: ${echoes.length}, their clientMessageId: ${echoes.map((seen) => String(seen.data['clientMessageId'])).join(', ')}`);
  const rows = (await listSession(session)).filter((row) => row.metadata['clientMessageId'] === clientMessageId);
  say(`    sessions GET rows with this clientMessageId: ${rows.length}, distinct ids: ${new Set(rows.map((row) => row.id)).size}`);
  const memories = (await agentMemories()).filter((memory) => memory.metadata?.['clientMessageId'] === clientMessageId);
  say(`    agent memories with this clientMessageId: ${memories.length}`);
}

async function question6(session: Session, socket: Client): Promise<void> {
  heading('Q6: the same clientMessageId sent twice over the socket');
  await sendTwice(session, socket, false);
  await sendTwice(session, socket, true);
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-socket-probe-'));
  const clients: Client[] = [];
  const startedAt = performance.now();
  eliza = await startEmbeddedEliza({ root, dataDir, stock });
  try {
    say(`# ElizaOS socket probe (${stock ? 'stock ElizaOS' : "Purl's embedded ElizaOS"}, ${eliza.url.origin}, pid ${eliza.pid})`);
    say(`started in ${Math.round(performance.now() - startedAt)} ms; agent ${eliza.agentId}`);
    const alice = await createSession(randomUUID());
    const bob = await createSession(randomUUID());
    const carol = await createSession(randomUUID());
    const dave = await createSession(randomUUID());
    const aliceSocket = new Client('alice', alice.userId);
    const carolSocket = new Client('carol', carol.userId);
    const daveSocket = new Client('dave', dave.userId);
    clients.push(aliceSocket, carolSocket, daveSocket);
    for (const client of clients) await client.connected();
    await aliceSocket.join(alice.channelId);
    await carolSocket.join(carol.channelId);
    await daveSocket.join(dave.channelId);

    await question1and2(alice, aliceSocket);
    await question3(alice, aliceSocket);
    await question4(alice, bob, aliceSocket);
    await question5(dave, daveSocket);
    await question6(carol, carolSocket);
  } finally {
    for (const client of clients) client.close();
    await eliza.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

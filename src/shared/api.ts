/**
 * The parts of the ElizaOS 1.7 REST API that Purl reads, and their validation.
 * The server is input: every response is checked here before anything is stored,
 * and a response of the wrong shape is rejected whole with a PurlError('bad-response').
 */
import { PurlError } from './errors';
import { isRecord } from './ids';

/** An agent as Purl keeps it (no settings, no secrets: only what the UI shows). */
export interface Agent {
  id: string;
  name: string;
  bio: string;
  status: string;
}

/** A message memory of an agent, flattened for storage and display. */
export interface Memory {
  id: string;
  agentId: string;
  roomId: string;
  entityId: string;
  /** Epoch ms. */
  createdAt: number;
  text: string;
  /** True when the agent itself wrote it. */
  isAgent: boolean;
  thought?: string;
  actions?: string[];
  source?: string;
  inReplyTo?: string;
}

type Json = unknown;

function fail(what: string): never {
  throw new PurlError('bad-response', what);
}

function requireString(record: Record<string, Json>, key: string, where: string): string {
  const value = record[key];
  if (typeof value !== 'string' || value.length === 0) fail(`${where}.${key} is not a non-empty string`);
  return value;
}

function optionalString(value: Json): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Unwraps ElizaOS's `{success:true, data:{...}}` envelope. */
function unwrap(body: Json, key: string): Json[] {
  if (!isRecord(body)) fail('the body is not a JSON object');
  if (body['success'] !== true) fail('the body does not say success');
  const data = body['data'];
  if (!isRecord(data)) fail('data is missing');
  const list = data[key];
  if (!Array.isArray(list)) fail(`data.${key} is not a list`);
  return list;
}

function bioText(bio: Json): string {
  if (typeof bio === 'string') return bio;
  if (Array.isArray(bio)) return bio.filter((line) => typeof line === 'string').join(' ');
  return '';
}

/** Validates `GET /api/agents`. */
export function parseAgentList(body: Json): Agent[] {
  return parseAgents(unwrap(body, 'agents'));
}

function parseAgents(list: readonly Json[]): Agent[] {
  return list.map((item, index) => {
    const where = `agents[${index}]`;
    if (!isRecord(item)) fail(`${where} is not an object`);
    const name = optionalString(item['name']) ?? optionalString(item['characterName']);
    if (!name) fail(`${where}.name is not a string`);
    return {
      id: requireString(item, 'id', where),
      name,
      bio: bioText(item['bio']),
      status: optionalString(item['status']) ?? 'unknown',
    };
  });
}

function parseCreatedAt(value: Json, where: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || ms < 0) fail(`${where}.createdAt is not a time`);
  return ms;
}

function parseMemory(item: Json, index: number): Memory {
  const where = `memories[${index}]`;
  if (!isRecord(item)) fail(`${where} is not an object`);
  const content = item['content'];
  if (!isRecord(content)) fail(`${where}.content is not an object`);
  const agentId = requireString(item, 'agentId', where);
  const entityId = requireString(item, 'entityId', where);
  const actions = content['actions'];
  const memory: Memory = {
    id: requireString(item, 'id', where),
    agentId,
    roomId: requireString(item, 'roomId', where),
    entityId,
    createdAt: parseCreatedAt(item['createdAt'], where),
    text: optionalString(content['text']) ?? '',
    isAgent: entityId === agentId,
  };
  const thought = optionalString(content['thought']);
  if (thought) memory.thought = thought;
  if (Array.isArray(actions)) {
    const names = actions.filter((a): a is string => typeof a === 'string');
    if (names.length > 0) memory.actions = names;
  }
  const source = optionalString(content['source']);
  if (source) memory.source = source;
  const inReplyTo = optionalString(content['inReplyTo']);
  if (inReplyTo) memory.inReplyTo = inReplyTo;
  return memory;
}

/**
 * Validates `GET /api/agents/:id/memories`. Memories of other agents are rejected:
 * a response for the wrong agent would otherwise mix two agents' histories.
 */
export function parseMemories(body: Json, agentId: string): Memory[] {
  return parseAgentMemories(unwrap(body, 'memories'), agentId);
}

/** The memories in `list`, all of agent `agentId` (null: of any agent, where only the shape is checked). */
function parseAgentMemories(list: readonly Json[], agentId: string | null): Memory[] {
  return list.map((item, index) => {
    const memory = parseMemory(item, index);
    if (agentId !== null && memory.agentId !== agentId) fail(`memories[${index}] belongs to another agent`);
    return memory;
  });
}

/**
 * One answer of the gateway's sync route (server/gateway/edge/sync.ts): what changed since the
 * cursor the worker sent, or everything (`reset`).
 */
export interface SyncAnswer {
  /** Send it back next time. Opaque; the gateway checks it. */
  cursor: string;
  /** True: replace every stored memory of the agent with `memories` (they are all of them). */
  reset: boolean;
  /** The agent list, when it changed since the cursor (always on a reset); undefined: unchanged. */
  agents?: Agent[];
  /** New and edited memories of the agent asked for; undefined when the agent is not on the server. */
  memories?: Memory[];
  /** Ids of the agent's memories deleted since the cursor. */
  removed: string[];
  /**
   * The open chat's part, when the request named its session and the gateway read it.
   */
  chat?: SyncChatPart;
}

/**
 * The open chat's part of a sync answer: ElizaOS's answer for the session's messages
 * (checked with the session by the chat, {@link parseSessionMessages}), the session gone
 * (the server lost it), or the read's failure (its status, and the gateway's code).
 */
export type SyncChatPart = { gone: true } | { body: unknown } | { failed: { status: number; code: string } };

/** A cursor as the gateway gives them out (what the worker sends back is checked here too). */
export const SYNC_CURSOR = /^[0-9a-f]{12}\.(0|[1-9][0-9]{0,14})$/;

/**
 * Validates `GET /api/purl/sync`; `agentId` is the agent asked for (memories of another
 * are refused; undefined: none was asked for; null: any, where only the shape is checked).
 */
export function parseSyncAnswer(body: Json, agentId: string | undefined | null): SyncAnswer {
  if (!isRecord(body)) fail('the sync answer is not an object');
  const cursor = body['cursor'];
  if (typeof cursor !== 'string' || !SYNC_CURSOR.test(cursor)) fail('the sync cursor is missing or malformed');
  if (typeof body['reset'] !== 'boolean') fail('the sync answer does not say whether it is a reset');
  const answer: SyncAnswer = { cursor, reset: body['reset'], removed: [] };
  const agents = body['agents'];
  if (agents !== null) {
    if (!Array.isArray(agents)) fail('agents is neither a list nor null');
    answer.agents = parseAgents(agents);
  } else if (answer.reset) fail('a reset without the agent list');
  const memories = body['memories'];
  if (memories !== null) {
    if (!Array.isArray(memories)) fail('memories is neither a list nor null');
    if (agentId === undefined && memories.length > 0) fail('memories came for no agent');
    answer.memories = parseAgentMemories(memories, agentId ?? null);
  }
  const removed = body['removed'];
  if (!Array.isArray(removed) || !removed.every((id) => typeof id === 'string' && id.length > 0)) fail('removed is not a list of ids');
  answer.removed = removed as string[];
  const chat = body['chat'];
  if (chat !== undefined) {
    const error = isRecord(chat) ? chat['error'] : undefined;
    if (isRecord(chat) && chat['gone'] === true) answer.chat = { gone: true };
    else if (isRecord(error)) {
      const status = error['status'];
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) fail('chat.error.status is not an HTTP status');
      answer.chat = { failed: { status, code: optionalString(error['code']) ?? '' } };
    } else {
      // Its shape is checked here; its values, with the session they belong to, by the chat.
      parseSessionMessages(chat, SHAPE_ONLY_SESSION);
      answer.chat = { body: chat };
    }
  }
  return answer;
}

/** The request paths the worker uses, in one place. */
export const apiPaths = {
  agents: '/api/agents',
  /** The gateway's sync route; `since` is the cursor of the last answer stored for this agent. */
  sync: (agentId?: string, since?: string, chat?: { sessionId: string; limit: number }) => {
    const query = new URLSearchParams();
    if (agentId !== undefined) query.set('agentId', agentId);
    if (since !== undefined) query.set('since', since);
    if (chat) {
      query.set('session', chat.sessionId);
      query.set('limit', String(chat.limit));
    }
    const text = query.toString();
    return text ? `/api/purl/sync?${text}` : '/api/purl/sync';
  },
  memories: (agentId: string) => `/api/agents/${encodeURIComponent(agentId)}/memories?tableName=messages&includeEmbedding=false`,
  sessions: '/api/messaging/sessions',
  sessionMessages: (sessionId: string) => `/api/messaging/sessions/${encodeURIComponent(sessionId)}/messages`,
  /** The gateway's push stream for a session it made (docs/push.md); `lastEventId` replays what came after it. */
  push: (session: ChatSession & { pushToken: string }, lastEventId?: string) => {
    const query = new URLSearchParams({ session: `${session.sessionId}.${session.channelId}.${session.pushToken}` });
    if (lastEventId !== undefined) query.set('lastEventId', lastEventId);
    return `/api/purl/push?${query.toString()}`;
  },
} as const;

/** A push event's id, `<epoch>.<seq>` as the gateway writes it. */
export const PUSH_EVENT_ID = /^[A-Za-z0-9_-]{1,40}\.\d{1,15}$/;

/** What the gateway says of its own upstream connection (docs/push.md). */
export type PushUpstream = 'up' | 'down' | 'refused';

/** A push event as the worker reads it: the named events of the gateway's stream, checked. */
export type PushEvent =
  | { event: 'hello'; epoch: string; upstream: PushUpstream }
  | { event: 'upstream'; upstream: PushUpstream }
  | { event: 'message'; sessionId: string; message: Json }
  | { event: 'reset'; sessionIds: string[] }
  /** An agent's memories changed; the gateway's sync route stands at `cursor` now. */
  | { event: 'memories'; agentId: string; cursor: string };

const PUSH_UPSTREAM_STATES: ReadonlySet<string> = new Set<PushUpstream>(['up', 'down', 'refused']);

function pushUpstreamOf(value: Json | undefined): PushUpstream {
  if (typeof value !== 'string' || !PUSH_UPSTREAM_STATES.has(value)) fail('the push upstream state is not up, down or refused');
  return value as PushUpstream;
}

/**
 * The boundary check of one push event (`data` is the event's raw text): throws
 * PurlError('bad-response') when it is not what the gateway sends. A `message` event's
 * message is checked with its session by {@link parseSessionMessages}.
 */
export function parsePushEvent(event: string, data: string): PushEvent {
  let body: Json;
  try {
    body = JSON.parse(data) as Json;
  } catch {
    fail(`the push event "${event}" is not JSON`);
  }
  if (!isRecord(body)) fail(`the push event "${event}" is not an object`);
  switch (event) {
    case 'hello':
      return { event, epoch: requireString(body, 'epoch', 'hello'), upstream: pushUpstreamOf(body['upstream']) };
    case 'upstream':
      return { event, upstream: pushUpstreamOf(body['state']) };
    case 'message': {
      const message = body['message'];
      if (!isRecord(message)) fail('the pushed message is not an object');
      return { event, sessionId: requireString(body, 'sessionId', 'message event'), message };
    }
    case 'reset': {
      const ids = body['sessionIds'];
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) fail('reset.sessionIds is not a list of ids');
      return { event, sessionIds: ids as string[] };
    }
    case 'memories': {
      const cursor = body['cursor'];
      if (typeof cursor !== 'string' || !SYNC_CURSOR.test(cursor)) fail('memories.cursor is not a sync cursor');
      return { event, agentId: requireString(body, 'agentId', 'memories'), cursor };
    }
    default:
      fail(`"${event}" is not a push event`);
  }
}

/**
 * Whether a path or URL is a sync that asks for the chat's messages: the user's own read
 * (src/shared/budget.ts), always read afresh (it is the chat poll).
 */
export function asksForChat(pathOrUrl: string): boolean {
  const { pathname, searchParams } = new URL(pathOrUrl, 'http://purl.invalid');
  return pathname === '/api/purl/sync' && searchParams.has('session');
}

/** How many of a session's latest messages each chat poll asks for. */
export const CHAT_POLL_LIMIT = 50;

/** A chat session with the agent (sessions live only in the server's memory). */
export interface ChatSession {
  sessionId: string;
  channelId: string;
  agentId: string;
  userId: string;
  /** The gateway's token for subscribing to this session's pushed messages (docs/push.md); absent without push. */
  pushToken?: string;
}

/** What a push token looks like: an HMAC-SHA256 in base64url (docs/push.md). */
const PUSH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** A chat message as Purl keeps it. */
export interface ChatMessage {
  /** The server's id. */
  id: string;
  agentId: string;
  channelId: string;
  authorId: string;
  isAgent: boolean;
  text: string;
  /** Epoch ms. */
  createdAt: number;
  /** Set on the user's messages sent from this browser: the outbox's id for it. */
  clientId?: string;
  thought?: string;
}

/** Validates `POST /api/messaging/sessions`. */
export function parseSession(body: Json): ChatSession {
  if (!isRecord(body)) fail('the session is not an object');
  return {
    sessionId: requireString(body, 'sessionId', 'session'),
    channelId: requireString(body, 'channelId', 'session'),
    agentId: requireString(body, 'agentId', 'session'),
    userId: requireString(body, 'userId', 'session'),
    // A token of any other shape is not one this gateway made: the session is used without push.
    ...(typeof body['pushToken'] === 'string' && PUSH_TOKEN.test(body['pushToken']) ? { pushToken: body['pushToken'] } : {}),
  };
}

function clientIdOf(metadata: Json): string | undefined {
  return isRecord(metadata) ? optionalString(metadata['clientMessageId']) : undefined;
}

/** Validates `POST /api/messaging/sessions/:id/messages`: the stored user message. */
export function parsePostedMessage(body: Json, session: ChatSession): ChatMessage {
  if (!isRecord(body)) fail('the answer is not an object');
  const message = body['userMessage'];
  if (!isRecord(message)) fail('userMessage is missing');
  const posted: ChatMessage = {
    id: requireString(message, 'id', 'userMessage'),
    agentId: session.agentId,
    channelId: optionalString(message['channel_id']) ?? session.channelId,
    authorId: optionalString(message['author_id']) ?? session.userId,
    isAgent: false,
    text: typeof message['content'] === 'string' ? message['content'] : '',
    createdAt: parseCreatedAt(message['created_at'], 'userMessage'),
  };
  const clientId = clientIdOf(message['metadata']);
  if (clientId) posted.clientId = clientId;
  return posted;
}

/** Validates `GET /api/messaging/sessions/:id/messages` (newest first on the wire; returned oldest first). */
export function parseSessionMessages(body: Json, session: ChatSession): ChatMessage[] {
  if (!isRecord(body)) fail('the answer is not an object');
  const list = body['messages'];
  if (!Array.isArray(list)) fail('messages is not a list');
  return list
    .map((item, index): ChatMessage => {
      const where = `messages[${index}]`;
      if (!isRecord(item)) fail(`${where} is not an object`);
      const message: ChatMessage = {
        id: requireString(item, 'id', where),
        agentId: session.agentId,
        channelId: session.channelId,
        authorId: requireString(item, 'authorId', where),
        isAgent: item['isAgent'] === true,
        text: typeof item['content'] === 'string' ? item['content'] : '',
        createdAt: parseCreatedAt(item['createdAt'], where),
      };
      const clientId = clientIdOf(item['metadata']);
      if (clientId) message.clientId = clientId;
      const metadata = item['metadata'];
      const thought = isRecord(metadata) ? optionalString(metadata['thought']) : undefined;
      if (thought) message.thought = thought;
      return message;
    })
    .sort((a, b) => a.createdAt - b.createdAt);
}

/** A session standing in for the real one where only an answer's shape is checked (the values are not kept). */
const SHAPE_ONLY_SESSION: ChatSession = { sessionId: 'shape', channelId: 'shape', agentId: 'shape', userId: 'shape' };

/**
 * The answers Purl reads, by method and path, each with the parser that checks it. The
 * parsers return what Purl keeps; here only whether they accept the answer matters.
 */
const ANSWER_SHAPES: readonly { method: string; path: RegExp; check: (body: Json, match: RegExpMatchArray) => unknown }[] = [
  { method: 'GET', path: /^\/api\/agents$/, check: (body) => parseAgentList(body) },
  // The agent asked for is in the query, which is not seen here: the worker checks that part when it stores.
  { method: 'GET', path: /^\/api\/purl\/sync$/, check: (body) => parseSyncAnswer(body, null) },
  { method: 'GET', path: /^\/api\/agents\/([^/]+)\/memories$/, check: (body, match) => parseMemories(body, decodeURIComponent(match[1]!)) },
  { method: 'POST', path: /^\/api\/messaging\/sessions$/, check: (body) => parseSession(body) },
  { method: 'GET', path: /^\/api\/messaging\/sessions\/[^/]+\/messages$/, check: (body) => parseSessionMessages(body, SHAPE_ONLY_SESSION) },
  { method: 'POST', path: /^\/api\/messaging\/sessions\/[^/]+\/messages$/, check: (body) => parsePostedMessage(body, SHAPE_ONLY_SESSION) },
];

/** True when Purl reads answers of `method` on `pathname`, so {@link checkAnswer} has a shape for them. */
export function hasAnswerShape(method: string, pathname: string): boolean {
  return ANSWER_SHAPES.some((shape) => shape.method === method && shape.path.test(pathname));
}

/**
 * The boundary check for a successful answer to `method` on `pathname` (no query):
 * throws PurlError('bad-response') when `body` (parsed JSON) does not have the shape
 * Purl reads there. Paths Purl does not read pass unchecked.
 */
export function checkAnswer(method: string, pathname: string, body: Json): void {
  for (const shape of ANSWER_SHAPES) {
    if (shape.method !== method) continue;
    const match = pathname.match(shape.path);
    if (match) {
      shape.check(body, match);
      return;
    }
  }
}

/** The most a chat message may hold, in characters (the server accepts 2 MB bodies; people do not type novels). */
export const MAX_MESSAGE_LENGTH = 4_000;

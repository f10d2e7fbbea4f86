/**
 * The chat part of a sync answer (server/gateway/edge/sync.ts): a session's latest messages,
 * from what the gateway heard when that is everything (server/gateway/edge/chat-edge.ts),
 * else read from ElizaOS for this browser alone. `chatPartOf` is the pure rule that makes
 * one upstream read into the part; `readChat` is the I/O around it.
 */
import { checkAnswer } from '../../../src/shared/api';
import type { UpstreamBudget } from '../budget/upstream-budget';
import { browserHeaders, DROPPED_ANSWER_HEADERS, isJson } from '../upstream/client';
import { readUpstreamBudget } from '../upstream/rate-limit-headers';
import { parseForBrowser } from '../upstream/strip-secrets';
import type { UpstreamRead } from '../upstream/client';
import type { ChatEdge } from './chat-edge';
import type { PassedAnswer } from './keepable';

/** What ElizaOS answers for a session it no longer has (sessions live in its memory). */
const SESSION_GONE = new Set([404, 410]);

export interface ChatAsk {
  session: string;
  limit: number;
  /** Not the asker's (the door's ownership step): answered as gone, as a session the server lost, and nothing read. */
  notTheirs?: true;
}

const GONE = '{"gone":true}';

/** The chat part as JSON text, and whether the gateway answered it from what it heard (nothing spent upstream). */
export interface ChatPart {
  json: string;
  heard: boolean;
}

/** The server said stop: the whole answer is that 429, as the chat poll would have had it. */
export interface ChatLimited {
  limitedBy: PassedAnswer;
}

/** What one upstream read makes of the chat part, and what the chat edge is told of it (when anything). */
export type ChatRead = { json: string; tell?: { status: number; body?: unknown } } | ChatLimited;

export const chatPathOf = (chat: ChatAsk): string => `/api/messaging/sessions/${chat.session}/messages?limit=${chat.limit}`;

const failure = (status: number, code: string, message: string) => JSON.stringify({ error: { status, code, message } });

/**
 * ElizaOS's answer for the session, checked and cleaned; `{"gone":true}` when the server lost
 * the session; or `{"error":{…}}` when the read failed (down, slow, an error status, an answer
 * refused at the door), which the worker takes as its chat poll's failure while the
 * memories part stands. A 429 (this user's own budget on the embedded server; everyone's in
 * front of a stock one) is the whole answer instead.
 */
export function chatPartOf(read: UpstreamRead, path: string): ChatRead {
  if (read.kind === 'failed') return { json: failure(read.status, read.code, read.message) };
  if (SESSION_GONE.has(read.status)) return { json: GONE, tell: { status: read.status } };
  if (read.status === 429) return { limitedBy: { kind: 'pass', status: 429, headers: browserHeaders(read.headers, DROPPED_ANSWER_HEADERS), body: read.body } };
  if (read.status < 200 || read.status >= 300) return { json: failure(read.status, 'UPSTREAM_ERROR', "The agent's server answered with an error.") };
  try {
    if (!isJson(read)) throw new Error('not JSON');
    const clean = parseForBrowser(read.body, false);
    checkAnswer('GET', path.split('?')[0]!, clean.value);
    return { json: JSON.stringify(clean.value), tell: { status: read.status, body: clean.value } };
  } catch {
    // Refused at the door: no part of it reaches a browser.
    return { json: failure(502, 'UPSTREAM_BAD_ANSWER', "The agent's server sent something Purl couldn't read.") };
  }
}

export interface ChatReadOptions {
  /** One upstream GET for this browser alone; undefined when the budget keeps such reads back now. */
  readOwn(path: string, client: string, signal: AbortSignal): Promise<UpstreamRead> | undefined;
  chatEdge?: Pick<ChatEdge, 'answer' | 'reading'>;
  budget: UpstreamBudget;
  now: () => number;
}

/**
 * The chat part: from what the gateway heard when that is everything (no upstream read,
 * nothing spent), else read upstream. Undefined when the budget keeps such reads back (the
 * chat poll then asks on its own, and is told when it may).
 */
export async function readChat(options: ChatReadOptions, chat: ChatAsk, client: string, signal: AbortSignal): Promise<ChatPart | ChatLimited | undefined> {
  if (chat.notTheirs) return { json: GONE, heard: true };
  const heard = options.chatEdge?.answer(chat.session, chat.limit);
  if (heard !== undefined) return { json: heard, heard: true };
  const path = chatPathOf(chat);
  const reading = options.readOwn(path, client, signal);
  if (!reading) return undefined;
  const noteRead = options.chatEdge?.reading(chat.session);
  const read = await reading;
  if (read.kind === 'answer') {
    const arrivedAt = options.now();
    options.budget.note(readUpstreamBudget(read.headers, arrivedAt), arrivedAt, read.status);
  }
  const part = chatPartOf(read, path);
  if ('limitedBy' in part) return part;
  if (part.tell) noteRead?.(part.tell.status, part.tell.body);
  return { json: part.json, heard: false };
}

/** The answer with its chat part, when it has one: the shared part ends with its closing brace, and the chat goes in just before it. */
export const withChat = (shared: Buffer, chatJson: string | undefined): Buffer =>
  chatJson === undefined ? shared : Buffer.concat([shared.subarray(0, shared.length - 1), Buffer.from(`,"chat":${chatJson}}`)]);

/**
 * The chat edge's state as data (server/gateway/edge/chat-edge.ts): per channel of a known
 * session, a log of the last snapshot the gateway relayed plus every message heard since,
 * and the pure rules over it — adding a message, breaking and proving completeness, taking a
 * read as the new snapshot, the byte bound, and "is it provably everything" for a read.
 * Whether a channel is joined is the socket's word, passed in; time is passed in; no I/O.
 */
import { parseSessionMessages } from '../../../src/shared/api';
import { isRecord, isUuid } from '../../../src/shared/ids';

/** One message as the sessions GET lists it. */
export interface Entry {
  id: string;
  json: string;
  createdAt: number;
  /** When it was heard (the logs' sequence); a snapshot's messages all have the read's start. */
  seq: number;
  /** Its place in the snapshot (ties of createdAt keep ElizaOS's order). */
  place: number;
}

export interface ChannelLog {
  entries: Map<string, Entry>;
  bytes: number;
  /** Bumped by whatever breaks the proof (a join, a lost REST answer, a deletion): a read begun before it is no snapshot. */
  generation: number;
  snapshot?: {
    /** Epoch ms when its read began. */
    at: number;
    /** The sequence when its read began. */
    seq: number;
    /** ElizaOS said there were no more: the log holds the whole channel. */
    whole: boolean;
  };
  /** The highest sequence of an entry dropped to keep the bound: a read begun before it would leave a gap. */
  trimmedSeq: number;
  usedAt: number;
}

export interface ChatLogs {
  /** By channel, least recently used first. */
  readonly logs: Map<string, ChannelLog>;
  /** REST posts under way, by channel: a read meanwhile may miss one stored but not yet answered. */
  readonly posts: Map<string, number>;
  /** The sequence of the last message heard. */
  seq: number;
  /** What the logs hold together, bytes (their messages' JSON). */
  bytes: number;
  /** Messages kept per channel. */
  readonly keep: number;
  readonly maxBytes: number;
}

/** An upstream read of a channel, as it stood when the read began. */
export interface ReadBegun {
  channelId: string;
  log: ChannelLog;
  generation: number;
  seq: number;
  at: number;
}

/** A message as the socket or a REST answer gives it. */
export interface HeardMessage {
  id: string;
  content: string;
  authorId: string;
  isAgent: boolean;
  createdAt: number;
  metadata: unknown;
}

export const newChatLogs = (keep: number, maxBytes: number): ChatLogs => ({ logs: new Map(), posts: new Map(), seq: 0, bytes: 0, keep, maxBytes });

/** Newest first; among equal times, the later heard first, then the snapshot's own order. */
const newestFirst = (a: Entry, b: Entry) => b.createdAt - a.createdAt || b.seq - a.seq || a.place - b.place;

/** A message the sessions GET listed (already checked by src/shared/api.ts's parser), or undefined. */
export function listedEntry(item: unknown, seq: number, place: number): Entry | undefined {
  if (!isRecord(item) || typeof item['id'] !== 'string') return undefined;
  const createdAt = typeof item['createdAt'] === 'number' ? item['createdAt'] : Date.parse(String(item['createdAt']));
  if (!Number.isFinite(createdAt)) return undefined;
  return { id: item['id'], json: JSON.stringify(item), createdAt, seq, place };
}

/** A message as the sessions GET lists it: createdAt as the Date ElizaOS serialises. */
export function entryOf(message: HeardMessage, seq: number): Entry {
  const listed = { ...message, createdAt: new Date(message.createdAt).toISOString() };
  return { id: message.id, json: JSON.stringify(listed), createdAt: message.createdAt, seq, place: 0 };
}

/**
 * ElizaOS's 201 to a REST message (`userMessage`) as the sessions GET lists the row, when
 * it names `channelId`: a user's message (`sourceType: "user"`, so `isAgent: false`), the
 * row's metadata as stored (the channel's, the session id, the body's).
 */
export function listedOfPosted(answer: unknown, channelId: string): HeardMessage | undefined {
  const message = isRecord(answer) ? answer['userMessage'] : undefined;
  if (!isRecord(message)) return undefined;
  const { id, channel_id: channel, author_id: authorId, content, created_at: createdAt, metadata } = message;
  if (typeof id !== 'string' || !isUuid(id) || typeof channel !== 'string' || channel.toLowerCase() !== channelId) return undefined;
  if (typeof authorId !== 'string' || typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  return {
    id,
    content: typeof content === 'string' ? content : JSON.stringify(content),
    authorId,
    isAgent: false,
    createdAt,
    metadata: isRecord(metadata) ? metadata : {},
  };
}

/** What was heard may be incomplete from now on: the log answers nothing until a new read. */
export function breakProof(log: ChannelLog | undefined): void {
  if (!log) return;
  log.generation++;
  delete log.snapshot;
}

export function dropLog(state: ChatLogs, channelId: string): void {
  const log = state.logs.get(channelId);
  if (!log) return;
  state.bytes -= log.bytes;
  state.logs.delete(channelId);
}

/** Keeps `entry` (replacing one of its id), then the newest `keep`; past the bound the oldest go. */
export function addEntry(state: ChatLogs, log: ChannelLog, entry: Entry): void {
  const old = log.entries.get(entry.id);
  const size = entry.json.length - (old?.json.length ?? 0);
  log.entries.set(entry.id, entry);
  log.bytes += size;
  state.bytes += size;
  if (log.entries.size <= state.keep) return;
  const sorted = [...log.entries.values()].sort(newestFirst);
  for (const gone of sorted.slice(state.keep)) {
    log.entries.delete(gone.id);
    log.bytes -= gone.json.length;
    state.bytes -= gone.json.length;
    log.trimmedSeq = Math.max(log.trimmedSeq, gone.seq);
  }
  if (log.snapshot) log.snapshot.whole = false;
}

/** A message heard on `channelId` (the socket's broadcast, or a REST answer): kept when the channel has a log. */
export function hear(state: ChatLogs, channelId: string, message: HeardMessage): boolean {
  const log = state.logs.get(channelId);
  if (!log) return false;
  addEntry(state, log, entryOf(message, ++state.seq));
  return true;
}

/** Drops the least recently used logs (never `keepId`'s) until the logs fit. */
export function evictLogs(state: ChatLogs, keepId: string): void {
  for (const channelId of state.logs.keys()) {
    if (state.bytes <= state.maxBytes) return;
    if (channelId !== keepId) dropLog(state, channelId);
  }
}

/** Marks the log used at `at` (the most recently used). */
export function touchLog(state: ChatLogs, channelId: string, log: ChannelLog, at: number): void {
  log.usedAt = at;
  state.logs.delete(channelId);
  state.logs.set(channelId, log);
}

/** Logs that can no longer answer go: their channel is not joined, or they were not used within the horizon. */
export function sweepLogs(state: ChatLogs, at: number, horizonMs: number, isJoined: (channelId: string) => boolean): void {
  for (const [channelId, log] of state.logs) {
    if (!isJoined(channelId) || at - log.usedAt >= horizonMs) dropLog(state, channelId);
  }
}

/** The newest `limit` messages in ElizaOS's shape, when the log covers them (it holds that many, or the snapshot said there were no more). */
export function pageOf(log: ChannelLog, limit: number): string | undefined {
  const sorted = [...log.entries.values()].sort(newestFirst);
  if (sorted.length < limit && !log.snapshot?.whole) return undefined;
  const listed = sorted.slice(0, limit);
  // As ElizaOS answers: hasMore when the page is full; cursors when there is a message.
  const cursors = listed.length > 0 ? `,"cursors":{"before":${listed[listed.length - 1]!.createdAt},"after":${listed[0]!.createdAt}}` : '';
  return `{"messages":[${listed.map((entry) => entry.json).join(',')}],"hasMore":${listed.length === limit}${cursors}}`;
}

/**
 * The read's answer from the log, when the log is provably everything at `at`: it has a
 * snapshot, the channel is joined (so nothing was missed since), the snapshot is younger
 * than the horizon, no REST post is under way (one may be stored but not yet answered), and
 * it covers `limit`. Undefined: read upstream.
 */
export function answerFromLog(state: ChatLogs, channelId: string, limit: number, at: number, horizonMs: number, isJoined: boolean): string | undefined {
  const log = state.logs.get(channelId);
  if (!log?.snapshot || !isJoined) return undefined;
  if (at - log.snapshot.at >= horizonMs || (state.posts.get(channelId) ?? 0) > 0) return undefined;
  const page = pageOf(log, limit);
  if (page !== undefined) touchLog(state, channelId, log, at);
  return page;
}

/** An upstream read of a joined channel begins at `at`: its log (made if need be) as it stands now. */
export function beginRead(state: ChatLogs, channelId: string, at: number): ReadBegun {
  let log = state.logs.get(channelId);
  if (!log) {
    log = { entries: new Map(), bytes: 0, generation: 0, trimmedSeq: 0, usedAt: at };
    state.logs.set(channelId, log);
  }
  return { channelId, log, generation: log.generation, seq: state.seq, at };
}

/**
 * The read begun as `begun` was answered with `status` and (for a 2xx) its checked body, while
 * the channel is (`isJoined`) or is not joined: a session gone drops the log; a good 200 taken
 * while joined throughout, with nothing lost meanwhile and no later read already taken, is
 * the new snapshot, plus what was heard since the read began (it may be newer than the read).
 * @returns whether it became the snapshot.
 */
export function endRead(state: ChatLogs, begun: ReadBegun, sessionId: string, status: number, body: unknown, isJoined: boolean, at: number): boolean {
  const { channelId } = begun;
  const current = state.logs.get(channelId);
  if (status === 404 || status === 410) {
    dropLog(state, channelId);
    return false;
  }
  if (current !== begun.log || status !== 200 || !isRecord(body) || !Array.isArray(body['messages'])) return false;
  try {
    // Validate before keeping: what the worker would refuse is never answered from here.
    parseSessionMessages(body, { sessionId, channelId, agentId: '', userId: '' });
  } catch {
    return false;
  }
  if (current.generation !== begun.generation || !isJoined || current.trimmedSeq > begun.seq) return false;
  if (current.snapshot && current.snapshot.seq > begun.seq) return false;
  const listed: Entry[] = [];
  for (const [place, item] of body['messages'].entries()) {
    const entry = listedEntry(item, begun.seq, place);
    if (!entry) return false;
    listed.push(entry);
  }
  const heard = [...current.entries.values()].filter((entry) => entry.seq > begun.seq);
  state.bytes -= current.bytes;
  current.entries = new Map();
  current.bytes = 0;
  current.snapshot = { at: begun.at, seq: begun.seq, whole: body['hasMore'] === false };
  for (const entry of [...listed, ...heard]) addEntry(state, current, entry);
  touchLog(state, channelId, current, at);
  evictLogs(state, channelId);
  return true;
}

/** A REST post of a message on `channelId` starts. */
export function postStarted(state: ChatLogs, channelId: string): void {
  state.posts.set(channelId, (state.posts.get(channelId) ?? 0) + 1);
}

/**
 * A REST post on `channelId` ended; `isTaken`: its 201 was heard. If not, the message may be
 * stored without the gateway knowing it: only a new read tells.
 */
export function postEnded(state: ChatLogs, channelId: string, isTaken: boolean): void {
  const left = (state.posts.get(channelId) ?? 1) - 1;
  if (left > 0) state.posts.set(channelId, left);
  else state.posts.delete(channelId);
  if (!isTaken) breakProof(state.logs.get(channelId));
}

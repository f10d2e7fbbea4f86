/**
 * The chat edge (docs/push.md, "The chat from what the gateway heard"): a session's chat
 * read answered from what the gateway heard of its channel, when it provably heard
 * everything, so the chat poll costs ElizaOS's HTTP budget nothing.
 *
 * Per channel of a known session (server/gateway/upstream/session-book.ts) it keeps a log: the
 * last sessions-GET answer the gateway relayed for the session (the snapshot), plus every
 * message heard since — the agent's replies and the echoes of socket sends
 * (`messageBroadcast`, server/gateway/upstream/upstream-socket.ts) and ElizaOS's 201 to each
 * message posted over REST through the gateway — deduplicated by id (the last heard
 * wins: ElizaOS broadcasts an edited message again), newest first, at most 100.
 *
 * The log is **complete** while the channel has stayed joined, without a break, since
 * before the snapshot's upstream read began: a message stored after that read was then
 * broadcast to the gateway or relayed by it. Any drop or re-join, a REST post whose
 * answer the gateway did not see, ElizaOS saying a message was deleted or the channel
 * cleared, makes it incomplete until the next upstream read taken while joined. A
 * snapshot is also used for at most HORIZON_MS: what the gateway cannot hear (a session
 * that expired upstream, a message posted around the gateway) is then seen by the next
 * read, which becomes the new snapshot.
 *
 * A read is answered from a complete log that covers its `limit` (it holds that many
 * messages, or the snapshot said there were no more) in ElizaOS's own shape
 * (`{messages, hasMore, cursors}`, createdAt as ISO text); anything else goes upstream.
 */
import { parseSessionMessages } from '../../../src/shared/api';
import { isRecord, isUuid } from '../../../src/shared/ids';
import type { UpstreamSocket } from '../upstream/upstream-socket';

/**
 * How long a snapshot stands in for ElizaOS, ms. Ten minutes: the push route's replay
 * window and the upstream socket's linger (a channel is heard that long after its last
 * listener), a third of ElizaOS's 30-minute session timeout (a session that expired
 * upstream is noticed at most this late), and one upstream read in ten of a chat polled
 * every 60 s.
 */
export const HORIZON_MS = 10 * 60_000;
/** Messages kept per channel: the worker asks for at most 100 (the route's limit). */
export const KEEP_MESSAGES = 100;

const SESSION_GONE = new Set([404, 410]);

export interface ChatEdgeOptions {
  upstream: UpstreamSocket;
  /** The channel of a session the gateway knows (made or learnt), else undefined. */
  channelOf(sessionId: string): string | undefined;
  /** Off (PURL_CHAT_EDGE=off): every read goes upstream; only the counts are kept. */
  enabled: boolean;
  horizonMs?: number;
  keepMessages?: number;
  /** The most the logs may hold together, bytes (their messages' JSON); the least recently used go first. */
  maxBytes: number;
  now?: () => number;
}

export interface ChatEdgeStats {
  /** Chat reads answered from what the gateway heard. */
  chatReadsFromEdge: number;
  /** Chat reads sent upstream. */
  chatReadsUpstream: number;
}

/** The hooks of one message POST over REST: ElizaOS's answer when it comes, and the end of the exchange. */
export interface RestPost {
  answered(status: number, body: unknown): void;
  ended(): void;
}

export interface ChatEdge {
  /**
   * The session's chat as ElizaOS's sessions GET with `limit` would answer it now (JSON
   * text), or undefined when it must be read upstream.
   */
  answer(sessionId: string, limit: number): string | undefined;
  /**
   * An upstream read of the session's chat starts now; call what it returns with the
   * answer's status and, for a 2xx, its checked and cleaned body.
   */
  reading(sessionId: string): (status: number, body?: unknown) => void;
  /** A message of the session goes to ElizaOS over REST now. */
  posting(sessionId: string): RestPost;
  stats(): ChatEdgeStats;
  close(): void;
}

/** One message as the sessions GET lists it. */
interface Entry {
  id: string;
  json: string;
  createdAt: number;
  /** When it was heard (the log's sequence); a snapshot's messages all have the read's start. */
  seq: number;
  /** Its place in the snapshot (ties of createdAt keep ElizaOS's order). */
  place: number;
}

interface ChannelLog {
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

/** A message the sessions GET listed (already checked by src/shared/api.ts's parser), or undefined. */
function listedEntry(item: unknown, seq: number, place: number): Entry | undefined {
  if (!isRecord(item) || typeof item['id'] !== 'string') return undefined;
  const createdAt = typeof item['createdAt'] === 'number' ? item['createdAt'] : Date.parse(String(item['createdAt']));
  if (!Number.isFinite(createdAt)) return undefined;
  return { id: item['id'], json: JSON.stringify(item), createdAt, seq, place };
}

/** A message as the sessions GET lists it: createdAt as the Date ElizaOS serialises. */
function entryOf(message: { id: string; content: string; authorId: string; isAgent: boolean; createdAt: number; metadata: unknown }, seq: number): Entry {
  const listed = { ...message, createdAt: new Date(message.createdAt).toISOString() };
  return { id: message.id, json: JSON.stringify(listed), createdAt: message.createdAt, seq, place: 0 };
}

/**
 * ElizaOS's 201 to a REST message (`userMessage`) as the sessions GET lists the row, when
 * it names `channelId`: a user's message (`sourceType: "user"`, so `isAgent: false`), the
 * row's metadata as stored (the channel's, the session id, the body's).
 */
export function listedOfPosted(answer: unknown, channelId: string) {
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

/** Newest first; among equal times, the later heard first, then the snapshot's own order. */
const newestFirst = (a: Entry, b: Entry) => b.createdAt - a.createdAt || b.seq - a.seq || a.place - b.place;

export function createChatEdge(options: ChatEdgeOptions): ChatEdge {
  const now = options.now ?? Date.now;
  const horizonMs = options.horizonMs ?? HORIZON_MS;
  const keep = options.keepMessages ?? KEEP_MESSAGES;
  const { upstream } = options;
  /** By channel, least recently used first. */
  const logs = new Map<string, ChannelLog>();
  /** REST posts under way, by channel: a read meanwhile may miss one stored but not yet answered. */
  const posts = new Map<string, number>();
  const counts: ChatEdgeStats = { chatReadsFromEdge: 0, chatReadsUpstream: 0 };
  let seq = 0;
  let bytes = 0;

  function breakProof(log: ChannelLog | undefined): void {
    if (!log) return;
    log.generation++;
    delete log.snapshot;
  }

  function drop(channelId: string): void {
    const log = logs.get(channelId);
    if (!log) return;
    bytes -= log.bytes;
    logs.delete(channelId);
  }

  /** Keeps `entry` (replacing one of its id), then the newest `keep`; past the bound the oldest go. */
  function add(log: ChannelLog, entry: Entry): void {
    const old = log.entries.get(entry.id);
    const size = entry.json.length - (old?.json.length ?? 0);
    log.entries.set(entry.id, entry);
    log.bytes += size;
    bytes += size;
    if (log.entries.size > keep) {
      const sorted = [...log.entries.values()].sort(newestFirst);
      for (const gone of sorted.slice(keep)) {
        log.entries.delete(gone.id);
        log.bytes -= gone.json.length;
        bytes -= gone.json.length;
        log.trimmedSeq = Math.max(log.trimmedSeq, gone.seq);
      }
      if (log.snapshot) log.snapshot.whole = false;
    }
  }

  /** Drops the least recently used logs (never `keepId`'s) until the logs fit. */
  function evict(keepId: string): void {
    for (const channelId of logs.keys()) {
      if (bytes <= options.maxBytes) return;
      if (channelId !== keepId) drop(channelId);
    }
  }

  function touch(channelId: string, log: ChannelLog): void {
    log.usedAt = now();
    logs.delete(channelId);
    logs.set(channelId, log);
  }

  const disposers = [
    upstream.onMessage((channelId, message) => {
      const log = logs.get(channelId);
      if (log) add(log, entryOf(message, ++seq));
    }),
    // Joined (again): what was said before was not heard.
    upstream.onJoined((channelId) => breakProof(logs.get(channelId))),
    upstream.onState((state) => {
      if (state !== 'up') for (const log of logs.values()) breakProof(log);
    }),
    upstream.onRemoved((channelId) => breakProof(logs.get(channelId))),
  ];

  /** Logs that can no longer answer and have no read under way go: their channel is not joined, or their snapshot is past the horizon. */
  const sweep = setInterval(() => {
    const at = now();
    for (const [channelId, log] of logs) {
      if (!upstream.isJoined(channelId) || at - log.usedAt >= horizonMs) drop(channelId);
    }
  }, horizonMs);
  sweep.unref();

  function answerOf(log: ChannelLog, limit: number): string | undefined {
    const sorted = [...log.entries.values()].sort(newestFirst);
    if (sorted.length < limit && !log.snapshot?.whole) return undefined;
    const listed = sorted.slice(0, limit);
    // As ElizaOS answers: hasMore when the page is full; cursors when there is a message.
    const cursors = listed.length > 0 ? `,"cursors":{"before":${listed[listed.length - 1]!.createdAt},"after":${listed[0]!.createdAt}}` : '';
    return `{"messages":[${listed.map((entry) => entry.json).join(',')}],"hasMore":${listed.length === limit}${cursors}}`;
  }

  return {
    answer(sessionId, limit) {
      if (!options.enabled) return undefined;
      const channelId = options.channelOf(sessionId);
      const log = channelId === undefined ? undefined : logs.get(channelId);
      if (!channelId || !log?.snapshot || !upstream.isJoined(channelId)) return undefined;
      if (now() - log.snapshot.at >= horizonMs || (posts.get(channelId) ?? 0) > 0) return undefined;
      const answer = answerOf(log, limit);
      if (answer === undefined) return undefined;
      touch(channelId, log);
      counts.chatReadsFromEdge++;
      return answer;
    },
    reading(sessionId) {
      counts.chatReadsUpstream++;
      const channelId = options.enabled ? options.channelOf(sessionId) : undefined;
      // Not joined now: nothing heard from here on is proof of anything.
      if (!channelId || !upstream.isJoined(channelId)) return () => {};
      let log = logs.get(channelId);
      if (!log) {
        log = { entries: new Map(), bytes: 0, generation: 0, trimmedSeq: 0, usedAt: now() };
        logs.set(channelId, log);
      }
      const begun = { log, generation: log.generation, seq, at: now() };
      return (status, body) => {
        const current = logs.get(channelId);
        if (SESSION_GONE.has(status)) {
          drop(channelId);
          return;
        }
        if (current !== begun.log || status !== 200 || !isRecord(body) || !Array.isArray(body['messages'])) return;
        try {
          // Validate before keeping: what the worker would refuse is never answered from here.
          parseSessionMessages(body, { sessionId, channelId, agentId: '', userId: '' });
        } catch {
          return;
        }
        // Joined throughout the read, nothing lost meanwhile, and no later read already taken.
        if (current.generation !== begun.generation || !upstream.isJoined(channelId) || current.trimmedSeq > begun.seq) return;
        if (current.snapshot && current.snapshot.seq > begun.seq) return;
        const listed: Entry[] = [];
        for (const [place, item] of body['messages'].entries()) {
          const entry = listedEntry(item, begun.seq, place);
          if (!entry) return;
          listed.push(entry);
        }
        // What was heard since the read began stays (it may be newer than the read); the rest is the snapshot's.
        const heard = [...current.entries.values()].filter((entry) => entry.seq > begun.seq);
        bytes -= current.bytes;
        current.entries = new Map();
        current.bytes = 0;
        current.snapshot = { at: begun.at, seq: begun.seq, whole: body['hasMore'] === false };
        for (const entry of [...listed, ...heard]) add(current, entry);
        touch(channelId, current);
        evict(channelId);
      };
    },
    posting(sessionId) {
      const channelAtStart = options.channelOf(sessionId);
      if (channelAtStart) posts.set(channelAtStart, (posts.get(channelAtStart) ?? 0) + 1);
      let taken = false;
      let ended = false;
      return {
        answered(status, body) {
          // Learnt from this very answer, perhaps (a session made before a restart).
          const channelId = channelAtStart ?? options.channelOf(sessionId);
          const log = channelId === undefined ? undefined : logs.get(channelId);
          if (!channelId || !log || status !== 201) return;
          const message = listedOfPosted(body, channelId);
          if (!message) return;
          add(log, entryOf(message, ++seq));
          taken = true;
        },
        ended() {
          if (ended) return;
          ended = true;
          if (!channelAtStart) return;
          const left = (posts.get(channelAtStart) ?? 1) - 1;
          if (left > 0) posts.set(channelAtStart, left);
          else posts.delete(channelAtStart);
          // The message may be stored without the gateway knowing it: only a new read tells.
          if (!taken) breakProof(logs.get(channelAtStart));
        },
      };
    },
    stats: () => ({ ...counts }),
    close() {
      clearInterval(sweep);
      for (const dispose of disposers) dispose();
    },
  };
}

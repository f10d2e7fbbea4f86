/**
 * The sessions this gateway made (docs/push.md, "Messages over the socket"): for each, the
 * channel, user and agent ElizaOS gave it, so the gateway can send that user's messages on
 * the channel itself, as that user and no one else. Learnt from the create-session answer;
 * kept in memory only, bounded (the least recently used go first) and forgotten after
 * a while unused. A session it does not know (a restart, or made elsewhere) is the REST
 * path's, as before.
 *
 * With `REDIS_URL` the records are also kept in Redis (server/gateway/redis/shared-sessions.ts),
 * so an instance of a cluster that did not see a session made finds it there (`load`).
 *
 * It also keeps what the renewal needs: ElizaOS renews a session only on REST activity,
 * so each record says when ElizaOS last saw the session over HTTP and whether a message
 * went over the socket since.
 */

import type { SharedSessions, StoredSession } from '../redis/shared-sessions';
import { isRecord, isUuid } from '../../../src/shared/ids';

/** What the book keeps of one session. */
export interface SessionRecord {
  channelId: string;
  userId: string;
  /** The agent, when the gateway saw the session made (not when it learnt it from a message). */
  agentId?: string;
  /** Who made it (req.ip): its renewals are asked on that client's behalf. */
  client: string;
  /** Epoch ms when ElizaOS last saw the session over HTTP (made, a REST message, a renewal). */
  seenAt: number;
  /** A message went over the socket since `seenAt`: ElizaOS does not know the session is in use. */
  sentSinceSeen: boolean;
  /** Epoch ms of the last use; the record is forgotten `idleMs` after. */
  usedAt: number;
}

export interface SessionBookOptions {
  /** The most sessions kept (default 100 000). */
  maxEntries?: number;
  /** A session unused this long is forgotten, ms (default 2 h). */
  idleMs?: number;
  now?: () => number;
  /** The records the instances of a cluster share (REDIS_URL). */
  shared?: SharedSessions;
}

export interface SessionBook {
  /**
   * Learns a session from its create request's body and ElizaOS's 201 answer: kept only
   * when the answer names the user and agent the request asked for, with UUID ids.
   */
  learn(requestBody: unknown, status: number, answer: unknown, client: string): void;
  /**
   * Learns a session it did not make (or forgot: the gateway restarted) from ElizaOS's 201 to
   * a message posted over REST: the answer names the session's channel and its user, the
   * message's author. So after a restart only each session's first message goes over HTTP.
   */
  learnFromMessage(sessionId: string, status: number, answer: unknown, client: string): void;
  /**
   * Learns a session it did not make (or forgot) from ElizaOS's answer to `GET
   * /api/messaging/sessions/:id` (its channel, user and agent); true when it was kept.
   */
  learnFromInfo(sessionId: string, status: number, answer: unknown, client: string): boolean;
  /** The session's record (its use noted), or undefined when unknown or forgotten. */
  get(sessionId: string): SessionRecord | undefined;
  /**
   * The session's record, from this book or else from the shared ones (then kept here too);
   * undefined when neither knows it. Never rejects.
   */
  load(sessionId: string): Promise<SessionRecord | undefined>;
  /**
   * Takes from the shared record when ElizaOS last saw the session over HTTP, if that is
   * later than this book knows (another instance renewed it, or a REST message went through it).
   */
  freshen(sessionId: string): Promise<void>;
  /** The agent of the session on `channelId`, when the gateway saw that session made (its use not noted). */
  agentOfChannel(channelId: string): string | undefined;
  /** ElizaOS saw the session over HTTP now (a REST message or a renewal): it is renewed there. */
  seen(sessionId: string): void;
  /** A message of the session went over the socket now. */
  sentOverSocket(sessionId: string): void;
  forget(sessionId: string): void;
  /** The sessions that sent over the socket since ElizaOS last saw them, at least `everyMs` ago. */
  dueForRenewal(everyMs: number): string[];
  size(): number;
}

/** The session an ElizaOS answer names (a create answer, or a session's info): its four ids, each a UUID; else undefined. */
function sessionNamed(answer: unknown): { sessionId: string; channelId: string; userId: string; agentId: string } | undefined {
  if (!isRecord(answer)) return undefined;
  const { sessionId, channelId, userId, agentId } = answer;
  if (!isUuid(sessionId) || !isUuid(channelId) || !isUuid(userId) || !isUuid(agentId)) return undefined;
  return { sessionId, channelId, userId, agentId };
}

export function createSessionBook(options: SessionBookOptions = {}): SessionBook {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 100_000;
  const idleMs = options.idleMs ?? 2 * 60 * 60_000;
  /** Least recently used first (a Map keeps insertion order; a used record is re-inserted). */
  const records = new Map<string, SessionRecord>();
  /** The sessions with `sentSinceSeen`: the renewal looks only at these. */
  const unseen = new Set<string>();
  /** Channel → agent, for the sessions whose agent is known: who a message heard on a channel concerns. */
  const agents = new Map<string, string>();

  function drop(sessionId: string): void {
    const channelId = records.get(sessionId)?.channelId;
    if (channelId !== undefined) agents.delete(channelId);
    records.delete(sessionId);
    unseen.delete(sessionId);
  }

  /** The live record, re-inserted as the most recently used; an idle one is dropped. */
  function use(rawId: string): SessionRecord | undefined {
    const sessionId = rawId.toLowerCase();
    const record = records.get(sessionId);
    if (!record) return undefined;
    const at = now();
    if (at - record.usedAt >= idleMs) {
      drop(sessionId);
      return undefined;
    }
    record.usedAt = at;
    records.delete(sessionId);
    records.set(sessionId, record);
    return record;
  }

  const stored = (record: SessionRecord): StoredSession => ({
    channelId: record.channelId,
    userId: record.userId,
    ...(record.agentId === undefined ? {} : { agentId: record.agentId }),
    client: record.client,
    seenAt: record.seenAt,
  });
  const share = (sessionId: string, record: SessionRecord) => void options.shared?.remember(sessionId, stored(record), idleMs);

  /** Keeps a session just seen over HTTP (or, with `seenAt`, learnt from the shared records); the oldest go first, and idle ones as they are met. */
  function keep(sessionId: string, record: Pick<SessionRecord, 'channelId' | 'userId' | 'agentId' | 'client'>, seenAt?: number): void {
    const at = now();
    const kept: SessionRecord = { ...record, seenAt: seenAt ?? at, sentSinceSeen: false, usedAt: at };
    records.set(sessionId.toLowerCase(), kept);
    if (seenAt === undefined) share(sessionId.toLowerCase(), kept);
    if (record.agentId !== undefined) agents.set(record.channelId, record.agentId.toLowerCase());
    for (const [oldest, kept] of records) {
      if (records.size <= maxEntries && at - kept.usedAt < idleMs) break;
      drop(oldest);
    }
  }

  return {
    learn(requestBody, status, answer, client) {
      if (status !== 201 || !isRecord(requestBody)) return;
      const named = sessionNamed(answer);
      if (!named) return;
      const { sessionId, channelId, userId, agentId } = named;
      if (userId.toLowerCase() !== String(requestBody['userId']).toLowerCase() || agentId.toLowerCase() !== String(requestBody['agentId']).toLowerCase())
        return;
      keep(sessionId, { channelId: channelId.toLowerCase(), userId, agentId, client });
    },
    learnFromMessage(sessionId, status, answer, client) {
      if (status !== 201 || !isUuid(sessionId) || !isRecord(answer) || records.has(sessionId.toLowerCase())) return;
      const message = answer['userMessage'];
      if (!isRecord(message)) return;
      const { channel_id: channelId, author_id: userId } = message;
      if (isUuid(channelId) && isUuid(userId)) keep(sessionId, { channelId: channelId.toLowerCase(), userId, client });
    },
    learnFromInfo(sessionId, status, answer, client) {
      const named = status === 200 && isUuid(sessionId) ? sessionNamed(answer) : undefined;
      if (!named || named.sessionId.toLowerCase() !== sessionId.toLowerCase()) return false;
      const { channelId, userId, agentId } = named;
      keep(sessionId, { channelId: channelId.toLowerCase(), userId, agentId, client });
      return true;
    },
    get: use,
    async load(rawId) {
      const sessionId = rawId.toLowerCase();
      const known = use(sessionId);
      if (known || !options.shared || !isUuid(sessionId)) return known;
      const found = await options.shared.recall(sessionId);
      if (!found) return undefined;
      // Another request may have learnt it meanwhile: that one stands.
      if (!records.has(sessionId)) keep(sessionId, found, found.seenAt);
      return use(sessionId);
    },
    async freshen(rawId) {
      const sessionId = rawId.toLowerCase();
      if (!options.shared || !records.has(sessionId)) return;
      const found = await options.shared.recall(sessionId);
      const record = records.get(sessionId);
      if (!found || !record || found.seenAt <= record.seenAt) return;
      record.seenAt = found.seenAt;
      // Seen after this book last used it (a message over the socket included): renewed for all of it.
      if (found.seenAt >= record.usedAt) {
        record.sentSinceSeen = false;
        unseen.delete(sessionId);
      }
    },
    agentOfChannel: (channelId) => agents.get(channelId.toLowerCase()),
    seen(sessionId) {
      const record = use(sessionId);
      if (!record) return;
      record.seenAt = now();
      record.sentSinceSeen = false;
      unseen.delete(sessionId.toLowerCase());
      share(sessionId.toLowerCase(), record);
    },
    sentOverSocket(sessionId) {
      const record = use(sessionId);
      if (!record) return;
      record.sentSinceSeen = true;
      unseen.add(sessionId.toLowerCase());
    },
    forget(sessionId) {
      drop(sessionId.toLowerCase());
      void options.shared?.forget(sessionId.toLowerCase());
    },
    dueForRenewal(everyMs) {
      const at = now();
      const due: string[] = [];
      for (const sessionId of unseen) {
        const record = records.get(sessionId);
        if (!record || at - record.usedAt >= idleMs) drop(sessionId);
        else if (at - record.seenAt >= everyMs) due.push(sessionId);
      }
      return due;
    },
    size: () => records.size,
  };
}

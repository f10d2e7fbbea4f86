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
import type { UpstreamSocket } from '../upstream/upstream-socket';
import { answerFromLog, beginRead, breakProof, endRead, hear, listedOfPosted, newChatLogs, postEnded, postStarted, sweepLogs } from './chat-log';
import type { Clock } from '../../../src/shared/clock';
import { unrefClock } from '../clock';

export { listedOfPosted } from './chat-log';

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
  /** Sets the sweep's timer (default: setTimeout, unref'd). */
  setTimer?: Clock['setTimer'];
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

/**
 * The wiring: the logs (chat-log.ts) as data with their rules; here only the socket's events,
 * the sweep's timer, the session book's answers and the counts.
 */
export function createChatEdge(options: ChatEdgeOptions): ChatEdge {
  const now = options.now ?? unrefClock.now;
  const setTimer = options.setTimer ?? unrefClock.setTimer;
  const horizonMs = options.horizonMs ?? HORIZON_MS;
  const { upstream } = options;
  const state = newChatLogs(options.keepMessages ?? KEEP_MESSAGES, options.maxBytes);
  const counts: ChatEdgeStats = { chatReadsFromEdge: 0, chatReadsUpstream: 0 };
  const isJoined = (channelId: string) => upstream.isJoined(channelId);

  const disposers = [
    upstream.onMessage((channelId, message) => void hear(state, channelId, message)),
    // Joined (again): what was said before was not heard.
    upstream.onJoined((channelId) => breakProof(state.logs.get(channelId))),
    upstream.onState((socketState) => {
      if (socketState !== 'up') for (const log of state.logs.values()) breakProof(log);
    }),
    upstream.onRemoved((channelId) => breakProof(state.logs.get(channelId))),
  ];

  /** Every horizon, logs that can no longer answer and have no read under way go. */
  let cancelSweep = setTimer(function sweep() {
    sweepLogs(state, now(), horizonMs, isJoined);
    cancelSweep = setTimer(sweep, horizonMs);
  }, horizonMs);

  function posting(sessionId: string): RestPost {
    const channelAtStart = options.channelOf(sessionId);
    if (channelAtStart) postStarted(state, channelAtStart);
    let isTaken = false;
    let isEnded = false;
    return {
      answered(status, body) {
        // Learnt from this very answer, perhaps (a session made before a restart).
        const channelId = channelAtStart ?? options.channelOf(sessionId);
        if (!channelId || status !== 201) return;
        const message = listedOfPosted(body, channelId);
        if (message && hear(state, channelId, message)) isTaken = true;
      },
      ended() {
        if (isEnded) return;
        isEnded = true;
        if (channelAtStart) postEnded(state, channelAtStart, isTaken);
      },
    };
  }

  return {
    answer(sessionId, limit) {
      const channelId = options.enabled ? options.channelOf(sessionId) : undefined;
      if (!channelId) return undefined;
      const answer = answerFromLog(state, channelId, limit, now(), horizonMs, upstream.isJoined(channelId));
      if (answer !== undefined) counts.chatReadsFromEdge++;
      return answer;
    },
    reading(sessionId) {
      counts.chatReadsUpstream++;
      const channelId = options.enabled ? options.channelOf(sessionId) : undefined;
      // Not joined now: nothing heard from here on is proof of anything.
      if (!channelId || !upstream.isJoined(channelId)) return () => {};
      const begun = beginRead(state, channelId, now());
      return (status, body) => void endRead(state, begun, sessionId, status, body, upstream.isJoined(channelId), now());
    },
    posting,
    stats: () => ({ ...counts }),
    close() {
      cancelSweep();
      for (const dispose of disposers) dispose();
    },
  };
}

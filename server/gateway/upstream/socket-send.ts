/**
 * Users' messages over the gateway's upstream socket (docs/push.md, "Messages over the
 * socket"). ElizaOS counts every HTTP request in its one rate-limit budget, and behind the
 * gateway every user is one client; Socket.IO traffic it does not count. So a browser's
 * `POST /api/messaging/sessions/:id/messages` for a session the gateway made (and knows,
 * server/gateway/upstream/session-book.ts) goes over the socket while it is up: sent as the
 * session's user, acknowledged by ElizaOS, and answered with the 201 the REST route gives.
 * Anything else takes the REST path, as before.
 *
 * Exactly-once stays the worker's: without an acknowledgement the answer is a 504 and the
 * gateway does not send again; the worker asks the sessions GET before it retries.
 *
 * A socket send does not renew the session in ElizaOS (only HTTP does), so the gateway
 * renews a session it sends for with ElizaOS's heartbeat, at most once per `renewEveryMs`,
 * and only when the session sent over the socket since ElizaOS last saw it over HTTP.
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../../../src/shared/clock';
import { isRecord } from '../../../src/shared/ids';
import { sendError } from '../door/errors';
import { every, unrefClock } from '../clock';
import { GATEWAY_ITSELF, type UpstreamClient } from './client';
import { createSessionBook, type SessionBook, type SessionRecord } from './session-book';
import { MESSAGE_SERVER_ID, SOCKET_SOURCE, type SendOutcome, type UpstreamSocket } from './upstream-socket';

/** What a renewal found: done, the session is gone upstream, or not now (the budget, or a failure). */
export type RenewOutcome = 'renewed' | 'gone' | 'later';

/** How long a send waits for ElizaOS's acknowledgement by default, ms (measured 10–15 ms). */
export const ACK_TIMEOUT_MS = 5_000;

export interface SocketSenderOptions {
  upstream: UpstreamSocket;
  /** Off (PURL_SOCKET_SEND=off): every message takes the REST path; only the counts (and the sessions learnt) are kept. */
  enabled: boolean;
  /** Asks ElizaOS to renew the session on `client`'s behalf. */
  renew: (sessionId: string, client: string) => Promise<RenewOutcome>;
  /** How long a send waits for ElizaOS's acknowledgement, ms (default ACK_TIMEOUT_MS). */
  ackTimeoutMs?: number;
  /** The least time between two renewals of one session, ms (default 10 min: a third of the 30 a session lasts, and 0.1 requests a minute for each user who talks). */
  renewEveryMs?: number;
  /** How often due renewals are looked for, ms (default 30 s). */
  sweepEveryMs?: number;
  book?: SessionBook;
  /** The time now, epoch ms (default: the system's). */
  now?: () => number;
  /** Sets the sweep's timer (default: setTimeout, unref'd: it keeps no process alive). */
  setTimer?: Clock['setTimer'];
}

export interface SocketSenderStats {
  /** Messages sent over the socket and acknowledged. */
  sentOverSocket: number;
  /** Messages passed on over HTTP. */
  sentOverRest: number;
  /** Socket sends answered 504 because no acknowledgement came in time. */
  ackTimeouts: number;
  /** Socket sends answered 502/504 because the socket dropped or ElizaOS answered messageError. */
  socketFailures: number;
  /** Heartbeats sent for sessions that talk over the socket. */
  renewals: number;
  /** Sessions known to the gateway. */
  sessions: number;
}

export interface SocketSender {
  /** Learns a session from its create request and ElizaOS's answer (the create-session route's answer hook). */
  learn(requestBody: unknown, status: number, answer: unknown, client: string): void;
  /** A message of a session it does not know went over REST: learns the session from ElizaOS's 201 (session-book.ts). */
  learnFromMessage(sessionId: string, status: number, answer: unknown, client: string): void;
  /**
   * Sends the checked body of a message POST over the socket and answers `res` (201, or
   * 504/502 with a sentence); false, with nothing answered, when it must take the REST path.
   */
  trySend(sessionId: string, body: unknown, res: ServerResponse): Promise<boolean>;
  /** A message of the session goes over HTTP: counted, and ElizaOS renews the session itself. */
  sentOverRest(sessionId: string): void;
  /** Renews the sessions due now (the sweep calls it). */
  renewDue(): Promise<void>;
  stats(): SocketSenderStats;
  close(): void;
}

/**
 * The text and clientMessageId of a body the socket can carry as the REST route would
 * store it: metadata absent or exactly `{clientMessageId}` (what the worker sends). Other
 * metadata keys take the REST path: on the socket some of them steer ElizaOS (isDm,
 * channelType…), and only the REST route is known to store them as sent.
 */
export function socketMessageOf(body: unknown): { text: string; clientMessageId?: string } | undefined {
  if (!isRecord(body) || typeof body['content'] !== 'string') return undefined;
  const metadata = body['metadata'];
  if (metadata === undefined) return { text: body['content'] };
  if (!isRecord(metadata)) return undefined;
  const keys = Object.keys(metadata);
  const clientMessageId = metadata['clientMessageId'];
  if (keys.length === 0) return { text: body['content'] };
  if (keys.length !== 1 || typeof clientMessageId !== 'string') return undefined;
  return { text: body['content'], clientMessageId };
}

/** The 201 answer ElizaOS's REST route gives for a stored message, for a message stored over the socket. */
export function postedAnswer(record: SessionRecord, text: string, clientMessageId: string | undefined, stored: { id: string; createdAt: number }) {
  return {
    success: true,
    userMessage: {
      id: stored.id,
      channel_id: record.channelId,
      message_server_id: MESSAGE_SERVER_ID,
      author_id: record.userId,
      content: text,
      created_at: stored.createdAt,
      source_type: SOCKET_SOURCE,
      metadata: clientMessageId === undefined ? {} : { clientMessageId },
    },
  };
}

/** Answers the browser: the 201 for a stored message, else 504 (no acknowledgement) or 502 (ElizaOS's error). */
function answerOutcome(res: ServerResponse, outcome: SendOutcome, stored: (row: { id: string; createdAt: number }) => unknown): void {
  if (outcome.kind === 'stored') {
    if (res.destroyed) return;
    const body = JSON.stringify(stored(outcome));
    res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else if (outcome.kind === 'failed') {
    sendError(
      res,
      502,
      'UPSTREAM_SEND_FAILED',
      "The agent's server reported an error while taking this message. Purl checks whether it arrived before trying again.",
    );
  } else {
    sendError(res, 504, 'UPSTREAM_TIMEOUT', "The agent's server did not confirm this message in time. Purl checks whether it arrived before trying again.");
  }
}

export function createSocketSender(options: SocketSenderOptions): SocketSender {
  const now = options.now ?? unrefClock.now;
  const setTimer = options.setTimer ?? unrefClock.setTimer;
  const { upstream } = options;
  const book = options.book ?? createSessionBook({ now });
  const ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  const renewEveryMs = options.renewEveryMs ?? 10 * 60_000;
  const stats = { sentOverSocket: 0, sentOverRest: 0, ackTimeouts: 0, socketFailures: 0, renewals: 0 };
  const renewing = new Set<string>();
  /**
   * When the socket last dropped after being up. ElizaOS keeps sessions in memory: a drop
   * may be its restart, which forgets them all while their channels live on. So a session
   * ElizaOS has not seen over HTTP since the drop takes the REST path once, which checks
   * that it still exists (a 404 or 410 tells the worker to make a new one) and renews it.
   */
  let droppedAt = Number.NEGATIVE_INFINITY;
  let wasUp = upstream.state() === 'up';
  const disposeState = upstream.onState((state) => {
    if (wasUp && state !== 'up') droppedAt = now();
    wasUp = state === 'up';
  });

  async function renew(sessionId: string): Promise<void> {
    if (renewing.has(sessionId)) return;
    renewing.add(sessionId);
    try {
      // Renewed meanwhile through another instance of a cluster: nothing to do.
      await book.freshen(sessionId);
      const record = book.get(sessionId);
      if (record && (record.sentSinceSeen || now() - record.seenAt >= renewEveryMs)) await renewNow(sessionId, record.client);
    } finally {
      renewing.delete(sessionId);
    }
  }

  async function renewNow(sessionId: string, client: string): Promise<void> {
    stats.renewals++;
    const outcome = await options.renew(sessionId, client);
    if (outcome === 'renewed') book.seen(sessionId);
    else if (outcome === 'gone') book.forget(sessionId);
  }

  const stopSweeping = every({ now, setTimer }, options.sweepEveryMs ?? 30_000, () => {
    void sender.renewDue().catch(() => {
      // Never rejects (the renewal function answers with an outcome); a bug must not end the gateway.
    });
  });

  const sender: SocketSender = {
    // Learnt even with sending off: the book also tells the chat edge (server/gateway/edge/chat-edge.ts) a session's channel.
    learnFromMessage: (sessionId, status, answer, client) => book.learnFromMessage(sessionId, status, answer, client),
    learn: (requestBody, status, answer, client) => book.learn(requestBody, status, answer, client),
    async trySend(rawSessionId, body, res) {
      if (!options.enabled) return false;
      const sessionId = rawSessionId.toLowerCase();
      const message = socketMessageOf(body);
      // Made through another instance of a cluster: found in the shared records (REDIS_URL).
      const record = message ? await book.load(sessionId) : undefined;
      if (!message || !record || record.seenAt < droppedAt) return false;
      if (upstream.state() !== 'up') {
        // Made by the first push subscriber, or here for the next message.
        upstream.wake();
        return false;
      }
      book.sentOverSocket(sessionId);
      if (now() - record.seenAt >= renewEveryMs) void renew(sessionId);
      void upstream
        .send(
          {
            channelId: record.channelId,
            // The session's user, never the browser's word: ElizaOS takes any senderId on the socket.
            senderId: record.userId,
            // What ElizaOS names a REST session's user (its message bus: `User-<first 8 of the id>`).
            senderName: `User-${record.userId.slice(0, 8)}`,
            text: message.text,
            ...(message.clientMessageId === undefined ? {} : { clientMessageId: message.clientMessageId }),
          },
          ackTimeoutMs,
        )
        .then((outcome) => {
          if (outcome.kind === 'stored') stats.sentOverSocket++;
          else if (outcome.kind === 'timeout') stats.ackTimeouts++;
          else stats.socketFailures++;
          answerOutcome(res, outcome, (row) => postedAnswer(record, message.text, message.clientMessageId, row));
        });
      return true;
    },
    sentOverRest(sessionId) {
      stats.sentOverRest++;
      book.seen(sessionId);
    },
    async renewDue() {
      await Promise.all(book.dueForRenewal(renewEveryMs).map((sessionId) => renew(sessionId)));
    },
    stats: () => ({ ...stats, sessions: book.size() }),
    close() {
      stopSweeping();
      disposeState();
    },
  };
  return sender;
}

/**
 * The renewal as the gateway asks it: ElizaOS's `POST /api/messaging/sessions/:id/heartbeat`
 * (what a REST message does to a session: its last activity now, renewed when it
 * auto-renews), on the session's client's behalf, spent from the upstream budget like the
 * edge's own reads: kept back from the reserve on, so it never takes what users' messages need.
 */
export function heartbeatWithinBudget(upstream: Pick<UpstreamClient, 'send'>) {
  return async (sessionId: string, client: string): Promise<RenewOutcome> => {
    const path = `/api/messaging/sessions/${sessionId}/heartbeat`;
    const sending = upstream.send({ cost: 'shared-read', client, method: 'POST', path });
    if (sending.kind === 'refused') return 'later';
    const answer = await sending.answer;
    if (answer.kind === 'failed') return 'later';
    if (answer.status >= 200 && answer.status < 300) return 'renewed';
    return answer.status === 404 || answer.status === 410 ? 'gone' : 'later';
  };
}

/**
 * Asks ElizaOS whether it runs with ENABLE_DATA_ISOLATION (`GET /api/system/config`,
 * `data.requiresAuth`), for the upstream socket (server/gateway/upstream/upstream-socket.ts
 * `isIsolated`): true or false when it said, undefined when it could not be told (the
 * budget kept it back, or it failed). A server without the route (404) has no isolation to speak of.
 */
export function isolationWithinBudget(upstream: Pick<UpstreamClient, 'send'>) {
  return async (): Promise<boolean | undefined> => {
    const sending = upstream.send({ cost: 'shared-read', client: GATEWAY_ITSELF, method: 'GET', path: '/api/system/config' });
    if (sending.kind === 'refused') return undefined;
    const answer = await sending.answer;
    if (answer.kind === 'failed') return undefined;
    // An ElizaOS without the route (older than 1.7) has no isolation to speak of.
    if (answer.status === 404) return false;
    if (answer.status !== 200) return undefined;
    try {
      const parsed: unknown = JSON.parse(answer.body.toString('utf8'));
      const requiresAuth = (parsed as { data?: { requiresAuth?: unknown } } | null)?.data?.requiresAuth;
      return typeof requiresAuth === 'boolean' ? requiresAuth : undefined;
    } catch {
      return undefined;
    }
  };
}

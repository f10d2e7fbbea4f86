/**
 * The push route (docs/push.md): the agent's replies as Server-Sent Events, as ElizaOS
 * makes them.
 *
 *   GET /api/purl/push?session=<sessionId>.<channelId>.<pushToken>[&session=…][&lastEventId=<epoch>.<seq>]
 *
 * Each session's token must be the one the gateway added to that session's create answer
 * (server/gateway/push/push-token.ts), and a client holds a few streams at most; the gateway
 * then listens to the session's channel on its one upstream socket
 * (server/gateway/upstream/upstream-socket.ts) and the push log (push-log.ts) writes every
 * message of it to the stream, with ids `<epoch>.<seq>`. A browser that comes back with the
 * last id it saw (the `Last-Event-ID` header EventSource sends on its own reconnects) gets
 * what it missed, in order, first, or `reset` with the sessions to read once when that
 * cannot be done (replay-log.ts says when). Every stream also hears `memories` when an
 * agent's memories changed (the sync route found it; server/gateway/edge/memories-notice.ts
 * says when), so a browser syncs them at once.
 *
 * This file wires: admission, the streams, the upstream socket's events, the keep-alive,
 * and the log it is given (a cluster's on Redis, or this gateway's own).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../door/errors';
import type { UpstreamSocket, UpstreamState } from '../upstream/upstream-socket';
import type { Clock } from '../../../src/shared/clock';
import { every, unrefClock } from '../clock';
import { type PushCounts, PushEvents } from './push-events';
import { createLocalPushLog, type PushLogFactory, type PushLogStats } from './push-log';
import type { PushQuery } from './push-query';
import { isPushToken } from './push-token';
import { ReplayLog } from './replay-log';
import { SseWriter } from './sse';
import { type PushStream, StreamRegistry } from './streams';

export { MAX_SESSIONS_PER_STREAM, PUSH_PATH, parsePushQuery, type PushQuery, type PushSession } from './push-query';

/** How long a client waits before opening another stream when it has too many, s. */
const RETRY_AFTER_S = 10;
/** How long EventSource waits before it reconnects, ms. */
const RETRY_MS = 1_000;

/** The keep-alive comment's period by default, ms: proxies end connections that stay silent. */
export const KEEP_ALIVE_MS = 15_000;

export interface PushOptions {
  key: Buffer;
  upstream: UpstreamSocket;
  /** Open streams per client (WS_MAX_CONNECTIONS_PER_IP). */
  maxStreamsPerClient: number;
  /** Events kept per channel for replay (default 100). */
  keepEvents?: number;
  /** How long an event is kept for replay, ms (default 10 min). */
  keepMs?: number;
  /** The keep-alive comment's period, ms (default KEEP_ALIVE_MS). */
  keepAliveMs?: number;
  /** The time and the timers (default the system's, timers unref'd). */
  clock?: Clock;
  epoch?: string;
  /**
   * The push log (push-log.ts): the cluster's on Redis (server/gateway/redis/cluster-push-log.ts)
   * when clustered; without it this gateway numbers and keeps its own events.
   */
  log?: PushLogFactory;
}

export interface PushStats extends PushCounts {
  upstream: { state: UpstreamState; since: number };
  /** Channels joined upstream. */
  channels: number;
  /** Open streams. */
  streams: number;
  /** Broadcasts that failed the boundary check. */
  dropped: number;
  /** With a cluster's log: whether events go through it, and what this instance covers. */
  log?: PushLogStats;
}

export interface Push {
  serve(req: IncomingMessage, res: ServerResponse, query: PushQuery, client: string): void;
  /**
   * Tells every open stream that `agentId`'s memories changed and the sync route stands at
   * `cursor` (a `memories` event: no id, never replayed; a browser that reconnects syncs anyway).
   * Every browser may read an agent's public memories: the event names no memory.
   */
  memoriesChanged(agentId: string, cursor: string): void;
  stats(): PushStats;
  /** Ends every stream and the upstream socket. */
  close(): void;
}

export function createPush(options: PushOptions): Push {
  const { upstream } = options;
  const clock = options.clock ?? unrefClock;
  const streams = new StreamRegistry();
  const events = new PushEvents();
  const replay = new ReplayLog({
    epoch: options.epoch ?? randomBytes(6).toString('hex'),
    now: clock.now,
    ...(options.keepEvents !== undefined ? { keepEvents: options.keepEvents } : {}),
    ...(options.keepMs !== undefined ? { keepMs: options.keepMs } : {}),
  });
  const local = createLocalPushLog({ replay, streams, events, upstream });
  const log = options.log ? options.log({ upstream, streams, events, local, clock }) : local;
  /** Stops the keep-alive; undefined while no stream is open. */
  let stopKeepAlive: (() => void) | undefined;

  const disposers = [
    upstream.onJoined((channelId) => log.joined(channelId)),
    upstream.onMessage((channelId, message) => log.heard(channelId, message)),
    upstream.onState((state) => {
      log.upstreamChanged(state);
      events.upstream(streams.all(), state);
    }),
  ];

  function open(res: ServerResponse, query: PushQuery, client: string): void {
    const stream: PushStream = { sse: new SseWriter(res), sessions: new Map(query.sessions.map((session) => [session.channelId, session.sessionId])) };
    streams.add(stream, client);
    const greet = log.open(stream, query.lastEventId);
    const releases = [...stream.sessions.keys()].map((channelId) => upstream.subscribe(channelId));
    res.on('close', () => {
      streams.remove(stream, client);
      for (const release of releases) release();
      if (streams.size > 0) return;
      stopKeepAlive?.();
      stopKeepAlive = undefined;
    });
    stream.sse.start(RETRY_MS);
    greet();
    stopKeepAlive ??= every(clock, options.keepAliveMs ?? KEEP_ALIVE_MS, () => {
      log.sweep();
      events.keepAlive(streams.all());
    });
  }

  return {
    serve(req, res, query, client) {
      if (!query.sessions.every((session) => isPushToken(options.key, session.sessionId, session.channelId, session.token))) {
        sendError(res, 403, 'PUSH_FORBIDDEN', 'A push token does not match its session: only the browser that made a session may listen to it.');
        return;
      }
      if (streams.countOf(client) >= options.maxStreamsPerClient) {
        sendError(
          res,
          429,
          'TOO_MANY_CONNECTIONS',
          `Too many open push streams from this address: at most ${options.maxStreamsPerClient}. Purl waits ${RETRY_AFTER_S} s and goes on by itself.`,
          { 'Retry-After': String(RETRY_AFTER_S) },
        );
        return;
      }
      if (req.destroyed) return;
      open(res, query, client);
    },
    memoriesChanged: (agentId, cursor) => log.memoriesChanged(agentId, cursor),
    stats() {
      const upstreamStats = upstream.stats();
      const { eventsIn, eventsOut, memoriesOut, replayed, resets } = events.counts;
      const logStats = log.stats();
      return {
        upstream: { state: upstreamStats.state, since: upstreamStats.since },
        channels: upstreamStats.channels,
        streams: streams.size,
        eventsIn,
        eventsOut,
        memoriesOut,
        dropped: upstreamStats.dropped,
        replayed,
        resets,
        ...(logStats ? { log: logStats } : {}),
      };
    },
    close() {
      for (const dispose of disposers) dispose();
      stopKeepAlive?.();
      log.close();
      for (const stream of streams.all()) stream.sse.end();
      upstream.close();
    },
  };
}

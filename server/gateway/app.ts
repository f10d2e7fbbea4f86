/**
 * The gateway: one origin for the app, its configuration and the agent's API, locked to
 * what the app uses. In order, every request meets:
 *   1. the Host check (DNS rebinding) — everything, the page included;
 *   2. the same-origin check — data routes (/api, /health, /config.json);
 *   3. for /api: the gateway's own routes (the sync route, server/gateway/edge/sync.ts, and the
 *      push route, server/gateway/push/push.ts), else the allowlist (server/gateway/door/routes.ts;
 *      anything else is a JSON 404 that never reaches ElizaOS), the per-client limits, then either the edge (reads
 *      every user shares, server/gateway/edge/edge.ts), the chat edge (a known session's chat, from
 *      what the upstream socket heard, server/gateway/edge/chat-edge.ts) or the body check, the upstream's
 *      budget (server/gateway/budget/budget-door.ts: when every user spends one budget, what may
 *      go upstream depends on what is left) and ElizaOS.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type AddToAnswer, createApiProxy } from './upstream/api-proxy';
import { BodyError, readJsonBody } from './door/body';
import { costOf, edgeRead } from './budget/budget-door';
import { sendError } from './door/errors';
import { checkAnswer } from '../../src/shared/api';
import { EDGE_HEADER } from '../../src/shared/budget';
import { createChatEdge } from './edge/chat-edge';
import { createEdge } from './edge/edge';
import { createMemoriesNotice, MIN_NOTICE_WINDOW_MS } from './edge/memories-notice';
import { AGENTS_WINDOW_FACTOR, defaultConfig } from '../../src/shared/config';
import { createSyncRoute, matchSyncRoute } from './edge/sync';
import { createPush, matchPushRoute, PUSH_PATH } from './push/push';
import { createSharedPushLog } from './redis/push-log';
import { withPushToken } from './push/push-token';
import { createSocketSender, heartbeatWithinBudget, isolationWithinBudget } from './upstream/socket-send';
import { createUpstreamSocket, type UpstreamSocket, type UpstreamSocketOptions } from './upstream/upstream-socket';
import { createHealth } from './upstream/health';
import { createLimits } from './door/limits';
import { createRedisLink } from './redis/redis';
import { createSharedEdge } from './redis/shared-edge';
import type { GatewayOptions } from './options';
import { writeBudgetStanding, writeUpstreamBudget } from './upstream/rate-limit-headers';
import { matchApiRoute, type RouteLimit } from './door/routes';
import { refuseCrossOrigin, refuseForeignHost } from './door/same-origin';
import { createSessionBook } from './upstream/session-book';
import { shareUpstreamBudget } from './redis/shared-budget';
import { createSharedSessions } from './redis/shared-sessions';
import { serveApp } from './door/static';
import { createUpstreamBudget } from './budget/upstream-budget';
import { createUpstreamClient } from './upstream/client';

export interface Gateway {
  /** The URL the gateway answers on, once listening. */
  url: string;
  close(): Promise<void>;
}

/** What a caller may hand in instead of what the gateway makes itself (tests: a fake upstream socket, short timings). */
export interface GatewayParts {
  upstreamSocket?: UpstreamSocket;
  /** Makes the upstream socket's connection (a fake in unit tests; default socket.io-client's `io`). */
  connectUpstream?: UpstreamSocketOptions['connect'];
  /** When ElizaOS could not say whether it isolates, how long before the upstream socket asks again, ms. */
  isolationRetryMs?: number;
  pushKeepAliveMs?: number;
  /** How often the instances of a cluster exchange their estimate of a stock ElizaOS's budget, ms (default 250). */
  budgetShareEveryMs?: number;
  /** How often the cluster's push channels are announced and read, ms (default 2 s). */
  clusterJoinEveryMs?: number;
  /** How long a message sent over the socket waits for ElizaOS's acknowledgement, ms. */
  ackTimeoutMs?: number;
  /** How long the chat edge answers from one snapshot, ms. */
  chatHorizonMs?: number;
  /** Where the gateway says what changed in its surroundings (Redis up or down); default the console, as `purl: …`. */
  log?: (line: string) => void;
}

const NOT_SERVED = "Purl's gateway doesn't serve this path: it passes on only the requests the Purl app makes.";

export function createGatewayServer(options: GatewayOptions, parts: GatewayParts = {}): { server: http.Server; close: () => void } {
  // Without the embedded server's secret, ElizaOS cannot tell users apart: the gateway is
  // one client to it, every user spends one budget, and the gateway spends it by priority.
  const budget = createUpstreamBudget({ shared: !options.gatewaySecret });
  // Shared state for the instances of a cluster (docs/cluster.md); each part falls back to its own while Redis is down.
  const redis = options.redisUrl ? createRedisLink({ url: options.redisUrl, log: parts.log ?? ((line) => console.log(`purl: ${line}`)) }) : undefined;
  // In front of a stock ElizaOS the instances spend one budget: they keep one estimate of it.
  const stopSharingBudget =
    redis && budget.shared && options.sharedBudget
      ? shareUpstreamBudget(redis, budget, parts.budgetShareEveryMs ? { everyMs: parts.budgetShareEveryMs } : {})
      : undefined;
  // Every request to ElizaOS over HTTP goes through this one client (its budget, timeouts, sizes and sentences).
  const upstream = createUpstreamClient({ options, budget });
  const proxy = createApiProxy(upstream);
  // The edge always runs for the sync route (with GATEWAY_CACHE_TTL=0 it shares only
  // reads under way); the plain shared routes use it when its window is open.
  const edge = createEdge({
    ttlMs: options.edgeTtlMs,
    maxBytes: options.edgeMaxBytes,
    budget,
    ...(redis ? { shared: createSharedEdge(redis) } : {}),
    read: edgeRead(upstream),
  });
  // The upstream socket is made here but connects only when the first browser subscribes (or sends).
  const upstreamSocket =
    options.push && options.pushKey
      ? (parts.upstreamSocket ??
        createUpstreamSocket({
          upstream: options.upstream,
          ...(options.upstreamApiKey ? { apiKey: options.upstreamApiKey } : {}),
          isIsolated: isolationWithinBudget(upstream),
          ...(parts.connectUpstream ? { connect: parts.connectUpstream } : {}),
          ...(parts.isolationRetryMs ? { isolationRetryMs: parts.isolationRetryMs } : {}),
        }))
      : undefined;
  const push =
    upstreamSocket && options.pushKey
      ? createPush({
          key: options.pushKey,
          upstream: upstreamSocket,
          maxStreamsPerClient: options.maxConnectionsPerClient,
          ...(parts.pushKeepAliveMs ? { keepAliveMs: parts.pushKeepAliveMs } : {}),
          ...(parts.clusterJoinEveryMs ? { clusterJoinEveryMs: parts.clusterJoinEveryMs } : {}),
          ...(redis ? { shared: { log: createSharedPushLog(redis), state: () => redis.state(), onState: (listener) => redis.onState(listener) } } : {}),
        })
      : undefined;
  // The sessions the gateway made or learnt: whose messages may go over that socket, and whose chat it may answer.
  const book = createSessionBook(redis ? { shared: createSharedSessions(redis) } : {});
  // Users' messages over that socket, where they spend nothing of ElizaOS's HTTP budget (server/gateway/upstream/socket-send.ts).
  const sender = upstreamSocket
    ? createSocketSender({
        upstream: upstreamSocket,
        enabled: options.socketSend,
        book,
        renew: heartbeatWithinBudget(upstream),
        ...(parts.ackTimeoutMs ? { ackTimeoutMs: parts.ackTimeoutMs } : {}),
      })
    : undefined;
  // A known session's chat, answered from what that socket heard when that is everything (server/gateway/edge/chat-edge.ts).
  const chatEdge = upstreamSocket
    ? createChatEdge({
        upstream: upstreamSocket,
        enabled: options.chatEdge,
        channelOf: (sessionId) => book.get(sessionId)?.channelId,
        maxBytes: options.edgeMaxBytes,
        ...(parts.chatHorizonMs ? { horizonMs: parts.chatHorizonMs } : {}),
      })
    : undefined;
  // Every push stream hears when an agent's memories changed, at most once per agent per window.
  const memoriesNotice = push
    ? createMemoriesNotice({
        windowMs: Math.max(options.edgeTtlMs, MIN_NOTICE_WINDOW_MS),
        send: (agentId, cursor) => push.memoriesChanged(agentId, cursor),
      })
    : undefined;
  const sync = options.syncRoute
    ? createSyncRoute({
        edge,
        memoriesTtlMs: options.edgeTtlMs,
        // The agent list changes rarely: the worker already keeps it ten times longer than memories.
        agentsTtlMs: Math.max(options.edgeTtlMs, options.clientConfig.cacheTtlMs ?? defaultConfig.cacheTtlMs) * AGENTS_WINDOW_FACTOR,
        maxBytes: options.edgeMaxBytes,
        budget,
        standing: (res, client) => writeBudgetStanding(budget, client, res, Date.now()),
        ...(chatEdge ? { chatEdge } : {}),
        ...(memoriesNotice ? { onMemoriesChanged: memoriesNotice.changed } : {}),
        // The chat part is the user's own read: counted, and left out (the chat poll then asks itself) while the budget keeps such reads back.
        readOwn: (path, client, signal) => {
          const sending = upstream.send({ cost: 'own-read', client, byUser: true, method: 'GET', path, signal });
          return sending.kind === 'refused' ? undefined : sending.answer;
        },
      })
    : undefined;
  // A message heard on a channel is stored in its agent's memories: the next sync read of them
  // goes upstream (the sync route keeps its one read per window). The agent is the session's,
  // when the gateway made it; else a reply's sender.
  const stopHearing =
    upstreamSocket && sync
      ? upstreamSocket.onMessage((channelId, message) => {
          const agentId = book.agentOfChannel(channelId) ?? (message.isAgent ? message.authorId : undefined);
          if (agentId !== undefined) sync.markDue(agentId);
        })
      : undefined;
  const limits = createLimits(options.apiRequestsPerMinute, options.memoryRequestsPerMinute, redis);
  const health = createHealth({ upstream });
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy);

  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (!refuseForeignHost(req, res, options.allowedHosts)) next();
  });
  // An event stream is never compressed: compression buffers, and a buffered event is a late one.
  // The filter runs when the answer starts, inside the /api mount where req.url lost its prefix: originalUrl keeps it.
  app.use(compression({ filter: (req, res) => req.originalUrl.split('?')[0] !== PUSH_PATH && compression.filter(req, res) }));

  const sameOrigin = (req: Request, res: Response, next: NextFunction) => {
    if (!refuseCrossOrigin(req, res, req.protocol === 'https')) next();
  };

  const clientConfig = JSON.stringify(options.clientConfig);
  app.get('/config.json', sameOrigin, (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('application/json').send(clientConfig);
  });
  // The gateway's own liveness, for a load balancer: it answers, whatever ElizaOS does.
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/health', sameOrigin, (_req, res, next) => {
    health
      .report()
      .then((report) => {
        res.setHeader('Cache-Control', 'no-store');
        res.json({
          ...report,
          edge: { ...edge.stats(), ...(sync ? { sync: sync.stats() } : {}) },
          ...(budget.shared ? { budget: budget.stats(Date.now()) } : {}),
          ...(push ? { push: { ...push.stats(), ...sender?.stats(), ...chatEdge?.stats() } } : {}),
          ...(redis ? { redis: redis.stats() } : {}),
          ...(options.instanceName ? { instance: options.instanceName } : {}),
        });
      })
      .catch(next);
  });

  app.use('/api', sameOrigin, (req, res, next) => {
    /** Runs `then` once the per-client limits let the request through (the API-wide one, and `limit`'s). */
    const withinLimits = (limit: RouteLimit, then: () => void) =>
      limits.api(req, res, (error?: unknown) => {
        if (error) return next(error);
        if (limit === 'memories') limits.memories(req, res, (failure?: unknown) => (failure ? next(failure) : then()));
        else then();
      });
    /** One of the gateway's own routes: a malformed query is a 400, else it is served within `limit`. True when it was one. */
    const ownRoute = <Query>(request: { query: Query } | { problem: string } | undefined, limit: RouteLimit, serve: (query: Query) => void): boolean => {
      if (!request) return false;
      if ('problem' in request) sendError(res, 400, 'INVALID_QUERY', request.problem);
      else withinLimits(limit, () => serve(request.query));
      return true;
    };
    const client = req.ip ?? '';
    // The sync route reads the memories: both limits count it, as they count a memories read.
    if (sync && ownRoute(matchSyncRoute(req.method, req.originalUrl), 'memories', (query) => sync.serve(req, res, query, client))) return;
    const lastEventId = req.headers['last-event-id'];
    if (push && ownRoute(matchPushRoute(req.method, req.originalUrl, lastEventId), 'api', (query) => push.serve(req, res, query, client))) return;
    const matched = matchApiRoute(req.method, req.originalUrl);
    if (!matched) {
      sendError(res, 404, 'NOT_FOUND', NOT_SERVED);
      return;
    }
    const [pathname, search] = matched.upstreamPath.split('?');
    // The session a message is posted to, or whose chat is read (the route's pattern has checked it is a UUID).
    const sessionId = matched.route.name === 'send-message' || matched.route.name === 'session-messages' ? matched.route.path.exec(pathname!)?.[1] : undefined;
    const forward = (body?: { raw: Buffer; value: unknown }) => {
      // Once the budget let it go: what the route does with it, and adds to its answer.
      const admitted = (): AddToAnswer | undefined => {
        if (push && options.pushKey && matched.route.name === 'create-session') {
          const pushKey = options.pushKey;
          return (status, answer) => {
            sender?.learn(body?.value, status, answer, client);
            return withPushToken(pushKey, status, answer);
          };
        }
        if (sender && sessionId && matched.route.name === 'send-message') {
          sender.sentOverRest(sessionId);
          // ElizaOS's 201 is the only word the gateway gets of a REST message: the chat edge keeps it.
          const posted = chatEdge?.posting(sessionId);
          if (posted) res.on('close', posted.ended);
          return (status, answer) => {
            sender.learnFromMessage(sessionId, status, answer, client);
            posted?.answered(status, answer);
            return undefined;
          };
        }
        if (chatEdge && sessionId) {
          const read = chatEdge.reading(sessionId);
          return (status, answer) => {
            read(status, answer);
            return undefined;
          };
        }
        return undefined;
      };
      proxy.forward(req, res, { cost: costOf(matched.route), path: matched.upstreamPath, client, ...(body ? { body: body.raw } : {}), admitted });
    };
    /** Answers a chat read from what the gateway heard: nothing spent upstream, so nothing of the upstream's budget binds it. */
    const answerHeard = (json: string) => {
      const now = Date.now();
      res.setHeader(EDGE_HEADER, 'chat');
      res.setHeader('Cache-Control', 'no-store');
      if (budget.shared) writeUpstreamBudget(budget.last(now), res, now);
      writeBudgetStanding(budget, client, res, now);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(json));
      res.writeHead(200);
      res.end(json);
    };
    const checkBodyThenForward = () => {
      if (options.edgeTtlMs > 0 && matched.route.shared) {
        const pathname = matched.upstreamPath.split('?')[0]!;
        writeBudgetStanding(budget, client, res, Date.now());
        edge.serve(req, res, { path: matched.upstreamPath, client, check: (body) => checkAnswer('GET', pathname, body) });
        return;
      }
      if (!matched.route.body) {
        const heard = chatEdge && sessionId ? chatEdge.answer(sessionId, Number(new URLSearchParams(search).get('limit'))) : undefined;
        if (heard === undefined) forward();
        else answerHeard(heard);
        return;
      }
      readJsonBody(req, options.maxBodyBytes)
        .then(async (body) => {
          const problem = matched.route.body!(body.value);
          if (problem) sendError(res, 400, 'INVALID_BODY', problem);
          // Over the socket it costs ElizaOS's HTTP budget nothing: neither counted nor kept back by it.
          else if (!(sender && sessionId && (await sender.trySend(sessionId, body.value, res)))) forward(body);
        })
        .catch((error: unknown) => {
          if (!(error instanceof BodyError)) return next(error);
          res.setHeader('Connection', 'close');
          sendError(res, error.status, error.code, error.message);
        });
    };
    withinLimits(matched.route.limit, checkBodyThenForward);
  });

  app.use(serveApp(options.distDir));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found.');
  });

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, app) : http.createServer(app);
  // The push route is Server-Sent Events, not a WebSocket: every upgrade is refused, so
  // ElizaOS's Socket.IO is not reachable through the gateway (only its own socket uses it).
  server.on('upgrade', (_req, socket) => {
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  return {
    server,
    close: () => {
      stopHearing?.();
      stopSharingBudget?.();
      memoriesNotice?.close();
      chatEdge?.close();
      sender?.close();
      push?.close();
      upstream.close().catch(() => {
        // Closing only lets go of idle connections; nothing is left to tell.
      });
      void redis?.close();
    },
  };
}

/** Starts the gateway and resolves once it listens. */
export async function startGateway(options: GatewayOptions, parts: GatewayParts = {}): Promise<Gateway> {
  const { server, close } = createGatewayServer(options, parts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

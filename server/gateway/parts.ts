/**
 * The gateway's parts, made once per gateway in dependency order: each is made from the
 * parts above it, so none refers to one not yet made. app.ts hands them to the handlers;
 * `close` stops them in the reverse order.
 */
import type { Clock } from '../../src/shared/clock';
import { AGENTS_WINDOW_FACTOR, defaultConfig } from '../../src/shared/config';
import { edgeRead } from './budget/budget-door';
import { createUpstreamBudget, type UpstreamBudget } from './budget/upstream-budget';
import { createLimits, type GatewayLimits } from './door/limits';
import { createChatEdge, type ChatEdge } from './edge/chat-edge';
import { createEdge, type Edge } from './edge/edge';
import { createMemoriesNotice, MIN_NOTICE_WINDOW_MS, type MemoriesNotice } from './edge/memories-notice';
import { createSyncRoute, type SyncRoute } from './edge/sync';
import type { GatewayOptions } from './options';
import { unrefClock } from './clock';
import { createMemoryIdentities } from './people/identities';
import { createOwnership, type Ownership } from './people/ownership';
import { createPeople, type People } from './people/people';
import { createPush, type Push } from './push/push';
import { clusterPushLog } from './redis/cluster-push-log';
import { createSharedIdentities } from './redis/shared-identities';
import { createSharedPushLog } from './redis/push-log';
import { createRedisLink, type RedisLink } from './redis/redis';
import { shareUpstreamBudget } from './redis/shared-budget';
import { createSharedEdge } from './redis/shared-edge';
import { createSharedSessions } from './redis/shared-sessions';
import { type ApiProxy, createApiProxy } from './upstream/api-proxy';
import { createHealth, type Health } from './upstream/health';
import { writeBudgetStanding } from './upstream/rate-limit-headers';
import { createSessionBook, type SessionBook } from './upstream/session-book';
import { createSocketSender, heartbeatWithinBudget, isolationWithinBudget, type SocketSender } from './upstream/socket-send';
import { createUpstreamClient, type UpstreamClient } from './upstream/client';
import { createUpstreamSocket, type UpstreamSocket, type UpstreamSocketOptions } from './upstream/upstream-socket';

/** What a caller may hand in instead of what the gateway makes itself (tests: a fake upstream socket, a clock they move). */
export interface GatewayParts {
  /**
   * The gateway's time (default the system's, its timers unref'd): every part reads the time
   * and sets its timers on it (keep-alives, retries, sweeps, exchanges, timeouts), so a test
   * hands in `manualClock()` and moves time on instead of waiting for it.
   */
  clock?: Clock;
  upstreamSocket?: UpstreamSocket;
  /** Makes the upstream socket's connection (a fake in unit tests; default socket.io-client's `io`). */
  connectUpstream?: UpstreamSocketOptions['connect'];
  /** Where the gateway says what changed in its surroundings (Redis up or down); default the console, as `purl: …`. */
  log?: (line: string) => void;
  /** Who asks (tests of other parts: one fixed person); default the identity cookie. */
  people?: People;
  /** Whose sessions are whose (tests of other parts: everyone's own); default the session book, then ElizaOS. */
  ownership?: Ownership;
}

/** The parts every gateway has: the budget, the door's limits, the upstream's HTTP side, the shared edge and health. */
export interface CoreParts {
  budget: UpstreamBudget;
  redis?: RedisLink;
  limits: GatewayLimits;
  /** The one HTTP client to ElizaOS: every request to it goes through its `send`. */
  upstream: UpstreamClient;
  proxy: ApiProxy;
  edge: Edge;
  health: Health;
}

/** The parts of the upstream socket, when push is on: push streams, the session book, socket sends and the chat edge. */
export interface SocketParts {
  upstreamSocket: UpstreamSocket;
  push: Push;
  sender: SocketSender;
  chatEdge: ChatEdge;
  memoriesNotice: MemoriesNotice;
}

export interface Parts extends CoreParts {
  clock: Clock;
  /** Who asks (the identity cookie) and whose sessions are whose. */
  people: People;
  ownership: Ownership;
  /** The sessions the gateway made or learnt: whose messages may go over the socket, and whose chat it may answer. */
  book: SessionBook;
  socket?: SocketParts;
  sync?: SyncRoute;
  close(): void;
}

/** The time and timers of `clock`, as the parts' `now` and `setTimer` options (called through it: a clock's methods may use `this`). */
const timeOf = (clock: Clock) => ({ now: () => clock.now(), setTimer: (callback: () => void, ms: number) => clock.setTimer(callback, ms) });

function makeCore(options: GatewayOptions, given: GatewayParts, clock: Clock): CoreParts & { stopSharingBudget?: () => void } {
  const time = timeOf(clock);
  // Without the embedded server's secret, ElizaOS cannot tell users apart: the gateway is
  // one client to it, every user spends one budget, and the gateway spends it by priority.
  const budget = createUpstreamBudget({ shared: !options.gatewaySecret });
  // Shared state for the instances of a cluster (docs/cluster.md); each part falls back to its own while Redis is down.
  const redis = options.redisUrl
    ? createRedisLink({ url: options.redisUrl, log: given.log ?? ((line) => console.log(`purl: ${line}`)), now: time.now })
    : undefined;
  // In front of a stock ElizaOS the instances spend one budget: they keep one estimate of it.
  const stopSharingBudget = redis && budget.shared && options.sharedBudget ? shareUpstreamBudget(redis, budget, time) : undefined;
  // The edge always runs for the sync route (with GATEWAY_CACHE_TTL=0 it shares only
  // reads under way); the plain shared routes use it when its window is open.
  // Every request to ElizaOS over HTTP goes through this one client (its budget, timeouts, sizes and sentences).
  const upstream = createUpstreamClient({ options, budget, ...time });
  const edge = createEdge({
    ...time,
    ttlMs: options.edgeTtlMs,
    maxBytes: options.edgeMaxBytes,
    budget,
    ...(redis ? { shared: createSharedEdge(redis) } : {}),
    read: edgeRead(upstream, upstream.now),
  });
  return {
    budget,
    ...(redis ? { redis } : {}),
    ...(stopSharingBudget ? { stopSharingBudget } : {}),
    limits: createLimits(options.apiRequestsPerMinute, options.memoryRequestsPerMinute, redis, time.now),
    upstream,
    proxy: createApiProxy(upstream),
    edge,
    health: createHealth({ upstream, ...time }),
  };
}

/** The upstream socket and what rides on it; made only with push on (the socket is push's). */
function makeSocketParts(options: GatewayOptions, given: GatewayParts, clock: Clock, core: CoreParts, book: SessionBook): SocketParts | undefined {
  const { redis } = core;
  const time = timeOf(clock);
  if (!options.push || !options.pushKey) return undefined;
  // Made here, it connects only when the first browser subscribes (or sends).
  const upstreamSocket =
    given.upstreamSocket ??
    createUpstreamSocket({
      upstream: options.upstream,
      ...(options.upstreamApiKey ? { apiKey: options.upstreamApiKey } : {}),
      isIsolated: isolationWithinBudget(core.upstream),
      ...(given.connectUpstream ? { connect: given.connectUpstream } : {}),
      clock,
    });
  const push = createPush({
    key: options.pushKey,
    upstream: upstreamSocket,
    maxStreamsPerClient: options.maxConnectionsPerClient,
    clock,
    ...(redis ? { log: clusterPushLog({ log: createSharedPushLog(redis), state: () => redis.state() }) } : {}),
  });
  // Users' messages over that socket, where they spend nothing of ElizaOS's HTTP budget (server/gateway/upstream/socket-send.ts).
  const sender = createSocketSender({
    upstream: upstreamSocket,
    enabled: options.socketSend,
    book,
    renew: heartbeatWithinBudget(core.upstream),
    ...time,
  });
  // A known session's chat, answered from what that socket heard when that is everything (server/gateway/edge/chat-edge.ts).
  const chatEdge = createChatEdge({
    upstream: upstreamSocket,
    enabled: options.chatEdge,
    channelOf: (sessionId) => book.get(sessionId)?.channelId,
    maxBytes: options.edgeMaxBytes,
    ...time,
  });
  // Every push stream hears when an agent's memories changed, at most once per agent per window.
  const memoriesNotice = createMemoriesNotice({
    windowMs: Math.max(options.edgeTtlMs, MIN_NOTICE_WINDOW_MS),
    send: (agentId, cursor) => push.memoriesChanged(agentId, cursor),
    ...time,
  });
  return { upstreamSocket, push, sender, chatEdge, memoriesNotice };
}

function makeSync(options: GatewayOptions, clock: Clock, core: CoreParts, socket: SocketParts | undefined): SyncRoute | undefined {
  if (!options.syncRoute) return undefined;
  const { budget, edge } = core;
  return createSyncRoute({
    edge,
    memoriesTtlMs: options.edgeTtlMs,
    // The agent list changes rarely: the worker already keeps it ten times longer than memories.
    agentsTtlMs: Math.max(options.edgeTtlMs, options.clientConfig.cacheTtlMs ?? defaultConfig.cacheTtlMs) * AGENTS_WINDOW_FACTOR,
    maxBytes: options.edgeMaxBytes,
    budget,
    standing: (res, client) => writeBudgetStanding(budget, client, res, clock.now()),
    now: () => clock.now(),
    ...(socket ? { chatEdge: socket.chatEdge, onMemoriesChanged: socket.memoriesNotice.changed } : {}),
    // The chat part is the user's own read: counted, and left out (the chat poll then asks itself) while the budget keeps such reads back.
    readOwn: (path, client, signal) => {
      const sending = core.upstream.send({ cost: 'own-read', client, byUser: true, method: 'GET', path, signal });
      return sending.kind === 'refused' ? undefined : sending.answer;
    },
  });
}

/** The people part: identities in memory (and in the data dir's file), shared through Redis with REDIS_URL. */
function makePeople(options: GatewayOptions, given: GatewayParts, clock: Clock, redis: RedisLink | undefined): People {
  const local = createMemoryIdentities({
    clock,
    ...(options.identityFile ? { file: options.identityFile } : {}),
    ...(given.log ? { log: given.log } : {}),
  });
  const store = redis ? createSharedIdentities(redis, local) : local;
  return createPeople({ signIn: options.signIn, store, now: () => clock.now() });
}

/** Makes every part of a gateway with `options`, taking from `given` what a caller handed in. */
export function makeParts(options: GatewayOptions, given: GatewayParts = {}): Parts {
  const clock = given.clock ?? unrefClock;
  const { stopSharingBudget, ...core } = makeCore(options, given, clock);
  const book = createSessionBook({ now: () => clock.now(), ...(core.redis ? { shared: createSharedSessions(core.redis) } : {}) });
  const people = given.people ?? makePeople(options, given, clock, core.redis);
  const ownership = given.ownership ?? createOwnership({ book, upstream: core.upstream });
  const socket = makeSocketParts(options, given, clock, core, book);
  const sync = makeSync(options, clock, core, socket);
  // A message heard on a channel is stored in its agent's memories: the next sync read of them
  // goes upstream (the sync route keeps its one read per window). The agent is the session's,
  // when the gateway made it; else a reply's sender.
  const stopHearing =
    socket && sync
      ? socket.upstreamSocket.onMessage((channelId, message) => {
          const agentId = book.agentOfChannel(channelId) ?? (message.isAgent ? message.authorId : undefined);
          if (agentId !== undefined) sync.markDue(agentId);
        })
      : undefined;
  return {
    ...core,
    clock,
    people,
    ownership,
    book,
    ...(socket ? { socket } : {}),
    ...(sync ? { sync } : {}),
    close: () => {
      stopHearing?.();
      stopSharingBudget?.();
      socket?.memoriesNotice.close();
      socket?.chatEdge.close();
      socket?.sender.close();
      socket?.push.close();
      core.upstream.close().catch(() => {
        // Closing only lets go of idle connections; nothing is left to tell.
      });
      people.close();
      void core.redis?.close();
    },
  };
}

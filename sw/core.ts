/**
 * The worker's network core, assembled and nothing more: each policy lives in its own
 * module (the gate, the budget, the poller, the chat and its reply watch, the health
 * watch, catch-up after an outage, the first visit, push, the commands, the wake loop).
 * Parts are built in the order they need each other; where two need each other, the
 * later one registers with the earlier (`onEvents`, `onSent`, `onRecovered`, the wake
 * loop's `add`). Everything it touches (fetch, caches, IndexedDB, the broadcast, the
 * clock, timers) is injected, so the same core runs in the service worker and in a Node
 * simulation of many browsers.
 */
import { getMeta, type PurlDatabase } from '../src/shared/db';
import { AGENTS_WINDOW_FACTOR, type ConfigOverrides, type PurlConfig } from '../src/shared/config';
import { apiPaths, asksForChat } from '../src/shared/api';
import type { Command, PurlEvent } from '../src/shared/messages';
import type { MetricsSnapshot, PollKind } from '../src/shared/network';
import { createApiReader } from './api-reader';
import { gateStore } from './breaker-store';
import { Budget } from './budget';
import { createCatchUp, createProbeJob } from './catch-up';
import { createChat } from './chat';
import { createChatPoll } from './chat-poll';
import { createCommands } from './commands';
import { createFirstVisit } from './first-visit';
import { createFreshCache } from './fresh-cache';
import { Gate } from './gate';
import { createHealthJob, HealthWatch } from './health';
import { Metrics } from './metrics';
import { createNetwork } from './network';
import { createPoller } from './poller';
import { createPush } from './push';
import { chatPollMs, createPushPolicy, withPush } from './push-policy';
import { createReplyWatch } from './reply-watch';
import { Settings } from './settings';
import { setMeta } from './store';
import { createSync } from './sync';
import { createSyncedChatPoll } from './synced-chat-poll';
import { createWakeLoop } from './wake-loop';

export interface CoreEnvironment {
  origin: string;
  fetch: (request: Request, init: { signal: AbortSignal }) => Promise<Response>;
  getDb: () => Promise<PurlDatabase>;
  broadcast: (event: PurlEvent) => void;
  now: () => number;
  random: () => number;
  randomUUID: () => string;
  /** Reads /config.json (not an API call: it does not go through the queue). */
  loadOverrides: () => Promise<ConfigOverrides>;
  /** Keeps the worker alive for background work started outside a command (revalidations). */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** False while the device is offline (requests failing then are not the server's fault); assumed online when absent. */
  isOnline?: () => boolean;
  /** Starts a timer and returns its canceller (default: setTimeout); the wake loop's waits use it. */
  setTimer?: (callback: () => void, ms: number) => () => void;
}

/** How far ahead the worker waits, inside one event, for something that falls due. */
const LOOKAHEAD_MS = 5_000;
const POLL_KINDS: readonly PollKind[] = ['memories', 'chat'];
/** How long a Background Sync event waits for the next message's turn before leaving it to the next event. */
const SYNC_MAX_WAIT_MS = 10_000;

export interface Core {
  handle(command: Command): Promise<void>;
  /** Any other event: run what is due. */
  tick(): Promise<void>;
  /** A Background Sync event: send what waits in the outbox; rejects while messages still wait. */
  drainOutbox(): Promise<void>;
  config(): PurlConfig;
}

export function createCore(env: CoreEnvironment): Core {
  const { now, getDb, broadcast } = env;
  const isOnline = () => env.isOnline?.() ?? true;
  const track = (promise: Promise<unknown>) => env.waitUntil?.(promise);
  const settings = new Settings(env.loadOverrides);
  const config = () => settings.config();
  const push = createPush({ getDb, now });
  const baseMs = (kind: PollKind) => (kind === 'chat' ? chatPollMs(push.isUp(), config().chatPollMs) : config().memoriesPollMs);
  const baseIntervals = () => ({ memories: baseMs('memories'), chat: baseMs('chat') });

  const metrics = new Metrics({
    now,
    publish: async (snapshot: MetricsSnapshot) => {
      await setMeta(await getDb(), 'metrics', snapshot);
      broadcast({ type: 'metrics', snapshot });
    },
  });
  const reportMode = () => metrics.mode(settings.highLoad, baseIntervals(), config().maxConcurrent);

  const gate = new Gate({ now, random: env.random }, { threshold: config().breakerThreshold, timeoutMs: config().breakerTimeoutMs });
  const budget = new Budget({
    now,
    random: env.random,
    baseIntervals,
    save: (info) =>
      track(
        getDb()
          .then((db) => setMeta(db, 'rateLimit', info))
          .catch(() => undefined),
      ),
  });
  const send = createNetwork({ fetch: env.fetch, now, gate, budget, metrics, config, isOnline });
  const cache = createFreshCache({
    load: async () => getMeta(await getDb(), 'answers'),
    save: async (stamps) => setMeta(await getDb(), 'answers', stamps),
    send,
    now,
    onLookup: (hit) => metrics.cacheLookup(hit),
  });
  const sync = createSync({
    getDb,
    fetchApi: createApiReader({
      cache,
      origin: env.origin,
      ttlMs: (path) => (asksForChat(path) ? 0 : config().cacheTtlMs * (path === apiPaths.agents ? AGENTS_WINDOW_FACTOR : 1)),
    }),
    offersSyncRoute: () => settings.offersSyncRoute,
    broadcast,
    now,
  });

  const loop = createWakeLoop({ now, lookaheadMs: LOOKAHEAD_MS, ...(env.setTimer ? { setTimer: env.setTimer } : {}) });
  const requestRound = () => track(loop.tick());
  const chat = createChat({
    getDb,
    send,
    origin: env.origin,
    broadcast,
    now,
    random: env.random,
    randomUUID: env.randomUUID,
    minIntervalMs: () => config().messageMinIntervalMs,
    notBefore: () => gate.notBefore('message'),
  });
  const replyWatch = createReplyWatch({ now, awaitingReply: (windowMs) => chat.awaitingReply(windowMs) });
  const pollChat = createChatPoll({ chat, replyWatch, getDb, broadcast, now });
  const pollChatWithMemories = createSyncedChatPoll({ carriesChat: () => settings.syncCarriesChat, chat, sync, pollChat });
  const poller = createPoller<undefined>({
    getDb,
    now,
    random: env.random,
    options: async (kind) => withPush(kind, budget.scheduleOptions(kind), push.isUp(), config().chatPollMs),
    run: (kind, _context, polls) => (kind === 'chat' ? pollChatWithMemories(polls) : sync.refresh('memories')),
    // The chat is polled once there is a session with the agent.
    kinds: async () => ((await chat.hasSession()) ? POLL_KINDS : ['memories']),
    // The memories poll reads what the gateway's edge answers, which a hold on what costs
    // the upstream does not keep back (sw/gate.ts); the chat poll waits for it.
    notBefore: async (kind) => gate.notBefore(kind === 'memories' ? 'shared-read' : 'own-read'),
    isOnline,
    onInterval: (kind, ms) => metrics.pollInterval(kind, ms),
  });
  const catchUp = createCatchUp({ poller, baseMs, retryOutbox: () => chat.retryNow(), now, requestRound });
  gate.onRecovered(() => track(catchUp()));

  const pushPolicy = createPushPolicy({
    now,
    isUp: () => push.isUp(),
    baseMs,
    chat,
    pollChat,
    replyWatch,
    poller,
    sync,
    expireSync: (agentId) => cache.expire(new URL(apiPaths.sync(agentId), env.origin).href),
    gate,
    catchUp,
    onView: (view) => metrics.push(view),
    onCadence: reportMode,
    requestRound,
    track,
  });
  push.onEvents(pushPolicy.listener);
  chat.onSent(pushPolicy.messageSent);

  /** When the outbox has more to do, as its last drain said. */
  let outboxAt = Number.POSITIVE_INFINITY;
  const drainOutbox = async () => {
    outboxAt = (await chat.drain()) ?? Number.POSITIVE_INFINITY;
  };
  const health = new HealthWatch({ fetch: env.fetch, url: new URL('/health', env.origin).href, now });
  loop.add(
    { name: 'outbox', runsOnEvent: true, dueAt: () => outboxAt, run: drainOutbox },
    {
      name: 'polls',
      runsOnEvent: true,
      // A poll due while the gate is shut is due when it opens, not before (each kind's hold is in nextDueAt).
      dueAt: async () => Math.max((await poller.nextDueAt()) ?? now(), gate.notBefore('shared-read')),
      run: () => poller.tick(undefined),
    },
    createHealthJob({ watch: health, gate, now, isOnline, cadence: () => poller.cadence(), catchUp }),
    createProbeJob({ poller, breaker: () => gate.view(), baseMs, now }),
  );

  let loading: Promise<PurlDatabase> | null = null;
  function load(): Promise<PurlDatabase> {
    loading ??= (async () => {
      const db = await getDb();
      await settings.load(db);
      const restored = await getMeta(db, 'metrics');
      if (restored) metrics.restore(restored);
      // The stream lives in a tab and outlives this worker: its state is the one last published.
      push.restore(restored?.push);
      reportMode();
      const { breakerThreshold: threshold, breakerTimeoutMs: timeoutMs } = config();
      await gate.restore(gateStore(db, { threshold, timeoutMs }, { track }));
      gate.breaker.onTransition(() => metrics.breaker(gate.view()));
      metrics.breaker(gate.view());
      budget.restore(await getMeta(db, 'rateLimit'));
      return db;
    })().catch((error: unknown) => {
      loading = null;
      throw error;
    });
    return loading;
  }
  async function tick(): Promise<void> {
    await load();
    return loop.tick();
  }

  const firstVisit = createFirstVisit({
    hasSucceeded: async () => (await getMeta(await getDb(), 'sync'))?.succeededAt !== undefined,
    refresh: () => sync.refresh('user'),
  });
  const handle = createCommands({
    load,
    tick,
    firstVisit,
    drainOutbox,
    reportMode,
    settings,
    poller,
    sync,
    chat,
    push,
    broadcast,
    now,
    waitUntil: env.waitUntil,
  });

  return {
    handle,
    tick,
    config,
    drainOutbox: async () => {
      await load();
      await chat.drainForSync(SYNC_MAX_WAIT_MS);
    },
  };
}

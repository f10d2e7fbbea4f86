/**
 * The worker's network core, assembled and nothing more: each policy lives in its own
 * module (the gate, the budget, the poller, the chat and its reply watch, the health
 * watch, catch-up after an outage, the first visit, the wake loop). Everything it touches
 * (fetch, caches, IndexedDB, the broadcast, the clock, timers) is injected, so the same
 * core runs in the service worker and in a Node simulation of many browsers.
 */
import { getMeta, type PurlDatabase } from '../src/shared/db';
import { AGENTS_WINDOW_FACTOR, type ConfigOverrides, type PurlConfig } from '../src/shared/config';
import { apiPaths, asksForChat } from '../src/shared/api';
import { isSharedRead } from '../src/shared/budget';
import { isQuotaExceeded } from '../src/shared/errors';
import type { Command, PurlEvent } from '../src/shared/messages';
import type { MetricsSnapshot, PollKind } from '../src/shared/network';
import { untrustedAnswer } from './answer-check';
import { createApiReader } from './api-reader';
import { gateStore } from './breaker-store';
import { Budget, readUpstreamFigures } from './budget';
import { createCatchUp, createProbeJob } from './catch-up';
import { createChat } from './chat';
import { createChatPoll } from './chat-poll';
import { createFirstVisit } from './first-visit';
import { createFreshCache } from './fresh-cache';
import { Gate } from './gate';
import { createGuard } from './guard';
import { createHealthJob, HealthWatch } from './health';
import { Metrics } from './metrics';
import { createPoller, type PollResult } from './poller';
import { createPush } from './push';
import { RequestQueue } from './queue';
import { createReplyWatch } from './reply-watch';
import { Settings } from './settings';
import { setMeta } from './store';
import { createSync } from './sync';
import { createWakeLoop, type WakeJob } from './wake-loop';

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

/** Most polls and revalidations waiting at once; user actions are never dropped. */
const MAX_PENDING = 20;
/** How far ahead the worker waits, inside one event, for something that falls due. */
const LOOKAHEAD_MS = 5_000;
const POLL_KINDS: readonly PollKind[] = ['memories', 'chat'];
/** How long a Background Sync event waits for the next message's turn before leaving it to the next event. */
const SYNC_MAX_WAIT_MS = 10_000;
/** The chat poll while push brings the replies: a safety net for anything the stream missed. */
export const PUSH_SAFETY_NET_MS = 60_000;

export interface Core {
  handle(command: Command): Promise<void>;
  /** Any other event: run what is due. */
  tick(): Promise<void>;
  /** A Background Sync event: send what waits in the outbox; rejects while messages still wait. */
  drainOutbox(): Promise<void>;
  config(): PurlConfig;
}

export function createCore(env: CoreEnvironment): Core {
  const { now } = env;
  const isOnline = () => env.isOnline?.() ?? true;
  const track = (promise: Promise<unknown>) => env.waitUntil?.(promise);
  const settings = new Settings(env.loadOverrides);
  const config = () => settings.config();
  const chatPollMs = () => (push.isUp() ? Math.max(PUSH_SAFETY_NET_MS, config().chatPollMs) : config().chatPollMs);
  const baseMs = (kind: PollKind) => (kind === 'chat' ? chatPollMs() : config().memoriesPollMs);
  let loading: Promise<PurlDatabase> | null = null;

  const metrics = new Metrics({
    now,
    publish: async (snapshot: MetricsSnapshot) => {
      await setMeta(await env.getDb(), 'metrics', snapshot);
      env.broadcast({ type: 'metrics', snapshot });
    },
  });
  const reportMode = () => {
    const { maxConcurrent } = config();
    metrics.mode(settings.highLoad, { memories: baseMs('memories'), chat: baseMs('chat') }, maxConcurrent);
  };

  const gate = new Gate({ now, random: env.random }, { threshold: config().breakerThreshold, timeoutMs: config().breakerTimeoutMs });
  const budget = new Budget({
    now,
    random: env.random,
    baseIntervals: () => ({ memories: baseMs('memories'), chat: baseMs('chat') }),
    save: (info) =>
      track(
        env
          .getDb()
          .then((db) => setMeta(db, 'rateLimit', info))
          .catch(() => undefined),
      ),
  });
  const guard = createGuard({
    fetch: env.fetch,
    now,
    gate,
    onSent: () => metrics.sent(),
    onAnswer: (status, headers, { request, response }) =>
      metrics.answered(
        status,
        budget.observe(headers, now(), isSharedRead(request.method, request.url) ? 'memories' : 'chat'),
        readUpstreamFigures(response.headers, now()),
      ),
    onFailure: () => metrics.failed(),
    onBadAnswer: () => metrics.badAnswer(),
    check: untrustedAnswer,
    isOnline,
  });
  const queue = new RequestQueue({
    maxConcurrent: () => config().maxConcurrent,
    maxPending: MAX_PENDING,
    // Read as each request starts: /config.json (FRONTEND_REQUEST_TIMEOUT) is loaded after the queue is made.
    timeoutMs: () => config().requestTimeoutMs,
    send: guard,
    onChange: (stats) => metrics.queue(stats),
  });
  const send = (request: Request, priority: Parameters<RequestQueue['enqueue']>[1]) => queue.enqueue(request, priority);
  const cache = createFreshCache({
    load: async () => getMeta(await env.getDb(), 'answers'),
    save: async (stamps) => setMeta(await env.getDb(), 'answers', stamps),
    send,
    now,
    onLookup: (hit) => metrics.cacheLookup(hit),
  });
  const sync = createSync({
    getDb: env.getDb,
    fetchApi: createApiReader({
      cache,
      origin: env.origin,
      ttlMs: (path) => (asksForChat(path) ? 0 : config().cacheTtlMs * (path === apiPaths.agents ? AGENTS_WINDOW_FACTOR : 1)),
    }),
    offersSyncRoute: () => settings.offersSyncRoute,
    broadcast: env.broadcast,
    now,
  });

  const chat = createChat({
    getDb: env.getDb,
    send,
    origin: env.origin,
    broadcast: env.broadcast,
    now,
    random: env.random,
    randomUUID: env.randomUUID,
    minIntervalMs: () => config().messageMinIntervalMs,
    notBefore: () => gate.notBefore('message'),
    // With push up the reply comes as it is made: no poll is brought forward for it.
    onSent: async () => {
      if (!push.isUp()) await poller.expedite('chat', replyWatch.sent(), baseMs('chat'));
    },
  });
  const replyWatch = createReplyWatch({ now, awaitingReply: (windowMs) => chat.awaitingReply(windowMs) });
  const pollChat = createChatPoll({ chat, replyWatch, getDb: env.getDb, broadcast: env.broadcast, now });

  const poller = createPoller<undefined>({
    getDb: env.getDb,
    now,
    random: env.random,
    // While push brings the replies, the chat poll is a plain safety net: not stretched further when nothing changes.
    // Once it fails, it is retried as the chat poll without push would be (its backoff starts from the normal interval).
    options: async (kind) =>
      kind === 'chat' && push.isUp()
        ? { ...budget.scheduleOptions(kind), unchangedStep: 1, maxStretch: 1, errorBaseMs: config().chatPollMs }
        : budget.scheduleOptions(kind),
    run: (kind) => (kind === 'chat' ? pollChatWithMemories() : sync.refresh('memories')),
    // The chat is polled once there is a session with the agent.
    kinds: async () => ((await chat.hasSession()) ? POLL_KINDS : ['memories']),
    // The memories poll reads what the gateway's edge answers, which a hold on what costs
    // the upstream does not keep back (sw/gate.ts); the chat poll waits for it.
    notBefore: async (kind) => gate.notBefore(kind === 'memories' ? 'shared-read' : 'own-read'),
    isOnline,
    onInterval: (kind, ms) => metrics.pollInterval(kind, ms),
  });

  /**
   * The chat poll, through the sync route when the gateway's edge answers its shared part
   * (`syncChat`): the same one request then brings what changed in the memories too, at no
   * cost upstream, so while a chat is open the memories need no poll of their own (one
   * request a poll). Without the edge (the embedded server's default) each sync reads the
   * agent list and the memories upstream: three requests of the user's budget a chat poll
   * instead of one, which stretched the chat poll to 28 s in the own-agent e2e; the chat
   * poll then reads its own route. The chat is read exactly as often as its own poll says,
   * never riding along on the memories' poll: that poll is not stretched by the user's
   * share and the chat's is (the edge bench measured 1.22× the upstream requests at 50
   * users that way).
   */
  async function pollChatWithMemories(): Promise<PollResult> {
    if (!settings.syncCarriesChat) return pollChat();
    const session = await chat.session();
    let synced: Awaited<ReturnType<typeof sync.refreshWithChat>>;
    try {
      synced = session && (await sync.refreshWithChat(session, 'memories'));
    } catch (error) {
      await poller.notePolled('memories', 'error');
      return pollChat.failed(error);
    }
    if (!session || !synced) return pollChat();
    await poller.notePolled('memories', synced.outcome);
    // Left out by the gateway (its budget keeps such reads back): the chat route says why.
    return synced.chat ? pollChat.deliver(session, synced.chat) : pollChat();
  }

  const push = createPush({
    getDb: env.getDb,
    now,
    session: () => chat.session(),
    receive: async (messages) => {
      await chat.receive(messages);
      // The banner says replies are not arriving while the chat poll fails; a pushed one proves they are again.
      await pollChat.replyArrived();
    },
    readChat: async () => {
      await poller.expedite('chat', now(), baseMs('chat'));
      track(loop.tick());
    },
    // The memories poll made due now brings the change in one request (a delta from the stored cursor).
    memoriesChanged: async (agentId, cursor) => {
      if (!(await sync.isBehind(agentId, cursor))) return;
      // What the last sync brought is out of date, however recent: the poll must ask.
      await cache.expire(new URL(apiPaths.sync(agentId), env.origin).href);
      await poller.expedite('memories', now(), baseMs('memories'));
      track(loop.tick());
    },
    onChange: (view, previous) => {
      metrics.push(view);
      if (view.state === previous.state) return;
      reportMode();
      if (view.state === 'up') track(pushUp());
      else if (previous.state === 'up') track(pushDown());
    },
  });
  /** The gateway reached ElizaOS over its socket: the server is there, so what waits for it goes now. */
  async function pushUp(): Promise<void> {
    if (gate.failingSince() !== undefined) gate.serverBack(now());
    await catchUp();
  }
  /** No more replies by push: the chat poll's own cadence returns at once, not after the safety net's minute. */
  async function pushDown(): Promise<void> {
    if (await chat.hasSession()) await poller.expedite('chat', now() + baseMs('chat'), baseMs('chat'));
    track(loop.tick());
  }

  const health = new HealthWatch({ fetch: env.fetch, url: new URL('/health', env.origin).href, now });
  const catchUp = createCatchUp({ poller, baseMs, retryOutbox: () => chat.retryNow(), now, requestRound: () => track(loop.tick()) });
  gate.onRecovered(() => track(catchUp()));
  const firstVisit = createFirstVisit({
    hasSucceeded: async () => (await getMeta(await env.getDb(), 'sync'))?.succeededAt !== undefined,
    refresh: () => sync.refresh('user'),
  });

  /** When the outbox has more to do, as its last drain said. */
  let outboxAt = Number.POSITIVE_INFINITY;
  const drainOutbox = async () => {
    outboxAt = (await chat.drain()) ?? Number.POSITIVE_INFINITY;
  };
  const jobs: WakeJob[] = [
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
  ];
  const loop = createWakeLoop({ now, jobs, lookaheadMs: LOOKAHEAD_MS, ...(env.setTimer ? { setTimer: env.setTimer } : {}) });

  function load(): Promise<PurlDatabase> {
    loading ??= (async () => {
      const db = await env.getDb();
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

  async function setHighLoad(on: boolean): Promise<void> {
    const db = await load();
    await settings.setHighLoad(db, on);
    reportMode();
    env.broadcast({ type: 'data-changed', stores: ['meta'] });
    // The monitor shows the intervals of the new mode at once.
    await poller.nextDueAt();
  }

  async function tick(): Promise<void> {
    await load();
    return loop.tick();
  }

  /**
   * Runs a command. When it failed because the browser has no room left, every tab is
   * told (the failure cannot be written to IndexedDB, where tabs read everything else).
   */
  async function handle(command: Command): Promise<void> {
    try {
      await run(command);
    } catch (error) {
      if (isQuotaExceeded(error)) env.broadcast({ type: 'storage-full' });
      throw error;
    }
  }

  async function run(command: Command): Promise<void> {
    switch (command.type) {
      case 'heartbeat':
        await load();
        await firstVisit();
        await poller.noteTab({ tabId: command.tabId, visible: command.visible, active: command.active, seenAt: now() });
        return tick();
      case 'tab-closed':
        await load();
        return poller.forgetTab(command.tabId);
      case 'refresh':
        // Sent when the device comes back online (or the user asks): messages waiting out a
        // backoff go now too, not when it ends.
        await load();
        await Promise.all([sync.refresh('user').catch(() => undefined), chat.retryNow()]);
        return tick();
      case 'select-agent':
        await load();
        return sync.selectAgent(command.agentId);
      case 'send-message': {
        await load();
        await chat.enqueue(command);
        // The page is answered once the message is saved; sending goes on in the background.
        // Drained at once as well: the loop may be waiting on a slow poll before it drains again.
        const sending = Promise.all([drainOutbox(), tick()]).catch(() => {
          // The outbox item records a failed attempt; the next heartbeat's tick runs (and reports) the rest.
        });
        env.waitUntil?.(sending);
        return;
      }
      case 'discard-message':
        await load();
        return chat.discard(command.clientId);
      case 'open-chat':
        await load();
        await chat.openSession(command.agentId, 'user').catch(() => undefined);
        return tick();
      case 'set-high-load':
        return setHighLoad(command.on);
      case 'skip-waiting':
        return;
      case 'push': {
        await load();
        await push.handle(command);
        // The holding tab is answered once the event is applied (it sends the next one then,
        // and sends this one again if no answer comes): the polls it brings due run on.
        const running = tick().catch((error: unknown) => {
          // Not the event's failure (it is applied), but every tab must still hear of a full disk.
          if (isQuotaExceeded(error)) env.broadcast({ type: 'storage-full' });
        });
        env.waitUntil?.(running);
        return;
      }
      default: {
        const unhandled: never = command;
        throw new Error(`unhandled command ${JSON.stringify(unhandled)}`);
      }
    }
  }

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

/**
 * The worker's network core, assembled: config, breaker, queue, freshness cache,
 * guard, poller, sync and metrics. Everything it touches (fetch, caches, IndexedDB,
 * the broadcast, the clock) is injected, so the same core runs in the service worker
 * and in a Node simulation of many browsers.
 */
import type { PurlDatabase, SyncStatus } from '../src/shared/db';
import { getMeta } from '../src/shared/db';
import { resolveConfig, type ConfigOverrides, type PurlConfig } from '../src/shared/config';
import { apiPaths } from '../src/shared/api';
import { isQuotaExceeded } from '../src/shared/errors';
import type { Command, PurlEvent } from '../src/shared/messages';
import type { MetricsSnapshot, PollKind, TabState } from '../src/shared/network';
import { untrustedAnswer } from './answer-check';
import { createApiReader } from './api-reader';
import type { CircuitBreaker } from './breaker';
import { loadBreaker, persistTransitions } from './breaker-store';
import { createFreshCache } from './fresh-cache';
import { createGuard } from './guard';
import { Metrics } from './metrics';
import { createPoller } from './poller';
import { RequestQueue } from './queue';
import { BucketShare, stretchForBudget } from './rate-limit';
import { cadenceOf, effectiveInterval, scheduleDefaults, type ScheduleOptions } from './schedule';
import { setMeta } from './store';
import { createChat } from './chat';
import { createSync, describeChatPollFailure } from './sync';

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
}

/** The agent list changes rarely: it may be this many times older than the memories. */
const AGENTS_TTL_FACTOR = 10;
/** Requests each poll spends (memories: the agent list and the memories), for budget stretching. */
const REQUESTS_PER_POLL: Readonly<Record<PollKind, number>> = { memories: 2, chat: 1 };
/** Most polls and revalidations waiting at once; user actions are never dropped. */
const MAX_PENDING = 20;
/** How far ahead the worker waits for a poll that falls due between two heartbeats. */
const LOOKAHEAD_MS = 5_000;
/** After a message is sent, the chat is polled this soon (the agent answers in about a second). */
const REPLY_POLL_DELAY_MS = 1_000;
/** While a reply is awaited, an empty chat poll is repeated this often, this many times at most. */
const REPLY_RECHECK_MS = 1_000;
const REPLY_RECHECKS = 4;
/** How long after the user's message a reply counts as awaited. */
const REPLY_WINDOW_MS = 20_000;
const POLL_KINDS: readonly PollKind[] = ['memories', 'chat'];
/** How long a Background Sync event waits for the next message's turn before leaving it to the next event. */
const SYNC_MAX_WAIT_MS = 10_000;

interface Loaded {
  db: PurlDatabase;
  breaker: CircuitBreaker;
  overrides: ConfigOverrides;
}

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
  let highLoad = false;
  let retryAt = 0;
  let overrides: ConfigOverrides = {};
  let loading: Promise<Loaded> | null = null;
  let breakerRef: CircuitBreaker | undefined;

  const config = (): PurlConfig => resolveConfig(overrides, highLoad);
  const reportMode = () => {
    const { memoriesPollMs, chatPollMs, maxConcurrent } = config();
    metrics.mode(highLoad, { memories: memoriesPollMs, chat: chatPollMs }, maxConcurrent);
  };

  const metrics = new Metrics({
    now,
    publish: async (snapshot: MetricsSnapshot) => {
      const db = await env.getDb();
      await setMeta(db, 'metrics', snapshot);
      env.broadcast({ type: 'metrics', snapshot });
    },
  });

  /** How many clients spend this browser's rate-limit bucket (everyone behind one NAT shares one). */
  const bucketShare = new BucketShare();
  const guard = createGuard({
    fetch: env.fetch,
    now,
    random: env.random,
    breaker: () => breakerRef!,
    retryAt: () => retryAt,
    setRetryAt: (at) => {
      retryAt = at;
      void env.getDb().then((db) => setMeta(db, 'retryAt', at)).catch(() => undefined);
    },
    onSent: () => metrics.sent(),
    onAnswer: (status, headers) => {
      const sharers = bucketShare.observe(headers, now());
      const rateLimit = sharers === undefined ? headers : { ...headers, sharers };
      metrics.answered(status, rateLimit);
      if (Object.keys(rateLimit).length > 0) {
        void env.getDb().then(async (db) => setMeta(db, 'rateLimit', { ...((await getMeta(db, 'rateLimit')) ?? {}), ...rateLimit })).catch(() => undefined);
      }
    },
    onFailure: () => metrics.failed(),
    onBadAnswer: () => metrics.badAnswer(),
    check: untrustedAnswer,
    isOnline: () => env.isOnline?.() ?? true,
  });

  const queue = new RequestQueue({
    maxConcurrent: () => config().maxConcurrent,
    maxPending: MAX_PENDING,
    // Read as each request starts: /config.json (FRONTEND_REQUEST_TIMEOUT) is loaded after the queue is made.
    timeoutMs: () => config().requestTimeoutMs,
    send: guard,
    onChange: (stats) => metrics.queue(stats),
  });

  const cache = createFreshCache({
    load: async () => getMeta(await env.getDb(), 'answers'),
    save: async (stamps) => setMeta(await env.getDb(), 'answers', stamps),
    send: (request, priority) => queue.enqueue(request, priority),
    now,
    onLookup: (hit) => metrics.cacheLookup(hit),
  });

  const sync = createSync({
    getDb: env.getDb,
    fetchApi: createApiReader({
      cache,
      origin: env.origin,
      ttlMs: (path) => config().cacheTtlMs * (path === apiPaths.agents ? AGENTS_TTL_FACTOR : 1),
    }),
    broadcast: env.broadcast,
    now,
  });

  /** Epoch ms before which nothing can leave: the server's Retry-After, or the breaker's next probe. */
  function notBefore(): number {
    const view = breakerRef?.view(now());
    const probeAt = view && view.state !== 'closed' ? view.nextProbeAt : 0;
    return Math.max(retryAt, probeAt);
  }

  const chat = createChat({
    getDb: env.getDb,
    send: (request, priority) => queue.enqueue(request, priority),
    origin: env.origin,
    broadcast: env.broadcast,
    now,
    random: env.random,
    randomUUID: env.randomUUID,
    minIntervalMs: () => config().messageMinIntervalMs,
    notBefore,
    onSent: () => poller.expedite('chat', now() + REPLY_POLL_DELAY_MS, config().chatPollMs),
  });

  /**
   * The chat poll; while the agent's reply to the user's last message is still missing,
   * an empty answer is checked again a second later (a few times), so a slow reply does
   * not wait for a stretched interval.
   */
  async function pollChat(): Promise<'changed' | 'unchanged'> {
    try {
      for (let recheck = 0; ; recheck += 1) {
        const outcome = await chat.poll();
        if (outcome === 'changed' || recheck >= REPLY_RECHECKS || !(await chat.awaitingReply(REPLY_WINDOW_MS))) {
          await recordChatPoll(undefined);
          return outcome;
        }
        await new Promise((resolve) => setTimeout(resolve, REPLY_RECHECK_MS));
      }
    } catch (error) {
      await recordChatPoll(error).catch(() => undefined);
      throw error;
    }
  }

  /** The chat poll's error as last written to IndexedDB; read from there once per worker start. */
  let chatPollError: { sentence: string | undefined } | undefined;

  /**
   * Keeps the chat poll's outcome in IndexedDB for the banner, written only when it
   * changes (a failure starts or ends, or its reason changes), not on every poll.
   */
  async function recordChatPoll(error: unknown): Promise<void> {
    const db = await env.getDb();
    const sentence = error === undefined ? undefined : describeChatPollFailure(error);
    chatPollError ??= { sentence: (await getMeta(db, 'chatPoll'))?.error };
    if (chatPollError.sentence === sentence) return;
    chatPollError = { sentence };
    const status: SyncStatus = { attemptedAt: now() };
    if (sentence === undefined) status.succeededAt = status.attemptedAt;
    else status.error = sentence;
    await setMeta(db, 'chatPoll', status);
    env.broadcast({ type: 'data-changed', stores: ['meta'] });
  }

  function load(): Promise<Loaded> {
    loading ??= (async () => {
      const db = await env.getDb();
      overrides = await env.loadOverrides();
      highLoad = (await getMeta(db, 'highLoad')) ?? false;
      retryAt = (await getMeta(db, 'retryAt')) ?? 0;
      const restored = await getMeta(db, 'metrics');
      if (restored) metrics.restore(restored);
      reportMode();
      const { breakerThreshold: threshold, breakerTimeoutMs: timeoutMs } = config();
      const breaker = await loadBreaker(db, { threshold, timeoutMs });
      persistTransitions(breaker, db, { track: (write) => env.waitUntil?.(write) });
      let wasOpen = breaker.view(now()).state !== 'closed';
      breaker.onTransition((snapshot) => {
        metrics.breaker(breaker.view(now()));
        if (wasOpen && snapshot.state === 'closed') {
          const caughtUp = catchUpAfterOutage();
          env.waitUntil?.(caughtUp);
        }
        wasOpen = snapshot.state === 'open';
      });
      metrics.breaker(breaker.view(now()));
      breakerRef = breaker;
      return { db, breaker, overrides };
    })().catch((error: unknown) => {
      loading = null;
      throw error;
    });
    return loading;
  }

  /**
   * A poll's options, its base interval stretched when the budget runs low. What this
   * browser spends per interval of `kind` counts every poll (a memories interval holds
   * twelve chat polls), so all polls together fit the share of the budget left to it.
   */
  function scheduleOptions(kind: PollKind, rateLimit: Parameters<typeof stretchForBudget>[1]): ScheduleOptions {
    const { memoriesPollMs, chatPollMs } = config();
    const bases: Record<PollKind, number> = { memories: memoriesPollMs, chat: chatPollMs };
    const base = bases[kind];
    const requestsPerPoll = POLL_KINDS.reduce((sum, other) => sum + (REQUESTS_PER_POLL[other] * base) / bases[other], 0);
    // Read back from IndexedDB: a value out of range counts as this browser alone.
    const sharers = rateLimit?.sharers ?? 1;
    return {
      ...scheduleDefaults,
      baseMs: stretchForBudget(base, rateLimit, now(), { requestsPerPoll, sharers: Number.isFinite(sharers) && sharers >= 1 ? sharers : 1 }),
      random: env.random,
    };
  }

  const poller = createPoller<void>({
    getDb: env.getDb,
    now,
    random: env.random,
    options: async (kind) => scheduleOptions(kind, await getMeta(await env.getDb(), 'rateLimit')),
    run: async (kind) => (kind === 'chat' ? pollChat() : sync.refresh('memories')),
    // The chat is polled once there is a session with the agent.
    kinds: async () => ((await chat.hasSession()) ? POLL_KINDS : ['memories']),
    notBefore: async () => notBefore(),
  });

  /** Records the interval in force for each poll, for the monitor. */
  async function recordIntervals(db: PurlDatabase): Promise<number> {
    const schedules = (await getMeta(db, 'schedules')) ?? {};
    const tabs = Object.values((await getMeta(db, 'tabs')) ?? {});
    const cadence = cadenceOf(tabs, now());
    const rateLimit = await getMeta(db, 'rateLimit');
    let soonest = Infinity;
    for (const kind of POLL_KINDS) {
      const schedule = schedules[kind];
      if (!schedule) continue;
      const options = scheduleOptions(kind, rateLimit);
      const interval = effectiveInterval(schedule, cadence, options);
      metrics.pollInterval(kind, interval);
      soonest = Math.min(soonest, schedule.nextDueAt - schedule.intervalMs + interval);
    }
    return Math.max(soonest, retryAt);
  }

  let ticking: Promise<void> | null = null;
  /** A tick arrived while the loop ran: it looks again instead of waiting. */
  let rerunRequested = false;
  /** Ends the loop's wait early, while it waits. */
  let wake: (() => void) | undefined;

  /**
   * Runs what is due, then, while a poll falls due within the lookahead, waits for it
   * inside the same event (timers alone are unreliable in a worker: they die with it).
   * A tick that arrives meanwhile (a typed message, the server back) cuts the wait short.
   */
  async function tickLoop(): Promise<void> {
    const { db } = await load();
    for (;;) {
      rerunRequested = false;
      const [outboxAt] = await Promise.all([chat.drain(), poller.tick()]);
      const nextAt = Math.min(await recordIntervals(db), outboxAt ?? Infinity);
      if (rerunRequested) continue;
      const wait = nextAt - now();
      if (!(wait <= LOOKAHEAD_MS)) {
        // Cleared in the same step as the last rerun check, so no tick is merged into a loop that has ended.
        ticking = null;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wake = undefined;
          resolve();
        }, Math.max(wait, 50));
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
  }

  function tick(): Promise<void> {
    if (ticking) {
      rerunRequested = true;
      wake?.();
      return ticking;
    }
    const run = tickLoop().catch((error: unknown) => {
      if (ticking === run) ticking = null;
      throw error;
    });
    ticking = run;
    return run;
  }

  /**
   * The breaker closed after an outage (a probe got an answer): the polls run now, at
   * their base interval, and waiting messages are sent now, instead of after the backoff
   * the outage built up, so saved data, the outbox and the banner catch up as soon as the
   * server is back.
   */
  async function catchUpAfterOutage(): Promise<void> {
    try {
      // Polls refused while the probe was out finish first, so their backoff does not undo this.
      await poller.tick(undefined);
      const { memoriesPollMs, chatPollMs } = config();
      await Promise.all([poller.expedite('memories', now(), memoriesPollMs), poller.expedite('chat', now(), chatPollMs), chat.retryNow()]);
      await tick();
    } catch {
      // The next heartbeat runs what is due anyway; catching up early is a courtesy.
    }
  }

  async function onHeartbeat(tab: TabState): Promise<void> {
    const { db } = await load();
    // A browser's very first visit shows data at once rather than at its first poll.
    if ((await getMeta(db, 'sync'))?.succeededAt === undefined) await sync.refresh('user').catch(() => undefined);
    await poller.onHeartbeat(tab, undefined);
    await tick();
  }

  async function setHighLoad(on: boolean): Promise<void> {
    const { db } = await load();
    highLoad = on;
    await setMeta(db, 'highLoad', on);
    reportMode();
    env.broadcast({ type: 'data-changed', stores: ['meta'] });
    await recordIntervals(db);
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
        return onHeartbeat({ tabId: command.tabId, visible: command.visible, active: command.active, seenAt: now() });
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
        const sending = Promise.all([chat.drain(), tick()]).catch(() => {
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


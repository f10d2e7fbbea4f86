/**
 * One simulated Purl user: the worker's real network core (sw/core.ts) running in Node
 * with its own IndexedDB (fake-indexeddb, a database of its own) and its own loopback
 * source address, driven the way a page drives it: a heartbeat every 5 s from one
 * visible, active tab, the chat opened, and a message typed about once a minute.
 */
// Each simulated browser's IndexedDB: fake-indexeddb, one database per user.
import 'fake-indexeddb/auto';
import { randomUUID } from 'node:crypto';
import { EventSource } from 'eventsource';
import { listChat, openPurlDB, type PurlDatabase } from '../../src/shared/db';
import type { Command, PurlEvent } from '../../src/shared/messages';
import { getMeta } from '../../src/shared/db';
import { createPushHolder, type PushHolder, pushTarget, type Stream } from '../../src/link/push';
import { createOverridesSource } from '../../sw/config-source';
import { createCore, type Core } from '../../sw/core';
import { fetchFrom, type WireBytes } from './source-fetch';
import { countingFetch, emptyTraffic, type Traffic } from './traffic';

export interface SimUserOptions {
  index: number;
  /** The gateway, e.g. http://127.0.0.1:5174 */
  origin: string;
  /** Source address; undefined sends from 127.0.0.1 like everyone else (one NAT). */
  localAddress: string | undefined;
  highLoad: boolean;
  /** Mean time between the user's messages, ms (jittered ±50 %). */
  messageEveryMs: number;
  /** A name that makes this run's databases distinct from other runs'. */
  run: string;
  /** Tabs open: the first visible and in use, the others in the background. */
  tabs?: number;
  /** Holds the gateway's push stream as the leader tab does (src/link/push.ts), when the gateway offers it. */
  push?: boolean;
}

const HEARTBEAT_MS = 5_000;

export class PurlUser {
  readonly traffic: Traffic = emptyTraffic();
  readonly #options: SimUserOptions;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #seenReplies = new Set<string>();
  #core: Core | undefined;
  #db: PurlDatabase | undefined;
  #closeFetch: (() => Promise<void>) | undefined;
  #wire: (() => WireBytes) | undefined;
  #stopped = false;
  #tabIds: string[] = [];
  #push: PushHolder | undefined;
  #pending: Promise<unknown>[] = [];

  constructor(options: SimUserOptions) {
    this.#options = options;
  }

  #later(ms: number, task: () => unknown): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopped) return;
      // A simulated user's failure is counted in its traffic, never a crash of the bench.
      void Promise.resolve()
        .then(task)
        .catch(() => undefined);
    }, ms);
    this.#timers.add(timer);
  }

  #send(command: Command): void {
    this.#track(this.#core!.handle(command));
  }

  /** Work a worker event would keep alive (a command, or what it goes on with in the background), waited for at stop. */
  #track(promise: Promise<unknown>): void {
    const work = promise.catch(() => undefined);
    this.#pending.push(work);
    void work.finally(() => (this.#pending = this.#pending.filter((p) => p !== work)));
  }

  /** The worker's broadcast: when the chat store changed, time the new replies. */
  #onEvent(event: PurlEvent): void {
    // The session (and its push token) is in meta: the stream's holder looks whether its target changed, as the leader tab does.
    if (event.type === 'data-changed' && event.stores.includes('meta')) void this.#push?.retarget();
    if (event.type !== 'data-changed' || !event.stores.includes('chat')) return;
    const seenAt = Date.now();
    void (async () => {
      const agentId = await getMeta(this.#db!, 'selectedAgentId');
      if (!agentId) return;
      for (const message of await listChat(this.#db!, agentId, 50)) {
        if (this.#seenReplies.has(message.id)) continue;
        this.#seenReplies.add(message.id);
        if (message.isAgent) this.traffic.replyDelays.push(Math.max(0, seenAt - message.createdAt));
        else if (message.clientId) this.traffic.delivered += 1;
      }
    })().catch(() => undefined);
  }

  async start(): Promise<void> {
    const { index, origin, localAddress } = this.#options;
    const source = fetchFrom(localAddress);
    this.#closeFetch = source.close;
    this.#wire = source.wire;
    const fetch = countingFetch(source.fetch, this.traffic, Date.now);
    const name = `purl-sim-${this.#options.run}-${index}`;
    const getDb = async () => (this.#db ??= await openPurlDB({ name }));
    this.#core = createCore({
      origin,
      fetch,
      getDb,
      broadcast: (event) => this.#onEvent(event),
      now: Date.now,
      random: Math.random,
      randomUUID,
      loadOverrides: createOverridesSource((input, init) => fetch(new Request(input as string, init)), `${origin}/config.json`),
      waitUntil: (promise) => this.#track(promise),
    });
    if (this.#options.push) {
      this.#push = createPushHolder({
        target: async () => pushTarget(await getDb()),
        // The browser's EventSource, from this user's own address (its reconnects send Last-Event-ID as the browser's do).
        open: (url) =>
          new EventSource(new URL(url, origin).href, {
            fetch: (input, init) => source.fetch(new Request(String(input), { headers: init.headers }), init.signal ? { signal: init.signal } : undefined),
          }) as unknown as Stream,
        send: (command) => this.#send(command),
        setTimer: (callback, ms) => {
          const timer = setTimeout(callback, ms);
          this.#timers.add(timer);
          return () => clearTimeout(timer);
        },
      });
      this.#track(this.#push.start());
    }
    this.#tabIds = Array.from({ length: this.#options.tabs ?? 1 }, () => randomUUID());
    if (this.#options.highLoad) this.#send({ type: 'set-high-load', on: true });
    for (const [i, tabId] of this.#tabIds.entries()) {
      const visible = i === 0;
      const beat = () => {
        this.#send({ type: 'heartbeat', tabId, visible, active: visible });
        // As the page does: every 5 s while visible, every 30 s in the background.
        this.#later(visible ? HEARTBEAT_MS : 30_000, beat);
      };
      beat();
    }
    const typeMessage = async () => {
      const agentId = await getMeta(await getDb(), 'selectedAgentId');
      if (agentId) {
        this.traffic.typed += 1;
        this.#send({ type: 'send-message', clientId: randomUUID(), agentId, text: `User ${index} says hello at ${Date.now()}`, createdAt: Date.now() });
      }
      this.#later(this.#options.messageEveryMs * (0.5 + Math.random()), typeMessage);
    };
    this.#later(this.#options.messageEveryMs * Math.random(), typeMessage);
    // The page opens the chat once it knows the agent: under a crowd the agent list can take
    // longer than 2 s, and a user whose chat was never opened made its session only when it
    // first typed (up to a minute later), which spread a row's first visits over its measured part.
    const openChat = async () => {
      const agentId = await getMeta(await getDb(), 'selectedAgentId');
      if (agentId) this.#send({ type: 'open-chat', agentId });
      else this.#later(1_000, openChat);
    };
    this.#later(2_000, openChat);
  }

  /** Bytes on this browser's connections so far (answers as the gateway sent them: compressed). */
  wire(): WireBytes {
    return this.#wire?.() ?? { received: 0, sent: 0 };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#push?.stop();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    // As a closing page does: the poll cadence drops to "no tab", so the worker stops.
    for (const tabId of this.#tabIds) await this.#core?.handle({ type: 'tab-closed', tabId }).catch(() => undefined);
    await Promise.race([Promise.allSettled(this.#pending), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await this.#closeFetch?.();
  }
}

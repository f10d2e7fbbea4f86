/**
 * The baseline: a naive web client of the kind Purl replaces. Every tab works on its
 * own: it polls the memories every 60 s and its chat every 5 s, keeps an in-memory
 * cache that only saves re-parsing, sends each message at once, and has its own circuit
 * breaker (5 failures → 5 minutes off) that a reload forgets. It ignores Retry-After and
 * RateLimit-* headers, as most clients do.
 */
import { randomUUID } from 'node:crypto';
import { fetchFrom, type SourceFetch, type WireBytes } from './source-fetch';
import { countingFetch, emptyTraffic, type Traffic } from './traffic';

export interface NaiveUserOptions {
  index: number;
  origin: string;
  localAddress: string | undefined;
  /** Tabs this user has open; each polls by itself. */
  tabs: number;
  messageEveryMs: number;
  memoriesEveryMs?: number;
  chatEveryMs?: number;
  /** Its breaker's open time, ms (5 minutes by default, like Purl's). */
  breakerTimeoutMs?: number;
}

class NaiveBreaker {
  #failures = 0;
  #openUntil = 0;
  readonly #timeoutMs: number;
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }
  allows(now: number): boolean {
    return now >= this.#openUntil;
  }
  record(ok: boolean, now: number): void {
    if (ok) this.#failures = 0;
    else if (++this.#failures >= 5) {
      this.#openUntil = now + this.#timeoutMs;
      this.#failures = 0;
    }
  }
}

export class NaiveUser {
  readonly traffic: Traffic = emptyTraffic();
  readonly #options: NaiveUserOptions;
  readonly #timers = new Set<ReturnType<typeof setInterval>>();
  #closeFetch: (() => Promise<void>) | undefined;
  #wire: (() => WireBytes) | undefined;
  #stopped = false;

  constructor(options: NaiveUserOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const source = fetchFrom(this.#options.localAddress);
    this.#closeFetch = source.close;
    this.#wire = source.wire;
    const fetch = countingFetch(source.fetch, this.traffic, Date.now);
    for (let tab = 0; tab < this.#options.tabs; tab += 1) void this.#startTab(fetch, tab === 0);
  }

  async #startTab(fetch: SourceFetch, types: boolean): Promise<void> {
    const { origin } = this.#options;
    const breaker = new NaiveBreaker(this.#options.breakerTimeoutMs ?? 5 * 60_000);
    const seen = new Set<string>();
    const call = async (path: string, init?: RequestInit): Promise<unknown> => {
      if (!breaker.allows(Date.now())) return undefined;
      try {
        const response = await fetch(new Request(`${origin}${path}`, init));
        breaker.record(response.ok, Date.now());
        return response.ok ? await response.json() : undefined;
      } catch {
        breaker.record(false, Date.now());
        return undefined;
      }
    };
    const agents = (await call('/api/agents')) as { data?: { agents?: { id: string }[] } } | undefined;
    const agentId = agents?.data?.agents?.[0]?.id;
    if (!agentId) return;
    const session = (await call('/api/messaging/sessions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ agentId, userId: randomUUID() }),
    })) as { sessionId?: string } | undefined;
    const sessionId = session?.sessionId;
    const every = (ms: number, task: () => Promise<void>) => {
      const timer = setInterval(() => void task().catch(() => undefined), ms);
      this.#timers.add(timer);
    };
    every(this.#options.memoriesEveryMs ?? 60_000, async () => {
      await call(`/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`);
    });
    if (!sessionId) return;
    every(this.#options.chatEveryMs ?? 5_000, async () => {
      const body = (await call(`/api/messaging/sessions/${sessionId}/messages?limit=50`)) as
        | { messages?: { id: string; isAgent: boolean; createdAt: string }[] }
        | undefined;
      const at = Date.now();
      for (const message of body?.messages ?? []) {
        if (seen.has(message.id)) continue;
        seen.add(message.id);
        if (message.isAgent && types) this.traffic.replyDelays.push(Math.max(0, at - Date.parse(message.createdAt)));
      }
    });
    if (!types) return;
    const typeMessage = async () => {
      this.traffic.typed += 1;
      const sent = await call(`/api/messaging/sessions/${sessionId}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ content: `Naive user ${this.#options.index} says hello at ${Date.now()}` }),
      });
      if (sent) this.traffic.delivered += 1;
    };
    const schedule = () => {
      if (this.#stopped) return;
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          void typeMessage().finally(schedule);
        },
        this.#options.messageEveryMs * (0.5 + Math.random()),
      );
      this.#timers.add(timer);
    };
    const first = setTimeout(() => {
      this.#timers.delete(first);
      void typeMessage().finally(schedule);
    }, this.#options.messageEveryMs * Math.random());
    this.#timers.add(first);
  }

  /** Bytes on this browser's connections so far (answers as the gateway sent them: compressed). */
  wire(): WireBytes {
    return this.#wire?.() ?? { received: 0, sent: 0 };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.clear();
    await this.#closeFetch?.();
  }
}

/**
 * Per-client limits at the gateway (express-rate-limit, one-minute windows): every API
 * request counts against API_RATE_LIMIT_REQUESTS, memories reads also against
 * MEMORY_API_RATE_LIMIT_REQUESTS. The client is `req.ip`: the socket's address, or the
 * X-Forwarded-For of a proxy listed in TRUST_PROXY (express's `trust proxy`). Answers
 * carry draft-8 `RateLimit` / `RateLimit-Policy` members and, on 429, `Retry-After` and a
 * sentence, which the service worker already obeys.
 *
 * With REDIS_URL the counts live in Redis (rate-limit-redis), shared by every gateway
 * instance on it: a client whose requests go to different instances gets its limit once,
 * not once per instance. While Redis is down each instance counts on its own (express-
 * rate-limit's MemoryStore) and says so in /health; the shared counts resume when it is
 * back.
 */
import type { RequestHandler } from 'express';
import { type ClientRateLimitInfo, type IncrementResponse, MemoryStore, type Options, rateLimit, type Store } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import { sendError } from './errors';
import { unrefClock } from '../clock';
import type { RedisLink } from '../redis/redis';

export const API_POLICY = 'purl-api';
export const MEMORIES_POLICY = 'purl-memories';

export interface GatewayLimits {
  api: RequestHandler;
  memories: RequestHandler;
}

/**
 * Counts in Redis while the link is up, else locally. rate-limit-redis loads its scripts
 * in `init` and keeps a failed load for good (every increment would fail after a start
 * with Redis down), so they are loaded again each time the link comes up.
 */
export class SharedLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  readonly #local = new MemoryStore();
  readonly #shared: RedisStore;
  #options: Options | undefined;
  readonly #now: () => number;

  constructor(
    readonly link: RedisLink,
    policy: string,
    /** The time now, epoch ms: paces the loads of the scripts (the counts' windows are express-rate-limit's own). */
    now: () => number = unrefClock.now,
  ) {
    this.#now = now;
    this.prefix = `purl:limit:${policy}:`;
    this.#shared = new RedisStore({ sendCommand: (...args: string[]) => link.send(args) as Promise<never>, prefix: this.prefix });
    link.onState((state) => {
      if (state === 'up') this.#loadShared();
    });
  }

  #loadShared(): void {
    if (!this.#options) return;
    this.#shared.init(this.#options).catch((error: unknown) => this.link.noteFailure(error));
  }

  /** When the scripts were last loaded because a shared count failed (at most one such load a few seconds). */
  #reloadedAt = 0;

  /** Runs `shared` while the link is up; `local` when it is down or the command fails. */
  async #either<T>(shared: () => Promise<T>, local: () => T | Promise<T>): Promise<T> {
    if (this.link.state() === 'up') {
      try {
        return await shared();
      } catch (error) {
        this.link.noteFailure(error);
        // A script load that failed while the link stayed up (a slow Redis) is kept by
        // rate-limit-redis for good: load again, now and then, rather than count alone until the next reconnect.
        if (this.#now() - this.#reloadedAt > 5_000) {
          this.#reloadedAt = this.#now();
          this.#loadShared();
        }
      }
    }
    return local();
  }

  init(options: Options): void {
    this.#options = options;
    this.#local.init(options);
    if (this.link.state() === 'up') this.#loadShared();
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.#either(
      () => this.#shared.get(key),
      () => this.#local.get(key),
    );
  }

  increment(key: string): Promise<IncrementResponse> {
    return this.#either(
      () => this.#shared.increment(key),
      () => this.#local.increment(key),
    );
  }

  decrement(key: string): Promise<void> {
    return this.#either(
      () => this.#shared.decrement(key),
      () => this.#local.decrement(key),
    );
  }

  resetKey(key: string): Promise<void> {
    return this.#either(
      () => this.#shared.resetKey(key),
      () => this.#local.resetKey(key),
    );
  }

  shutdown(): void {
    this.#local.shutdown();
  }
}

function limiter(policy: string, perMinute: number, what: string, redis: RedisLink | undefined, now: () => number): RequestHandler {
  return rateLimit({
    ...(redis ? { store: new SharedLimitStore(redis, policy, now) } : {}),
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: policy,
    // A forged X-Forwarded-For from an untrusted client is expected and ignored
    // (req.ip is the socket's address then); it is not a misconfiguration to log.
    validate: { xForwardedForHeader: false, forwardedHeader: false },
    handler: (_req, res, _next, options) => {
      const retryAfter = String(res.getHeader('Retry-After') ?? Math.ceil(options.windowMs / 1000));
      sendError(
        res,
        options.statusCode,
        'RATE_LIMITED',
        `Too many ${what} from this address: at most ${perMinute} a minute. Purl waits ${retryAfter} s and goes on by itself.`,
        { 'Retry-After': retryAfter },
      );
    },
  });
}

/** The door's per-client limits; with `redis`, counted there while it is up; `now` paces the reloads of its scripts. */
export function createLimits(apiPerMinute: number, memoriesPerMinute: number, redis?: RedisLink, now: () => number = unrefClock.now): GatewayLimits {
  return {
    api: limiter(API_POLICY, apiPerMinute, 'requests', redis, now),
    memories: limiter(MEMORIES_POLICY, memoriesPerMinute, 'memories reads', redis, now),
  };
}

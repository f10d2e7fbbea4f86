/**
 * The state of the worker's network core, as stored in IndexedDB (meta store) and
 * shown by the UI. Plain data: JSON- and structured-clone-safe, epoch ms for times.
 */
import type { BudgetTier } from './budget';

/** Request classes, most important first. */
export type Priority = 'user' | 'chat' | 'memories' | 'background';
export const PRIORITIES: readonly Priority[] = ['user', 'chat', 'memories', 'background'];

/**
 * The circuit breaker's persisted snapshot. Half-open is not stored: it is derived from
 * `openedAt` and the timeout, so a restored breaker never depends on a timer. A breaker
 * that was half-open when saved is saved as open with its old `openedAt`, so a restored
 * one probes at once.
 */
export type BreakerSnapshot = { state: 'closed'; failures: number } | { state: 'open'; openedAt: number };

/** What the UI shows of the breaker. */
export type BreakerView = { state: 'closed'; failures: number } | { state: 'open' | 'half-open'; openedAt: number; nextProbeAt: number };

/** The polls the worker runs. */
export type PollKind = 'memories' | 'chat';

/** One poll's schedule, persisted so it survives worker restarts. */
export interface PollSchedule {
  /** Epoch ms when the poll is next due. */
  nextDueAt: number;
  /** The interval for an active tab, after stretching, backoff and jitter, ms (the slower cadence of hidden or idle tabs is applied when the deadline is checked). */
  intervalMs: number;
  /** Polls in a row that found nothing new (stretches the interval). */
  unchangedStreak: number;
  /** Polls in a row that failed (drives the backoff). */
  errorStreak: number;
}

/** What a tab last said about itself in its heartbeat. */
export interface TabState {
  tabId: string;
  visible: boolean;
  /** The user did something in this tab in the last 5 minutes. */
  active: boolean;
  /** Epoch ms of the heartbeat. */
  seenAt: number;
}

/** The server's rate-limit headers as last seen (any draft form), normalised. */
export interface RateLimitInfo {
  limit?: number;
  remaining?: number;
  /** Epoch ms when the window resets. */
  resetAt?: number;
  /** The policy's window, ms (from RateLimit-Policy w=…). */
  windowMs?: number;
  /** Epoch ms before which nothing may be sent (from Retry-After). */
  retryAt?: number;
  /**
   * Not a header: the clients estimated to spend this bucket, this browser included
   * (everyone behind one NAT shares one), from how fast `remaining` falls against this
   * browser's own requests (sw/rate-limit.ts, BucketShare).
   */
  sharers?: number;
}

/**
 * The upstream server's budget as a gateway that shares it among all its users states it
 * (src/shared/budget.ts), each figure as last stated: the monitor's two figures.
 */
export interface UpstreamFigures {
  /** The server's own budget (the RateLimit member "eliza"). */
  server?: RateLimitInfo;
  /** This user's share of it (the member "share"): only where every user spends one budget. */
  share?: RateLimitInfo;
  /** The gateway's tier for that budget (X-Purl-Budget). */
  tier?: BudgetTier;
}

/** One minute of traffic, for the monitor's chart. */
export interface MinuteBucket {
  /** Epoch ms of the minute's start. */
  minute: number;
  requests: number;
  rateLimited: number;
}

/** What the rate-limit monitor shows; stored in IndexedDB and broadcast at most once a second. */
/**
 * The push stream as the monitor shows it: `up` (replies arrive as they are made, the
 * chat poll is a slow safety net), `upstream-down` (the gateway is reached but its own
 * connection to ElizaOS is not), `down` (no stream: the chat poll's normal cadence).
 */
export interface PushView {
  state: 'up' | 'upstream-down' | 'down';
  /** Epoch ms since the state holds. */
  since: number;
  /** Events received since the worker's data was created. */
  events: number;
}

export interface MetricsSnapshot {
  /** Epoch ms when taken. */
  at: number;
  pending: number;
  inFlight: number;
  /** The cap on requests in flight for the mode in force. */
  maxConcurrent: number;
  consecutiveErrors: number;
  breaker: BreakerView;
  /** Reads answered from saved data without any request. */
  cacheHits: number;
  /** Reads that sent a request (a revalidation answered 304 included). */
  cacheMisses: number;
  /** Hits / (hits + misses), or undefined before the first lookup. */
  cacheHitRate?: number;
  /** Each poll's configured interval for the mode in force, before stretching, ms. */
  baseIntervals: Record<PollKind, number>;
  /** The interval in force for each poll, ms (Infinity is stored as null: no tab, no polling). */
  pollIntervals: Partial<Record<PollKind, number | null>>;
  rateLimit: RateLimitInfo;
  /** The server's budget and this user's share of it, when the gateway states them. */
  upstream?: UpstreamFigures;
  /** 429 answers since the worker's data was created. */
  rateLimited: number;
  /** Requests sent in the last 60 s. */
  requestsPerMinute: number;
  /** The last 15 minutes, oldest first. */
  history: MinuteBucket[];
  highLoad: boolean;
  /** The push stream, when the gateway offers it (absent: replies come by the chat poll). */
  push?: PushView;
  /**
   * How the last request failed, while failures run in a row (absent after a success):
   * so an open breaker can say whether the server refused (429) or failed.
   */
  lastFailure?: FailureKind;
}

/**
 * How a request failed: a 429, another server error (5xx), no answer at all (network
 * error, timeout), or an answer Purl refused at the door (not JSON, the wrong shape).
 */
export type FailureKind = 'rate-limited' | 'server-error' | 'no-answer' | 'bad-answer';

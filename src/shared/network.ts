/**
 * The state of the worker's network core, as stored in IndexedDB (meta store) and
 * shown by the UI. Plain data: JSON- and structured-clone-safe, epoch ms for times.
 */

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
  /** The interval in force now, after stretching, backoff and cadence, ms. */
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
}

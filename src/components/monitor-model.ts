/**
 * What the rate-limit monitor says, as plain functions of a snapshot and the time: no
 * DOM and no hooks, so every state is unit-tested and the components only lay it out.
 */
import type { BudgetTier } from '../shared/budget';
import type { BreakerView, MetricsSnapshot, MinuteBucket, PollKind, PushView, RateLimitInfo, UpstreamFigures } from '../shared/network';
import { formatCountdown, formatTime } from './format';

const MINUTE = 60_000;

/** The chart's span: the worker keeps the same 15 minutes of history (sw/metrics.ts). */
export const CHART_MINUTES = 15;

/**
 * Poll intervals are jittered by up to ±10 % (`INTERVAL_JITTER` in sw/schedule.ts, which
 * this tsconfig cannot import); an interval within that band of the base is not "stretched".
 */
const JITTER = 0.1;

/** Which figure a row shows; stable, for keys and tests. */
export type MonitorRowId =
  | 'pending'
  | 'inFlight'
  | 'errors'
  | 'breaker'
  | 'cache'
  | 'memoriesPoll'
  | 'chatPoll'
  | 'push'
  | 'budget'
  | 'share'
  | 'retryAfter'
  | 'rateLimited'
  | 'perMinute'
  | 'mode';

/** One labelled figure of the monitor, in words. */
export interface MonitorRow {
  id: MonitorRowId;
  label: string;
  value: string;
  /** `'warn'` when the figure is a reason to slow down or worry. */
  tone: 'normal' | 'warn';
}

/** What the snapshot does not carry but a caller may know. */
export interface MonitorRowsOptions {
  /** The in-flight cap in force; without it "In flight" shows just the number. */
  maxConcurrent?: number;
}

/** A countdown that stays short past an hour: "4:12", "1:04:12" (format.ts's `formatCountdown` counts minutes only). */
export function formatLongCountdown(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(seconds / 3600);
  if (hours === 0) return formatCountdown(ms);
  return `${hours}:${formatCountdown((seconds % 3600) * 1000).padStart(5, '0')}`;
}

/** A poll interval in words: "60 s", "4 min 10 s", "1 h 30 min". */
export function formatInterval(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 3600) {
    const rest = seconds % 60;
    return rest ? `${Math.floor(seconds / 60)} min ${rest} s` : `${Math.floor(seconds / 60)} min`;
  }
  const minutes = Math.floor((seconds % 3600) / 60);
  return minutes ? `${Math.floor(seconds / 3600)} h ${minutes} min` : `${Math.floor(seconds / 3600)} h`;
}

/** The breaker in words; an open breaker whose wait is over counts as trying, as the worker will on its next request. */
export function breakerValue(breaker: BreakerView, now: number): string {
  if (breaker.state === 'closed') return 'Closed';
  if (breaker.state === 'half-open' || breaker.nextProbeAt <= now) return 'Trying once now';
  return `Open — next try in ${formatLongCountdown(breaker.nextProbeAt - now)}`;
}

function pollValue(interval: number | null | undefined, baseMs: number): string {
  if (interval === undefined) return 'not running';
  if (interval === null) return 'paused: no open tab';
  const every = `every ${formatInterval(interval)}`;
  return baseMs > 0 && interval > baseMs * (1 + JITTER) ? `${every} (stretched from ${formatInterval(baseMs)})` : every;
}

function budgetValue({ limit, remaining, resetAt, sharers }: RateLimitInfo, now: number): string {
  if (remaining === undefined) return limit === undefined ? 'unknown until the first answer' : `${limit} per window, left unknown`;
  const left = limit === undefined ? `${remaining} left` : `${remaining} of ${limit} left`;
  const when =
    resetAt === undefined ? left : resetAt > now ? `${left}, resets at ${formatTime(resetAt)}` : `${left} before the reset at ${formatTime(resetAt)}`;
  // Everyone behind this address spends the same budget; say so once others clearly do.
  const others = sharers !== undefined && Number.isFinite(sharers) ? Math.round(sharers) - 1 : 0;
  return others >= 1 ? `${when}; shared with about ${others} other ${others === 1 ? 'client' : 'clients'} at this address` : when;
}

/** Whether the budget is nearly spent (`fraction` of its limit or less left) in a window still running. */
function isBudgetLow({ limit, remaining, resetAt }: RateLimitInfo, now: number, fraction = 0.1): boolean {
  if (remaining === undefined || (resetAt !== undefined && resetAt <= now)) return false;
  return remaining === 0 || (limit !== undefined && limit > 0 && remaining / limit <= fraction);
}

/** What the gateway does with a budget every user spends, in words, for each tier but the ample one. */
function tierSentence(tier: BudgetTier | undefined, resetAt: number | undefined, now: number): string | undefined {
  const until = resetAt !== undefined && resetAt > now ? ` until ${formatTime(resetAt)}` : '';
  switch (tier) {
    case undefined:
    case 'plenty':
      return undefined;
    case 'low':
      return 'low: the gateway answers reads from its copy and asks the server less often';
    case 'reserve':
      return `nearly spent: what is left is kept for messages${until}`;
    case 'empty':
      return `spent: nothing reaches the server${until}; messages wait and are not lost`;
  }
}

/**
 * The server's budget: as the gateway restates it (the member "eliza") when it does, with
 * what the gateway does about it; otherwise the limit that binds this browser's requests.
 */
function serverBudget(snapshot: MetricsSnapshot, now: number): { value: string; warn: boolean } {
  const { upstream = {}, rateLimit } = snapshot;
  const figure = upstream.server ? { ...upstream.server, ...(rateLimit.sharers === undefined ? {} : { sharers: rateLimit.sharers }) } : rateLimit;
  const tier = upstream.server ? upstream.tier : undefined;
  const sentence = tierSentence(tier, figure.resetAt, now);
  return {
    value: sentence ? `${budgetValue(figure, now)} — ${sentence}` : budgetValue(figure, now),
    warn: isBudgetLow(figure, now) || tier === 'reserve' || tier === 'empty',
  };
}

/** Below this share of the user's share, the worker polls the chat less often (sw/rate-limit.ts keeps a fifth for messages). */
const SHARE_RESERVE = 0.2;

/** This user's share of a budget every user spends: what is left of it, and among how many it is split. */
function shareValue(share: RateLimitInfo, server: RateLimitInfo | undefined, now: number): string {
  const value = budgetValue(share, now);
  const people = server?.limit && share.limit ? Math.round(server.limit / share.limit) : undefined;
  const split = people && people > 1 ? `; the server's budget is split among about ${people} people chatting now` : '';
  const low = isBudgetLow(share, now, SHARE_RESERVE) ? ' — low: the chat is checked less often, messages still go' : '';
  return `${value}${split}${low}`;
}

/**
 * Requests sent in the 60 s before `now`. The worker publishes within a second of every
 * request but not when the window merely slides, so a snapshot a minute old means none.
 */
export function requestsLastMinute(snapshot: MetricsSnapshot, now: number): number {
  return now - snapshot.at >= MINUTE ? 0 : snapshot.requestsPerMinute;
}

/** The push stream in words: "Up since 14:02 · 12 events", "Down since 14:05 — the chat poll brings replies". */
export function pushValue(push: PushView): string {
  const events = `${push.events} event${push.events === 1 ? '' : 's'}`;
  const since = formatTime(push.since);
  if (push.state === 'up') return `Up since ${since} · ${events}`;
  if (push.state === 'upstream-down') return `Gateway reached, server not, since ${since} · ${events} — the chat poll brings replies`;
  return `Down since ${since} · ${events} — the chat poll brings replies`;
}

/** The monitor's rows, in reading order; none before the worker's first figures. */
export function monitorRows(snapshot: MetricsSnapshot | undefined, now: number, options: MonitorRowsOptions = {}): MonitorRow[] {
  if (!snapshot) return [];
  const row = (id: MonitorRowId, label: string, value: string | number, warn = false): MonitorRow => ({
    id,
    label,
    value: String(value),
    tone: warn ? 'warn' : 'normal',
  });
  const { breaker, rateLimit, cacheHits, cacheMisses } = snapshot;
  const lookups = cacheHits + cacheMisses;
  const poll = (kind: PollKind) => pollValue(snapshot.pollIntervals[kind], snapshot.baseIntervals[kind]);
  const rows = [
    row('pending', 'Requests waiting', snapshot.pending),
    row(
      'inFlight',
      'In flight',
      (options.maxConcurrent ?? snapshot.maxConcurrent) ? `${snapshot.inFlight} of ${options.maxConcurrent ?? snapshot.maxConcurrent}` : snapshot.inFlight,
    ),
    row('errors', 'Consecutive errors', snapshot.consecutiveErrors, snapshot.consecutiveErrors > 0),
    row('breaker', 'Circuit breaker', breakerValue(breaker, now), breaker.state !== 'closed'),
    row('cache', 'Cache hit rate', lookups ? `${Math.round((cacheHits / lookups) * 100)} % (${cacheHits} of ${lookups})` : 'No reads yet'),
    row('memoriesPoll', 'Memories poll', poll('memories')),
    row('chatPoll', 'Chat poll', poll('chat')),
  ];
  // Down is worth a warning only once push has worked here (a gateway without push is not a fault).
  if (snapshot.push) rows.push(row('push', 'Push', pushValue(snapshot.push), snapshot.push.state !== 'up' && snapshot.push.events > 0));
  const budget = serverBudget(snapshot, now);
  rows.push(row('budget', 'Server budget', budget.value, budget.warn));
  const { share, server } = snapshot.upstream ?? ({} as UpstreamFigures);
  if (share) rows.push(row('share', 'Your share', shareValue(share, server, now), isBudgetLow(share, now, SHARE_RESERVE)));
  if (rateLimit.retryAt !== undefined && rateLimit.retryAt > now) {
    const wait = `until ${formatTime(rateLimit.retryAt)} (${formatLongCountdown(rateLimit.retryAt - now)})`;
    rows.push(row('retryAfter', 'Server asked to wait', wait, true));
  }
  rows.push(
    row('rateLimited', '429 answers', snapshot.rateLimited, snapshot.rateLimited > 0),
    row('perMinute', 'Requests in the last minute', requestsLastMinute(snapshot, now)),
    row('mode', 'Mode', snapshot.highLoad ? 'High-load' : 'Normal'),
  );
  return rows;
}

/** The one line shown while the monitor is collapsed: "Breaker closed · 994 left · 3 req/min". */
export function monitorSummary(snapshot: MetricsSnapshot | undefined, now: number): string {
  if (!snapshot) return 'No figures yet';
  const { breaker, rateLimit } = snapshot;
  const parts = [
    breaker.state === 'closed'
      ? 'Breaker closed'
      : breaker.state === 'open' && breaker.nextProbeAt > now
        ? `Breaker open, next try in ${formatLongCountdown(breaker.nextProbeAt - now)}`
        : 'Breaker trying once',
  ];
  // A budget from a window that has reset is old news; the next answer brings the new one.
  const isCurrent = (info: RateLimitInfo | undefined): info is RateLimitInfo & { remaining: number } =>
    info?.remaining !== undefined && !(info.resetAt !== undefined && info.resetAt <= now);
  const { server, share } = snapshot.upstream ?? ({} as UpstreamFigures);
  if (isCurrent(server)) {
    parts.push(`server ${server.remaining} left`);
    if (isCurrent(share)) parts.push(`your share ${share.remaining}`);
  } else if (isCurrent(rateLimit)) {
    parts.push(`${rateLimit.remaining} left`);
  }
  parts.push(`${requestsLastMinute(snapshot, now)} req/min`);
  if (snapshot.highLoad) parts.push('high-load');
  return parts.join(' · ');
}

/** One minute of the chart. */
export interface ChartSlot {
  /** Epoch ms of the minute's start. */
  minute: number;
  requests: number;
  rateLimited: number;
}

/** The chart's data: exactly `CHART_MINUTES` slots, oldest first, ending with the current minute. */
export interface ChartSeries {
  slots: ChartSlot[];
  /** The largest figure in any slot (requests or 429s), for scaling; 0 when all are empty. */
  max: number;
  /** The most requests in one minute. */
  peak: number;
  /** 429 answers over the whole span. */
  rateLimited: number;
}

/**
 * The last 15 one-minute slots up to `now`'s minute. Minutes with no bucket (nothing
 * sent, or the worker was stopped) are zeros; buckets outside the span are ignored, so
 * the bars move left as time passes even when no new figures arrive.
 */
export function chartSeries(history: readonly MinuteBucket[], now: number): ChartSeries {
  const current = now - (now % MINUTE);
  const byMinute = new Map<number, ChartSlot>();
  for (const bucket of history) {
    const minute = bucket.minute - (bucket.minute % MINUTE);
    const slot = byMinute.get(minute) ?? { minute, requests: 0, rateLimited: 0 };
    byMinute.set(minute, { minute, requests: slot.requests + bucket.requests, rateLimited: slot.rateLimited + bucket.rateLimited });
  }
  const slots = Array.from({ length: CHART_MINUTES }, (_, index): ChartSlot => {
    const minute = current - (CHART_MINUTES - 1 - index) * MINUTE;
    return byMinute.get(minute) ?? { minute, requests: 0, rateLimited: 0 };
  });
  const peak = Math.max(0, ...slots.map((slot) => slot.requests));
  const max = Math.max(peak, ...slots.map((slot) => slot.rateLimited));
  const rateLimited = slots.reduce((sum, slot) => sum + slot.rateLimited, 0);
  return { slots, max, peak, rateLimited };
}

/** The chart in words, for its `aria-label`. */
export function chartLabel(series: ChartSeries): string {
  if (series.max === 0) return `No requests in the last ${CHART_MINUTES} minutes.`;
  const now = series.slots.at(-1)?.requests ?? 0;
  return `Requests per minute over the last ${CHART_MINUTES} minutes: peak ${series.peak}, now ${now}; 429 answers: ${series.rateLimited}`;
}

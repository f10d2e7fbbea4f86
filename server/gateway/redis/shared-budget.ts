/**
 * The one upstream budget of a stock ElizaOS, kept once for a cluster's gateways (docs/cluster.md):
 * in front of a stock ElizaOS every instance spends the same 1000 requests per 15 minutes, but
 * each learns what is left only from its own answers, so N instances spend past it and learn it is
 * gone from ElizaOS's 429s. Every 250 ms (50 ms once the budget is low) each instance sends Redis
 * its news (requests sent since, the standing its latest answer stated, until when it is held
 * back, how many of its requests are still unanswered) and takes the cluster's standing in return
 * (`purl:budget`, a hash, one script): the newest stated standing, less the other instances'
 * unanswered requests as they last reported them, less every instance's requests reported with or
 * after it; the latest hold. Some of those requests ElizaOS may have counted already: the estimate
 * errs low, the safe side. The unanswered requests matter when ElizaOS is slow: at 1000 users its
 * answers took 10–25 s, and a statement that left out another instance's hundreds in flight let the
 * cluster send that many past the budget (`npm run bench:cluster`, docs/cluster.md). While Redis is
 * away each instance goes on with its own estimate, as a single gateway does, and keeps its news
 * for when Redis is back.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../../src/shared/clock';
import { every, unrefClock } from '../clock';
import { type RedisLink, sendQuietly } from './redis';
import type { BudgetNews, BudgetStanding, UpstreamBudget } from '../budget/upstream-budget';

const KEY = 'purl:budget';
/** Each instance's unanswered requests, `<count>:<when reported>`, by instance. */
const IN_FLIGHT_KEY = 'purl:budget:in-flight';
/** An instance's report of unanswered requests older than this is an instance gone: left out. */
const IN_FLIGHT_FRESH_MS = 5_000;

/**
 * KEYS: the hash, the in-flight hash. ARGV: now, spent, stated at ('' when none), stated remaining,
 * limit, window ms, reset at (each '' when unknown), held until, instance, its requests in flight,
 * how long a report of them counts. Answers [remaining, limit, window ms, reset at, held until, the
 * other instances' requests in flight], '' for unknown.
 */
const EXCHANGE = `
local now = tonumber(ARGV[1])
redis.call('HSET', KEYS[2], ARGV[9], ARGV[10] .. ':' .. ARGV[1])
redis.call('PEXPIRE', KEYS[2], 3600000)
local othersInFlight = 0
local reports = redis.call('HGETALL', KEYS[2])
for i = 1, #reports, 2 do
  local count, at = string.match(reports[i + 1], '^(%d+):(%d+)$')
  if reports[i] ~= ARGV[9] and count and now - tonumber(at) < tonumber(ARGV[11]) then othersInFlight = othersInFlight + tonumber(count) end
  if count and now - tonumber(at) >= 60000 then redis.call('HDEL', KEYS[2], reports[i]) end
end
local stored = redis.call('HGETALL', KEYS[1])
local s = {}
for i = 1, #stored, 2 do s[stored[i]] = tonumber(stored[i + 1]) end
if s.resetAt and now >= s.resetAt and s.limit then
  s.remaining = s.limit
  if s.windowMs and s.windowMs > 0 then s.resetAt = s.resetAt + (math.floor((now - s.resetAt) / s.windowMs) + 1) * s.windowMs else s.resetAt = nil end
end
local statedAt = tonumber(ARGV[3])
if statedAt and (not s.at or statedAt > s.at) then
  s.at = statedAt
  s.remaining = math.max(0, tonumber(ARGV[4]) - othersInFlight)
  s.limit = tonumber(ARGV[5]) or s.limit
  s.windowMs = tonumber(ARGV[6]) or s.windowMs
  s.resetAt = tonumber(ARGV[7])
end
local spent = tonumber(ARGV[2]) + (s.unapplied or 0)
if s.remaining then
  s.remaining = math.max(0, s.remaining - spent)
  s.unapplied = nil
else
  s.unapplied = spent
end
s.blockedUntil = math.max(s.blockedUntil or 0, tonumber(ARGV[8]))
redis.call('DEL', KEYS[1])
for name, value in pairs(s) do redis.call('HSET', KEYS[1], name, string.format('%d', value)) end
redis.call('PEXPIRE', KEYS[1], 3600000)
local function out(value) if value then return string.format('%d', value) end return '' end
return {out(s.remaining), out(s.limit), out(s.windowMs), out(s.resetAt), out(s.blockedUntil), out(othersInFlight)}`;

const text = (value: number | undefined) => (value === undefined ? '' : String(Math.round(value)));

/** The script's answer as a standing; undefined when it is not one. */
export function parseStanding(raw: unknown): BudgetStanding | undefined {
  if (!Array.isArray(raw) || raw.length !== 6 || !raw.every((value) => typeof value === 'string' && /^(|[0-9]{1,15})$/.test(value))) return undefined;
  const [remaining, limit, windowMs, resetAt, blockedUntil, othersInFlight] = (raw as string[]).map((value) => (value === '' ? undefined : Number(value)));
  return {
    ...(remaining === undefined ? {} : { remaining }),
    ...(limit === undefined ? {} : { limit }),
    ...(windowMs === undefined ? {} : { windowMs }),
    ...(resetAt === undefined ? {} : { resetAt }),
    blockedUntil: blockedUntil ?? 0,
    othersInFlight: othersInFlight ?? 0,
  };
}

/** News not yet taken by Redis, merged with newer news. */
function merge(older: BudgetNews | undefined, newer: BudgetNews): BudgetNews {
  if (!older) return newer;
  const stated = newer.stated ?? older.stated;
  return {
    spent: older.spent + newer.spent,
    blockedUntil: Math.max(older.blockedUntil, newer.blockedUntil),
    inFlight: newer.inFlight,
    ...(stated ? { stated } : {}),
  };
}

export interface SharedBudgetOptions {
  /** How often news is exchanged while the budget is plentiful, ms (250). */
  everyMs?: number;
  /**
   * How often once it is low, ms (50): near the end of the budget what the others sent since
   * their last news matters most (1000 users arriving in 10 s send about 25 requests in 250 ms).
   */
  lowEveryMs?: number;
  /** The time now, epoch ms (default: the system's). */
  now?: () => number;
  /** Sets the exchange's timer (default: setTimeout, unref'd: it keeps no process alive). */
  setTimer?: Clock['setTimer'];
}

/** Exchanges `budget`'s news with the cluster's standing every `everyMs` (`lowEveryMs` while it is low); returns the stopper. */
export function shareUpstreamBudget(link: RedisLink, budget: UpstreamBudget, options: SharedBudgetOptions = {}): () => void {
  const now = options.now ?? unrefClock.now;
  const setTimer = options.setTimer ?? unrefClock.setTimer;
  const instance = randomUUID();
  let unsent: BudgetNews | undefined;
  const everyMs = options.everyMs ?? 250;
  const lowEveryMs = Math.min(options.lowEveryMs ?? 50, everyMs);
  let busy = false;
  let lastAt = 0;
  async function exchange(): Promise<void> {
    const tier = budget.tier(now());
    // Spent (nothing goes upstream) is not low: news then changes nothing until the reset.
    if (busy || (now() - lastAt < everyMs && tier !== 'low' && tier !== 'reserve')) return;
    busy = true;
    lastAt = now();
    try {
      const news = merge(unsent, budget.news());
      unsent = news;
      if (link.state() !== 'up') return;
      const { stated } = news;
      const raw = await sendQuietly(link, [
        'EVAL',
        EXCHANGE,
        '2',
        KEY,
        IN_FLIGHT_KEY,
        text(now()),
        text(news.spent),
        text(stated?.at),
        text(stated?.remaining),
        text(stated?.limit),
        text(stated?.windowMs),
        text(stated?.resetAt),
        text(news.blockedUntil),
        instance,
        text(news.inFlight),
        text(IN_FLIGHT_FRESH_MS),
      ]);
      const standing = parseStanding(raw);
      if (!standing) return;
      unsent = undefined;
      budget.adopt(standing, now());
    } finally {
      busy = false;
    }
  }
  return every({ now, setTimer }, lowEveryMs, () => void exchange());
}

/**
 * Reads the server's rate-limit headers, in every form express-rate-limit sends
 * (IETF draft-ietf-httpapi-ratelimit-headers 06, 07 and 08), plus `Retry-After`, and
 * turns what is left of the budget into a poll interval.
 *
 * Headers are input: a value that is missing, negative or not a whole number is
 * skipped on its own, and the rest is still read. Nothing here throws on a header.
 */
import type { RateLimitInfo } from '../src/shared/network';

/** Requests always kept back for the user's own actions (sending messages), at least. */
export const MIN_RESERVE_REQUESTS = 5;

/** The reserve's default share of the limit. */
export const DEFAULT_RESERVE_FRACTION = 0.2;

/** A parameter value: a number, a string, or `true` for a bare key. */
type ParamValue = number | string | true;

/** One member of a structured-field list: its item and its `;key=value` parameters. */
interface Member {
  item: string;
  params: Map<string, ParamValue>;
}

/** A whole, non-negative number of the kind the drafts send, or undefined. */
function parseCount(raw: string | null | undefined): number | undefined {
  if (raw == null) return undefined;
  const text = raw.trim();
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/**
 * Splits on `separator` outside double-quoted strings (RFC 8941 sf-string, where `\"`
 * escapes a quote), because a draft-8 policy name may contain `,` or `;`.
 */
function splitOutsideQuotes(text: string, separator: ',' | ';'): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] as string;
    if (quoted && char === '\\') {
      current += char + (text[i + 1] ?? '');
      i += 1;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current.trim());
  return parts.filter((part) => part !== '');
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1).replace(/\\(.)/g, '$1') : text;
}

function parseParamValue(raw: string): ParamValue {
  const count = parseCount(raw);
  return count ?? unquote(raw.trim());
}

/**
 * A forgiving reading of an RFC 8941 list (`item;k=v;k=v, item;k=v`). Strict parsing
 * would reject a whole header for one odd byte; field-by-field tolerance is the point.
 */
function parseList(header: string | null): Member[] {
  if (!header) return [];
  return splitOutsideQuotes(header, ',').map((member) => {
    const [item = '', ...rawParams] = splitOutsideQuotes(member, ';');
    const params = new Map<string, ParamValue>();
    for (const rawParam of rawParams) {
      // Only the first `=` separates: draft-8's `pk=:base64:` may end in `=` padding.
      const eq = rawParam.indexOf('=');
      const key = (eq < 0 ? rawParam : rawParam.slice(0, eq)).trim().toLowerCase();
      if (key && !params.has(key)) params.set(key, eq < 0 ? true : parseParamValue(rawParam.slice(eq + 1)));
    }
    return { item: item.trim(), params };
  });
}

function numberParam(member: Member, key: string): number | undefined {
  const value = member.params.get(key);
  return typeof value === 'number' ? value : undefined;
}

interface Policy {
  /** Draft-8 policy name; absent in draft-6/7, whose item is the quota itself. */
  name?: string;
  quota?: number;
  windowMs?: number;
}

/**
 * `RateLimit-Policy`, in both shapes:
 * draft-6/7 `1000;w=900` (the item is the quota) and draft-8 `"name"; q=1000; w=900`.
 * Draft-8 policies counted in another unit (`qu="content-bytes"`) are not about
 * requests, so they are left out.
 */
function parsePolicies(header: string | null): Policy[] {
  const policies: Policy[] = [];
  for (const member of parseList(header)) {
    const unit = member.params.get('qu');
    if (unit !== undefined && unit !== 'requests') continue;
    const itemCount = parseCount(member.item);
    const quota = numberParam(member, 'q') ?? itemCount;
    const window = numberParam(member, 'w');
    const policy: Policy = {};
    if (itemCount === undefined && member.item !== '') policy.name = unquote(member.item);
    if (quota !== undefined) policy.quota = quota;
    if (window !== undefined) policy.windowMs = window * 1000;
    policies.push(policy);
  }
  return policies;
}

/** Requests per second a limit still allows until its reset (a reset of 0 s counts as 1 s). */
function pace(remaining: number, resetSeconds: number | undefined): number {
  return remaining / Math.max(1, resetSeconds ?? 1);
}

/** What one `RateLimit` header says, before it is matched with a policy. */
interface Current {
  name?: string;
  limit?: number;
  remaining?: number;
  resetSeconds?: number;
}

/**
 * `RateLimit`, in both shapes: the draft-7 dictionary `limit=1000, remaining=998, reset=899`
 * and the draft-8 list `"name"; r=998; t=899`. With several draft-8 limits (one per
 * limiter the request passed: the gateway's per-minute limit and the server's 15-minute
 * budget, say) the one that allows the fewest requests per second until its reset binds:
 * 400 left of a minute is more room than 900 left of fifteen. Members named in `ignore`
 * never bind.
 */
function parseCurrent(header: string | null, ignore: readonly string[] = []): Current {
  const dictionary: Current = {};
  let binding: Current | undefined;
  for (const member of parseList(header)) {
    const eq = member.item.indexOf('=');
    if (eq > 0 && !member.item.startsWith('"')) {
      // A draft-7 dictionary member: a key, not an item, sits before the `=`.
      const key = member.item.slice(0, eq).trim().toLowerCase();
      const value = parseCount(member.item.slice(eq + 1));
      if (value === undefined) continue;
      if (key === 'limit') dictionary.limit ??= value;
      else if (key === 'remaining') dictionary.remaining ??= value;
      else if (key === 'reset') dictionary.resetSeconds ??= value;
      continue;
    }
    const remaining = numberParam(member, 'r');
    const resetSeconds = numberParam(member, 't');
    if (remaining === undefined && resetSeconds === undefined) continue;
    if (ignore.includes(unquote(member.item))) continue;
    if (
      binding &&
      (remaining === undefined || (binding.remaining !== undefined && pace(binding.remaining, binding.resetSeconds) <= pace(remaining, resetSeconds)))
    )
      continue;
    binding = { name: unquote(member.item) };
    if (remaining !== undefined) binding.remaining = remaining;
    if (resetSeconds !== undefined) binding.resetSeconds = resetSeconds;
  }
  return binding ? { ...binding, ...dictionary } : dictionary;
}

const DAYS = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAYS = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: recipients must accept all three forms.
const IMF_FIXDATE = new RegExp(`^${DAYS}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAYS}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAYS} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, hour: number, minute: number, second: number): number | undefined {
  const monthIndex = MONTHS.indexOf(month);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const time = Date.UTC(year, monthIndex, day, hour, minute, Math.min(second, 59));
  // Date.UTC rolls 31 Feb over into March; a date that does not exist is garbage.
  return new Date(time).getUTCDate() === day ? time : undefined;
}

/**
 * An HTTP-date as epoch ms, or undefined. Parsed by hand because `Date.parse` accepts
 * far more than HTTP-dates (in V8, `Date.parse('1')` is a date in 2001).
 */
function parseHttpDate(text: string, now: number): number | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, month, year, h, m, s] = match;
    return utc(Number(year), month as string, Number(day), Number(h), Number(m), Number(s));
  }
  match = RFC850_DATE.exec(text);
  if (match) {
    const [, day, month, yy, h, m, s] = match;
    // RFC 9110: a two-digit year more than 50 years ahead is the most recent past one.
    const nowYear = new Date(now).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(yy);
    if (year > nowYear + 50) year -= 100;
    return utc(year, month as string, Number(day), Number(h), Number(m), Number(s));
  }
  match = ASCTIME_DATE.exec(text);
  if (match) {
    const [, month, day, h, m, s, year] = match;
    return utc(Number(year), month as string, Number(day), Number(h), Number(m), Number(s));
  }
  return undefined;
}

/**
 * `Retry-After` (delta-seconds or HTTP-date) as epoch ms. A date already past gives
 * `now`: the server asked for no wait, and keeping the field still records that it
 * sent one (metrics count it). A server clock ahead of ours can only make us wait
 * longer than needed, never shorter.
 */
function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header == null) return undefined;
  const text = header.trim();
  const seconds = parseCount(text);
  if (seconds !== undefined) return now + seconds * 1000;
  const date = parseHttpDate(text, now);
  return date === undefined ? undefined : Math.max(now, date);
}

export interface ParseRateLimitOptions {
  /**
   * Draft-8 members that do not bind this answer: limits it did not spend from (the
   * upstream's budget, on an answer the gateway's edge served from what it keeps).
   */
  ignore?: readonly string[];
}

/**
 * Normalises the rate-limit headers of one response into a `RateLimitInfo`.
 *
 * Reads, field by field, the first valid value among:
 * - draft-7 `RateLimit: limit=…, remaining=…, reset=<s>` and draft-8 `RateLimit: "id"; r=…; t=<s>`
 *   (the limit and window of draft-8 come from the `RateLimit-Policy` member of the same id);
 * - draft-6 `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset: <s>`;
 * - `RateLimit-Policy` (`1000;w=900` or `"id"; q=1000; w=900`) for the limit and window;
 * - `Retry-After: <s>` or an HTTP-date for `retryAt` (a past date gives `now`).
 *
 * Reset and Retry-After are relative, so they are made absolute with `now` (epoch ms,
 * the time the response arrived). Fields with no valid value are absent; this never throws.
 */
export function parseRateLimit(headers: Headers, now: number, options: ParseRateLimitOptions = {}): RateLimitInfo {
  const current = parseCurrent(headers.get('ratelimit'), options.ignore);
  const policies = parsePolicies(headers.get('ratelimit-policy'));

  // Older drafts allowed `RateLimit-Limit: 10, 10;w=1`; the first member is the limit.
  const limit = current.limit ?? parseCount(parseList(headers.get('ratelimit-limit'))[0]?.item);
  const remaining = current.remaining ?? parseCount(headers.get('ratelimit-remaining'));
  const resetSeconds = current.resetSeconds ?? parseCount(headers.get('ratelimit-reset'));

  // The policy that describes this limit: draft-8 names it; with draft-6/7 it is the
  // one with the same quota. Only when nothing identifies it is the first one taken,
  // so the window of one limiter is never paired with the counts of another.
  const policy =
    current.name !== undefined ? policies.find((p) => p.name === current.name) : limit !== undefined ? policies.find((p) => p.quota === limit) : policies[0];

  const info: RateLimitInfo = {};
  const resolvedLimit = limit ?? policy?.quota;
  if (resolvedLimit !== undefined) info.limit = resolvedLimit;
  if (remaining !== undefined) info.remaining = remaining;
  if (resetSeconds !== undefined) info.resetAt = now + resetSeconds * 1000;
  if (policy?.windowMs !== undefined) info.windowMs = policy.windowMs;
  const retryAt = parseRetryAfter(headers.get('retry-after'), now);
  if (retryAt !== undefined) info.retryAt = retryAt;
  return info;
}

/**
 * One named draft-8 member (`"name"; r=…; t=…` with its `RateLimit-Policy`), whether it
 * binds or not: for showing a limit of its own (the server's budget, this user's share).
 * Undefined when the answer does not state it.
 */
export function readRateLimitMember(headers: Headers, name: string, now: number): RateLimitInfo | undefined {
  const member = parseList(headers.get('ratelimit')).find((entry) => entry.item.startsWith('"') && unquote(entry.item) === name);
  if (!member) return undefined;
  const info: RateLimitInfo = {};
  const remaining = numberParam(member, 'r');
  const resetSeconds = numberParam(member, 't');
  if (remaining !== undefined) info.remaining = remaining;
  if (resetSeconds !== undefined) info.resetAt = now + resetSeconds * 1000;
  const policy = parsePolicies(headers.get('ratelimit-policy')).find((entry) => entry.name === name);
  if (policy?.quota !== undefined) info.limit = policy.quota;
  if (policy?.windowMs !== undefined) info.windowMs = policy.windowMs;
  return info;
}

export interface StretchOptions {
  /**
   * Requests this browser spends per interval of this poll, default 1: the poll's own,
   * plus what its other polls spend meanwhile, so that all of them together fit.
   */
  requestsPerPoll?: number;
  /**
   * Clients spending the same bucket, this browser included (≥ 1, default 1): everyone
   * behind one NAT or proxy shares one budget, so each takes its share of what is left.
   * See {@link BucketShare}.
   */
  sharers?: number;
  /** Share of the limit kept back for the user's own actions, 0..1, default 0.2. */
  reserveFraction?: number;
}

/**
 * The poll interval to use so that the budget left lasts until the window resets.
 *
 * The rule, with `remaining` and `resetAt` from the last response:
 * - reserve = max(5, ⌈reserveFraction · limit⌉) requests (5 when the limit is unknown),
 *   kept back for what the user does (sending messages, opening a chat);
 * - polls left = ⌊(remaining − reserve) / (requestsPerPoll · sharers)⌋;
 * - time left = resetAt − now, at most one window when the window is known (a reset
 *   further away than a window is a bad header, and must not stall polling for longer);
 * - with at least one poll left: max(intervalMs, ⌈time left / polls left⌉);
 * - with none left (only the reserve remains): max(intervalMs, time left).
 *
 * It never returns less than `intervalMs`, and returns `intervalMs` itself when there is
 * no info, no `remaining` or no `resetAt`, or the reset is already past (the numbers
 * describe a window that is over). `retryAt` is not considered here: the caller obeys
 * it before any guess. `remaining` is shared by everyone behind the same IP, so this is
 * recomputed on every response: other browsers' spending shows up as `remaining` falls.
 *
 * @throws RangeError when `intervalMs` or an option is out of range.
 */
export function stretchForBudget(intervalMs: number, info: RateLimitInfo | undefined, now: number, options: StretchOptions = {}): number {
  const { requestsPerPoll = 1, reserveFraction = DEFAULT_RESERVE_FRACTION, sharers = 1 } = options;
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(`stretchForBudget: intervalMs is out of range: ${String(intervalMs)}`);
  }
  if (!Number.isFinite(requestsPerPoll) || requestsPerPoll <= 0) {
    throw new RangeError(`stretchForBudget: requestsPerPoll is out of range: ${String(requestsPerPoll)}`);
  }
  if (!Number.isFinite(sharers) || sharers < 1) {
    throw new RangeError(`stretchForBudget: sharers is out of range: ${String(sharers)}`);
  }
  if (!Number.isFinite(reserveFraction) || reserveFraction < 0 || reserveFraction > 1) {
    throw new RangeError(`stretchForBudget: reserveFraction is out of range: ${String(reserveFraction)}`);
  }
  if (info?.remaining === undefined || info.resetAt === undefined || info.resetAt <= now) return intervalMs;

  const reserve = Math.max(MIN_RESERVE_REQUESTS, info.limit === undefined ? 0 : Math.ceil(reserveFraction * info.limit));
  const timeLeft = Math.min(info.resetAt - now, info.windowMs ?? Number.POSITIVE_INFINITY);
  const pollsLeft = Math.floor((info.remaining - reserve) / (requestsPerPoll * sharers));
  if (pollsLeft < 1) return Math.max(intervalMs, timeLeft);
  return Math.max(intervalMs, Math.ceil(timeLeft / pollsLeft));
}

/** One answer's view of the bucket, and how many of this browser's answers came before it. */
interface BucketSample {
  at: number;
  remaining: number;
  ownAnswers: number;
}

export interface BucketShareOptions {
  /** How far back the estimate looks, ms (default 60 s). */
  spanMs?: number;
  /** This browser's answers needed in the span before it estimates (default 4). */
  minOwnAnswers?: number;
}

/** Which limiter an answer's figures describe: its quota and window, as far as the answer says. */
function bucketKey(info: RateLimitInfo): string {
  return `${info.limit ?? '?'}/${info.windowMs ?? '?'}`;
}

/**
 * Estimates how many clients spend the same rate-limit bucket as this browser: everyone
 * behind one NAT or proxy shares one. Over the last minute, `RateLimit-Remaining` fell
 * by what all of them sent, and this browser knows what it sent itself (each of its
 * answers that carried `remaining`); the ratio is the number of sharers, itself
 * included. A rise of `remaining` means the window reset: the samples before it are
 * dropped. Answers arriving out of order only add noise, and the result is never
 * below 1.
 *
 * Answers may describe different limiters (the gateway's per-minute limit on one, the
 * server's 15-minute budget on another: whichever binds, and an error the gateway made
 * itself carries no server budget at all), so samples are compared only with samples of
 * the same limiter (same quota and window): a jump from one limiter's figure to
 * another's is not traffic.
 */
export class BucketShare {
  readonly #spanMs: number;
  readonly #minOwnAnswers: number;
  readonly #samples = new Map<string, BucketSample[]>();
  #ownAnswers = 0;

  constructor(options: BucketShareOptions = {}) {
    this.#spanMs = options.spanMs ?? 60_000;
    this.#minOwnAnswers = options.minOwnAnswers ?? 4;
  }

  /**
   * Takes one answer's rate-limit info (answers without `remaining` are ignored) and
   * returns the sharers estimated so far, or undefined while there is too little to go on.
   */
  observe(info: RateLimitInfo, now: number): number | undefined {
    if (info.remaining === undefined) return undefined;
    this.#ownAnswers += 1;
    const key = bucketKey(info);
    let samples = this.#samples.get(key) ?? [];
    const last = samples.at(-1);
    // More left than before: a new window began, and older samples describe the last one.
    if (last && info.remaining > last.remaining) samples = [];
    samples.push({ at: now, remaining: info.remaining, ownAnswers: this.#ownAnswers });
    samples = samples.filter((sample) => sample.at >= now - this.#spanMs);
    this.#samples.set(key, samples);
    const first = samples[0]!;
    const newest = samples.at(-1)!;
    // This browser's answers in the span, whichever limiter they showed: each spent from every bucket it passed.
    const own = newest.ownAnswers - first.ownAnswers;
    if (own < this.#minOwnAnswers) return undefined;
    return Math.max(1, (first.remaining - newest.remaining) / own);
  }
}
